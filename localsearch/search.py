"""`_search`, `_count` and `_msearch`: parse the request, collect hits over indices, shape the response."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from localsearch.dsl import QueryShardError, compile_query, single_key
from localsearch.index import IndexState, View
from localsearch.mappings import iter_leaf_values
from localsearch.pipelines import (
    ShardQueryError,
    check_page_in_results,
    phase_failure,
    shard_failure,
    unfused_hybrid_hits,
    validate_hybrid_request,
)
from sidecar.errors import IllegalArgument, ParsingError, SearchError
from sidecar.fusion import fuse
from sidecar.source_filter import SourceSpec, filter_source, parse_source_spec

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL_HITS = 10_000
SUPPORTED_KEYS = {"query", "from", "size", "sort", "_source", "track_total_hits", "search_after", "min_score",
                  "version", "seq_no_primary_term", "timeout", "ext", "stored_fields", "docvalue_fields", "fields",
                  "track_scores", "explain", "script_fields", "aggs", "aggregations", "highlight", "terminate_after",
                  "profile", "stats"}
KNOWN_UNSUPPORTED = {"post_filter", "rescore", "collapse", "suggest", "pit", "slice", "indices_boost",
                     "runtime_mappings", "search_pipeline"}


@dataclass
class SearchRequest:
    query: dict[str, Any]
    from_: int = 0
    size: int = 10
    sort: list[tuple[str, str, Any]] | None = None  # (field, order, missing)
    source: SourceSpec = True
    track_total_hits: bool | int = DEFAULT_TRACK_TOTAL_HITS
    total_as_int: bool = False
    search_after: list[Any] | None = None
    min_score: float | None = None
    version: bool = False
    seq_no_primary_term: bool = False
    track_scores: bool = False
    explain: bool = False
    value_fields: list[str] = field(default_factory=list)
    aggs: dict[str, Any] | None = None
    highlight: dict[str, Any] | None = None
    pipeline: str | None = None
    scroll: str | None = None


@dataclass
class Hit:
    state: IndexState
    view: View
    id: str
    score: float
    sort: list[Any] | None = None


# ---- request parsing ------------------------------------------------------------------------

def parse_request(body: Any, params: dict[str, str]) -> SearchRequest:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ParsingError("Expected [START_OBJECT] but found [START_ARRAY]" if isinstance(body, list)
                           else "request body must be a JSON object")
    for key in body:
        if key in KNOWN_UNSUPPORTED:
            raise IllegalArgument(f"[{key}] is not supported by localsearch (production clusters are OpenSearch)")
        if key not in SUPPORTED_KEYS:
            raise ParsingError(f"Unknown key for a START_OBJECT in [{key}].", extra={"line": 1, "col": 1})
    query = body.get("query", {"match_all": {}})
    if "q" in params and "query" not in body:
        query = {"query_string": {"query": params["q"], "default_operator": params.get("default_operator", "or")}}
    single_key(query)
    req = SearchRequest(query=query)
    req.from_ = _int(params.get("from", body.get("from", 0)), "from")
    req.size = _int(params.get("size", body.get("size", 10)), "size")
    if req.from_ < 0:
        raise IllegalArgument(f"[from] parameter cannot be negative but was [{req.from_}]")
    if req.size < 0:
        raise IllegalArgument(f"[size] parameter cannot be negative, found [{req.size}]")
    req.scroll = params.get("scroll")
    if req.scroll is None and req.from_ + req.size > MAX_RESULT_WINDOW:
        raise IllegalArgument(
            f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was "
            f"[{req.from_ + req.size}]. See the scroll api for a more efficient way to request large data sets. "
            "This limit can be set by changing the [index.max_result_window] index level setting.")
    req.sort = _parse_sort(params.get("sort") or body.get("sort"))
    req.source = parse_source_spec(params.get("_source", body.get("_source", True)),
                                   params.get("_source_includes"), params.get("_source_excludes"))
    if body.get("stored_fields") == "_none_" or params.get("stored_fields") == "_none_":
        req.source = False
    req.track_total_hits = _track_total(params.get("track_total_hits", body.get("track_total_hits")))
    req.total_as_int = params.get("rest_total_hits_as_int") in ("true", "")
    if req.total_as_int and req.track_total_hits is not True:
        req.track_total_hits = True
    req.search_after = body.get("search_after")
    if req.search_after is not None:
        if not isinstance(req.search_after, list) or not req.sort:
            raise IllegalArgument("[search_after] requires a [sort] with as many values as sort fields")
        if req.from_ > 0:
            raise IllegalArgument("[from] parameter must be set to 0 when [search_after] is used")
    req.min_score = body.get("min_score")
    req.version = _flag(params.get("version", body.get("version")))
    req.seq_no_primary_term = _flag(params.get("seq_no_primary_term", body.get("seq_no_primary_term")))
    req.track_scores = _flag(body.get("track_scores"))
    req.explain = _flag(params.get("explain", body.get("explain")))
    req.value_fields = _value_fields(body.get("docvalue_fields")) + _value_fields(body.get("fields"))
    if body.get("script_fields"):
        raise IllegalArgument("[script_fields] are not supported by localsearch (production clusters are OpenSearch)")
    req.aggs = body.get("aggs", body.get("aggregations"))
    req.highlight = body.get("highlight")
    req.pipeline = params.get("search_pipeline")
    return req


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ParsingError(f"[{name}] must be a number")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ParsingError(f"[{name}] failed to parse field: For input string: \"{value}\"") from exc


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "")


def _track_total(value: Any) -> bool | int:
    if value is None:
        return DEFAULT_TRACK_TOTAL_HITS
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    number = _int(value, "track_total_hits")
    if number < -1:
        raise IllegalArgument(f"[track_total_hits] parameter must be positive or equals to -1, got {number}")
    return True if number == -1 else number


def _parse_sort(value: Any) -> list[tuple[str, str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        entries: list[Any] = [v for v in value.split(",") if v]
        entries = [{e.split(":")[0]: e.split(":")[1]} if ":" in e else e for e in entries]
    elif isinstance(value, list):
        entries = value
    else:
        entries = [value]
    keys = []
    for entry in entries:
        if isinstance(entry, str):
            keys.append((entry, "desc" if entry == "_score" else "asc", "_last"))
        elif isinstance(entry, dict) and len(entry) == 1:
            name, spec = next(iter(entry.items()))
            if isinstance(spec, str):
                spec = {"order": spec}
            if not isinstance(spec, dict):
                raise ParsingError(f"[sort] malformed for field [{name}]")
            order = str(spec.get("order", "desc" if name == "_score" else "asc")).lower()
            if order not in ("asc", "desc"):
                raise IllegalArgument(f"Unknown SortOrder [{order}]")
            keys.append((name, order, spec.get("missing", "_last")))
        else:
            raise ParsingError("[sort] malformed, expected a field name or an object with one field")
    if [k[0] for k in keys] == ["_score"] and keys[0][1] == "desc":
        return None  # the default order
    return keys


def _value_fields(value: Any) -> list[str]:
    out = []
    for entry in value or []:
        name = entry.get("field") if isinstance(entry, dict) else entry
        if isinstance(name, str):
            out.append(name)
    return out


# ---- execution ------------------------------------------------------------------------------

def search(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> dict[str, Any]:
    started = time.monotonic()
    hits, total, max_score = collect(engine, targets, req, req.from_ + req.size)
    page = hits[req.from_:req.from_ + req.size]
    response = render(targets, req, page, total, max_score)
    if req.aggs:
        from localsearch.aggregations import aggregate
        response["aggregations"] = aggregate(req.aggs, matched_documents(engine, targets, req))
    response["took"] = int((time.monotonic() - started) * 1000)
    return response


def collect(engine: Any, targets: Sequence[IndexState], req: SearchRequest, needed: int
            ) -> tuple[list[Hit], int, float | None]:
    """Ordered hits (at least `needed` of them when that many match), the total and the max score."""
    kind, spec = single_key(req.query)
    views = [(t, t.view) for t in targets]
    if kind == "hybrid":
        return _hybrid(engine, views, spec, req)
    nodes = [(t, v, compile_query(req.query, v)) for t, v in views]
    full = bool(req.sort) or req.min_score is not None or req.scroll is not None
    hits: list[Hit] = []
    total = 0
    for state, view, node in nodes:
        if full:
            scored = node.all(view)
            total += len(scored)
            hits += [Hit(state, view, d, s) for d, s in scored.items()]
        else:
            top, count = node.top(view, max(needed, 1))
            total += count
            hits += [Hit(state, view, d, s) for d, s in top if d in view.docs]
    if req.min_score is not None:
        hits = [h for h in hits if h.score >= float(req.min_score)]
        total = len(hits)
    order = {t.name: i for i, t in enumerate(targets)}
    if req.sort:
        hits = _sort(hits, req.sort, order)
        if req.search_after is not None:
            hits = _after(hits, req.sort, req.search_after)
    else:
        hits.sort(key=lambda h: (-h.score, order[h.state.name], h.view.docs[h.id].ordinal))
    max_score = max((h.score for h in hits), default=None)
    return hits, total, max_score


def matched_documents(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> list[Hit]:
    """Every matching document (for aggregations), whatever the page."""
    kind, _ = single_key(req.query)
    if kind == "hybrid":
        hits, _, _ = collect(engine, targets, req, MAX_RESULT_WINDOW)
        return hits
    out = []
    for state in targets:
        view = state.view
        out += [Hit(state, view, d, s) for d, s in compile_query(req.query, view).all(view).items()]
    return out


def _hybrid(engine: Any, views: list[tuple[IndexState, View]], spec: Any, req: SearchRequest
            ) -> tuple[list[Hit], int, float | None]:
    """A top-level `hybrid` query: each sub-query's top `pagination_depth`, fused by the search pipeline."""
    first_index = views[0][0] if views else None
    try:
        hybrid = validate_hybrid_request(spec, req.from_, req.size)
    except ShardQueryError as exc:
        raise shard_failure(exc, index=first_index.name if first_index else "_all",
                            index_uuid=first_index.uuid if first_index else "_na_") from exc
    pipeline_id = req.pipeline or (first_index.setting("search.default_pipeline") if first_index else None)
    pipeline = None
    if pipeline_id and pipeline_id != "_none":
        pipeline = engine.pipelines.get(pipeline_id)
        if pipeline is None:
            raise IllegalArgument(f"Pipeline {pipeline_id} is not defined")
    lookup = dict(enumerate(views))
    legs: list[list[tuple[tuple[int, str], float]]] = []
    matched: set[tuple[int, str]] = set()
    for sub in hybrid.queries:
        clause = sub if hybrid.filter is None else {"bool": {"must": [sub], "filter": [hybrid.filter]}}
        leg: list[tuple[tuple[int, str], float]] = []
        for i, (_, view) in lookup.items():
            node = compile_query(clause, view)
            top, _ = node.top(view, hybrid.pagination_depth)
            leg += [((i, d), s) for d, s in top if d in view.docs]
            if _counts_needed(req):
                matched |= {(i, d) for d in node.all(view)}
        leg.sort(key=lambda kv: (-kv[1], _doc_order(lookup, kv[0])))
        legs.append(leg[:hybrid.pagination_depth])
    if pipeline is None or pipeline.fusion is None:
        # OpenSearch answers an unfused hybrid query with the shard's raw, marker-delimited list
        raw = unfused_hybrid_hits(legs)
        hits = [Hit(lookup[i][0], lookup[i][1], d, float(s)) for (i, d), s in raw]
        best = max((s for leg in legs for _, s in leg), default=None)
        return hits, len(matched) or len(hits), best
    fused = fuse(legs, pipeline.fusion, tie_key=lambda key: _doc_order(lookup, key))
    try:
        check_page_in_results(req.from_, len(fused))
    except SearchError as exc:
        raise phase_failure(exc) from exc
    hits = [Hit(lookup[i][0], lookup[i][1], d, float(s)) for (i, d), s in fused]
    max_score = max((h.score for h in hits), default=None)
    total = len(matched) if _counts_needed(req) else len(hits)
    return hits, max(total, len(hits)), max_score


def _doc_order(lookup: dict[int, tuple[IndexState, View]], key: tuple[int, str]) -> tuple[int, int]:
    index, doc_id = key
    return index, lookup[index][1].docs[doc_id].ordinal


def _counts_needed(req: SearchRequest) -> bool:
    return req.track_total_hits is not False


def _sort(hits: list[Hit], keys: list[tuple[str, str, Any]], order: dict[str, int]) -> list[Hit]:
    for hit in hits:
        hit.sort = [_sort_value(hit, name) for name, _, _ in keys]

    def compare(a: Hit, b: Hit) -> int:
        for i, (_, direction, missing) in enumerate(keys):
            result = _compare_values(a.sort[i], b.sort[i], direction, missing)
            if result:
                return result
        return (order[a.state.name] - order[b.state.name]) or (
            a.view.docs[a.id].ordinal - b.view.docs[b.id].ordinal)

    return sorted(hits, key=functools.cmp_to_key(compare))


def _compare_values(x: Any, y: Any, direction: str, missing: Any) -> int:
    if x is None or y is None:
        if x is None and y is None:
            return 0
        first = missing == "_first"
        return (-1 if first else 1) if x is None else (1 if first else -1)
    if x == y:
        return 0
    result = -1 if x < y else 1
    return result if direction == "asc" else -result


def _sort_value(hit: Hit, name: str) -> Any:
    if name == "_score":
        return hit.score
    if name == "_doc":
        return hit.view.docs[hit.id].ordinal
    if name == "_id":
        return hit.id
    spec = hit.view.mapping.fields.get(name)
    if spec is None:
        raise QueryShardError(f"No mapping found for [{name}] in order to sort on")
    if spec.type == "text":
        raise IllegalArgument(
            f"Text fields are not optimised for operations that require per-document field data like aggregations "
            f"and sorting, so these operations are disabled by default. Please use a keyword field instead. "
            f"Alternatively, set fielddata=true on [{name}] in order to load field data by uninverting the inverted "
            "index. Note that this can use significant memory.")
    values = field_values(hit.view, hit.id, name)
    if not values:
        return None
    if spec.type == "boolean":
        values = [int(v) for v in values]
    return min(values)


def field_values(view: View, doc_id: str, path: str) -> list[Any]:
    """A field's coerced values for one document (subfields read their parent's source)."""
    from localsearch.mappings import coerce_value
    spec = view.mapping.fields.get(path)
    if spec is None:
        return []
    parent = next((p for p, subs in view.mapping.subfields.items() if path in subs), path)
    source = view.docs[doc_id].source
    for leaf_path, values in iter_leaf_values(source):
        if leaf_path == parent:
            try:
                return [coerce_value(spec, v, doc_id) for v in values]
            except SearchError:
                return []
    return []


def _after(hits: list[Hit], keys: list[tuple[str, str, Any]], after: list[Any]) -> list[Hit]:
    if len(after) != len(keys):
        raise IllegalArgument(f"search_after has {len(after)} value(s) but sort has {len(keys)}.")

    def is_after(hit: Hit) -> bool:
        for i, (_, direction, missing) in enumerate(keys):
            result = _compare_values(hit.sort[i], after[i], direction, missing)
            if result:
                return result > 0
        return False

    return [h for h in hits if is_after(h)]


# ---- response -------------------------------------------------------------------------------

def render(targets: Sequence[IndexState], req: SearchRequest, page: list[Hit], total: int,
           max_score: float | None) -> dict[str, Any]:
    sorted_by_fields = bool(req.sort)
    hits_json = [render_hit(h, req, sorted_by_fields) for h in page]
    hits: dict[str, Any] = {}
    total_json = _total(total, req.track_total_hits)
    if total_json is not None:
        hits["total"] = total_json["value"] if req.total_as_int else total_json
    hits["max_score"] = None if sorted_by_fields and not req.track_scores else max_score
    hits["hits"] = hits_json
    n = len(targets)
    return {"took": 0, "timed_out": False,
            "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}, "hits": hits}


def _total(total: int, track: bool | int) -> dict[str, Any] | None:
    if track is False:
        return None
    if track is True or total <= track:
        return {"value": total, "relation": "eq"}
    return {"value": int(track), "relation": "gte"}


def render_hit(hit: Hit, req: SearchRequest, sorted_by_fields: bool) -> dict[str, Any]:
    stored = hit.view.docs[hit.id]
    out: dict[str, Any] = {"_index": hit.state.name, "_id": hit.id}
    if req.version:
        out["_version"] = stored.version
    if req.seq_no_primary_term:
        out["_seq_no"] = stored.seq_no
        out["_primary_term"] = 1
    out["_score"] = None if sorted_by_fields and not req.track_scores else hit.score
    source = filter_source(stored.source, req.source)
    if source is not None:
        out["_source"] = source
    if req.value_fields:
        values = {}
        for name in req.value_fields:
            for path in [p for p in hit.view.mapping.fields if p == name or (name.endswith("*") and
                                                                               p.startswith(name[:-1]))]:
                found = field_values(hit.view, hit.id, path)
                if found:
                    values[path] = [_format_value(hit.view, path, v) for v in found]
        if values:
            out["fields"] = values
    if req.highlight:
        from localsearch.highlight import highlight
        fragments = highlight(req.highlight, req.query, hit.view, stored.source)
        if fragments:
            out["highlight"] = fragments
    if sorted_by_fields and hit.sort is not None:
        out["sort"] = hit.sort
    if req.explain:
        out["_explanation"] = {"value": hit.score, "description": "localsearch score", "details": []}
    return out


def _format_value(view: View, path: str, value: Any) -> Any:
    spec = view.mapping.fields[path]
    if spec.type == "date":
        import datetime as dt
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value


# ---- count and msearch ----------------------------------------------------------------------

def count(engine: Any, targets: Sequence[IndexState], body: Any, params: dict[str, str]) -> dict[str, Any]:
    body = body or {}
    if not isinstance(body, dict) or set(body) - {"query"}:
        raise ParsingError("request does not support [" + ", ".join(sorted(set(body) - {"query"})) + "]"
                           if isinstance(body, dict) else "request body must be an object")
    req = parse_request({"query": body.get("query", {"match_all": {}})}, {k: v for k, v in params.items() if k == "q"})
    total = sum(len(compile_query(req.query, t.view).all(t.view)) for t in targets)
    n = len(targets)
    return {"count": total, "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}}


def parse_msearch(payload: bytes) -> list[tuple[dict[str, Any], Any]]:
    """Pairs of (header, body) from an `_msearch` NDJSON payload."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IllegalArgument(f"msearch body is not valid UTF-8: {exc}") from exc
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise SearchError("Validation Failed: 1: no requests added;", status=400,
                          error_type="action_request_validation_exception")
    if len(lines) % 2:
        raise IllegalArgument("The msearch request must be terminated by a newline [\\n]" if not text.endswith("\n")
                              else "msearch request is missing a body line")
    pairs = []
    for i in range(0, len(lines), 2):
        try:
            header = json.loads(lines[i])
            body = json.loads(lines[i + 1])
        except json.JSONDecodeError as exc:
            raise ParsingError(f"Failed to parse msearch line {i + 1 if 'header' in locals() else i}: {exc.msg}") from exc
        if not isinstance(header, dict):
            raise ParsingError(f"msearch header on line {i + 1} must be an object")
        pairs.append((header, body))
    return pairs

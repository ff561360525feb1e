"""`_search`, `_count` and `_msearch`: parse the request, collect hits over indices, shape the response."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from localsearch.dsl import compile_query, post_filtered, single_key
from localsearch.failures import (
    ShardError,
    ShardSearchException,
    Unsupported,
    all_shards_failed,
    json_token,
    shard_entry,
    unsupported,
)
from localsearch.index import IndexState, View
from localsearch.sorting import (
    SortKey,
    check_sort,
    compare,
    parse_search_after,
    parse_sort,
    sort_hits,
    sort_values,
    tracks_scores,
)
from localsearch.sorting import (
    field_values as field_values,  # re-exported: aggregations read values here
)
from searchcore.errors import IllegalArgument, ParsingError, SearchError
from searchcore.source_filter import SourceSpec, filter_source, parse_source_spec

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL_HITS = 10_000
SUPPORTED_KEYS = {"query", "from", "size", "sort", "_source", "track_total_hits", "search_after", "min_score",
                  "version", "seq_no_primary_term", "timeout", "ext", "stored_fields", "docvalue_fields", "fields",
                  "track_scores", "explain", "script_fields", "aggs", "aggregations", "highlight", "terminate_after",
                  "profile", "stats", "post_filter"}
KNOWN_UNSUPPORTED = {"rescore", "collapse", "suggest", "pit", "slice", "indices_boost",
                     "runtime_mappings", "search_pipeline"}


@dataclass
class SearchRequest:
    query: dict[str, Any]
    post_filter: dict[str, Any] | None = None  # narrows the hits and their total, not the aggregations
    from_: int = 0
    size: int = 10
    sort: list[SortKey] | None = None
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
    terminate_after: int | None = None
    no_stored_fields: bool = False  # stored_fields: _none_ (hits carry neither _id nor _source)
    ignore_unavailable: bool = False


@dataclass
class Hit:
    state: IndexState
    view: View
    id: str
    score: float
    sort: list[Any] | None = None


@dataclass
class Collected:
    """What the shards found: ordered hits, the total, and the shards that failed (a partial result)."""

    hits: list[Hit]
    total: int
    max_score: float | None
    failures: list[tuple[IndexState, ShardError]] = field(default_factory=list)
    terminated_early: bool = False


# ---- request parsing ------------------------------------------------------------------------

def parse_request(body: Any, params: dict[str, str]) -> SearchRequest:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ParsingError("Expected [START_OBJECT] but found [START_ARRAY]" if isinstance(body, list)
                           else "request body must be a JSON object")
    for key in body:
        if key in KNOWN_UNSUPPORTED:
            raise unsupported(f"[{key}]")
        if key not in SUPPORTED_KEYS:
            raise ParsingError(f"Unknown key for a START_OBJECT in [{key}].", extra={"line": 1, "col": 1})
    query = body.get("query", {"match_all": {}})
    if "q" in params and "query" not in body:
        query = {"query_string": {"query": params["q"], "default_operator": params.get("default_operator", "or")}}
    single_key(query)
    req = SearchRequest(query=query, post_filter=_post_filter(body))
    req.from_ = _int(params.get("from", body.get("from", 0)))
    req.size = _int(params.get("size", body.get("size", 10)))
    if req.from_ < 0:
        raise IllegalArgument(f"[from] parameter cannot be negative but was [{req.from_}]")
    if req.size < 0:
        raise IllegalArgument(f"[size] parameter cannot be negative, found [{req.size}]")
    req.scroll = params.get("scroll")
    req.sort = parse_sort(params["sort"], from_url=True) if "sort" in params else parse_sort(body.get("sort"))
    req.source = parse_source_spec(params.get("_source", body.get("_source", True)),
                                   params.get("_source_includes"), params.get("_source_excludes"))
    stored = params.get("stored_fields", body.get("stored_fields"))
    if stored == "_none_" or (isinstance(stored, list) and "_none_" in stored):
        req.source, req.no_stored_fields = False, True
    _parse_totals(req, body, params)
    req.search_after = body.get("search_after")
    if req.search_after is not None and not isinstance(req.search_after, list):
        raise ParsingError("[search_after] must be an array of values")
    req.min_score = body.get("min_score")
    req.version = _flag(params.get("version", body.get("version")))
    req.seq_no_primary_term = _flag(params.get("seq_no_primary_term", body.get("seq_no_primary_term")))
    req.track_scores = _flag(body.get("track_scores"))
    req.explain = _flag(params.get("explain", body.get("explain")))
    req.value_fields = _value_fields(body.get("docvalue_fields")) + _value_fields(body.get("fields"))
    if body.get("script_fields"):
        raise unsupported("[script_fields]")
    req.aggs = body.get("aggs", body.get("aggregations"))
    req.highlight = body.get("highlight")
    req.pipeline = params.get("search_pipeline")
    terminate_after = params.get("terminate_after", body.get("terminate_after"))
    if terminate_after is not None and _int(terminate_after) > 0:
        req.terminate_after = _int(terminate_after)
    req.ignore_unavailable = params.get("ignore_unavailable") == "true"
    check_syntax(req.query)
    if req.aggs is not None:
        from localsearch.aggregations import parse_aggs
        parse_aggs(req.aggs)
    return req


def _post_filter(body: dict[str, Any]) -> dict[str, Any] | None:
    if "post_filter" not in body:
        return None
    clause = body["post_filter"]
    if not isinstance(clause, dict):
        raise ParsingError(f"Unknown key for a {json_token(clause)} in [post_filter].", extra={"line": 1, "col": 1})
    single_key(clause)
    check_syntax(clause)
    return clause


def check_syntax(query: dict[str, Any]) -> None:
    """Parse errors the coordinating node finds before any index is touched (an unknown query, a malformed
    clause): compile against an empty mapping and let only those through."""
    kind, spec = single_key(query)
    clauses = spec.get("queries") if kind == "hybrid" and isinstance(spec, dict) else [query]
    for clause in clauses if isinstance(clauses, list) else []:
        try:
            compile_query(clause, _empty_view())
        except (ShardError, Unsupported):
            pass  # the shard's errors, and localsearch's own refusals, come when the query runs


@functools.cache
def _empty_view() -> View:
    from localsearch.mappings import Mapping
    return IndexState("_syntax_check", "_na_", 0, {"index": {}}, Mapping({})).view


def _parse_totals(req: SearchRequest, body: dict[str, Any], params: dict[str, str]) -> None:
    """track_total_hits and rest_total_hits_as_int, and the ways OpenSearch refuses them."""
    given = params.get("track_total_hits", body.get("track_total_hits"))
    req.track_total_hits = _track_total(given)
    req.total_as_int = params.get("rest_total_hits_as_int") in ("true", "")
    if req.total_as_int:
        if given is None:
            req.track_total_hits = True
        elif req.track_total_hits is not True and req.track_total_hits is not False:
            raise IllegalArgument("[rest_total_hits_as_int] cannot be used if the tracking of total hits is not "
                                  f"accurate, got {req.track_total_hits}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise SearchError(f'For input string: "{str(value).lower()}"', status=400,
                          error_type="number_format_exception")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SearchError(f'For input string: "{value}"', status=400, error_type="number_format_exception") from exc


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "")


def _track_total(value: Any) -> bool | int:
    if value is None:
        return DEFAULT_TRACK_TOTAL_HITS
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    number = _int(value)
    return True if number == -1 else number  # below -1: the shard refuses it (check_window)


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
    collected = collect(engine, targets, req, req.from_ + req.size)
    page = collected.hits[req.from_:req.from_ + req.size]
    response = render(targets, req, page, collected)
    if req.aggs:
        from localsearch.aggregations import aggregate
        try:
            response["aggregations"] = aggregate(req.aggs, matched_documents(engine, targets, req))
        except ShardError as exc:
            raise all_shards_failed([(t.name, t.uuid, exc) for t in targets]) from exc
    response["took"] = int((time.monotonic() - started) * 1000)
    return response


def collect(engine: Any, targets: Sequence[IndexState], req: SearchRequest, needed: int) -> Collected:
    """Ordered hits (at least `needed` of them when that many match), the total and the max score."""
    kind, _ = single_key(req.query)
    if kind == "hybrid":
        from localsearch.hybrid import collect_hybrid
        return collect_hybrid(engine, targets, req)
    out = Collected([], 0, None)
    for state in targets:
        try:
            hits, total, terminated = _collect_shard(state, state.view, req, needed)
        except ShardError as exc:
            out.failures.append((state, exc))
            continue
        out.hits += hits
        out.total += total
        out.terminated_early |= terminated
    raise_if_all_failed(targets, out.failures)
    order = {t.name: i for i, t in enumerate(targets)}
    if req.sort:
        out.hits = sort_hits(out.hits, lambda h: h.sort, req.sort, lambda h: _doc_order(h, order))
    else:
        out.hits.sort(key=lambda h: (-h.score, *_doc_order(h, order)))
    if req.size > 0 or req.scroll is not None:
        out.max_score = max((h.score for h in out.hits), default=None)
    return out


def raise_if_all_failed(targets: Sequence[IndexState], failures: list[tuple[IndexState, ShardError]]) -> None:
    if failures and len(failures) == len(targets):
        raise all_shards_failed([(s.name, s.uuid, e) for s, e in failures])


def _doc_order(hit: Hit, order: dict[str, int]) -> tuple[int, int]:
    return order[hit.state.name], hit.view.docs[hit.id].ordinal


def _collect_shard(state: IndexState, view: View, req: SearchRequest, needed: int
                   ) -> tuple[list[Hit], int, bool]:
    """One index's part of a search, with the checks its shard makes (they fail this index only)."""
    check_window(state, req)
    if req.search_after is not None:
        if not req.sort:
            raise ShardError("Sort must contain at least one field.")
        if req.from_ > 0:
            raise ShardSearchException("`from` parameter must be set to 0 when `search_after` is used.")
    if req.sort:
        check_sort(req.sort, view)
    node = compile_query(req.query, view)
    if req.post_filter is not None:  # before terminate_after: the shard counts only documents that pass it
        node = post_filtered(node, compile_query(req.post_filter, view))
    terminated = False
    if req.sort or req.min_score is not None or req.scroll is not None or req.terminate_after:
        scored = list(node.all(view).items())
        if req.terminate_after:  # the shard stops collecting after this many documents, in index order
            scored.sort(key=lambda kv: view.docs[kv[0]].ordinal)
            terminated = len(scored) > req.terminate_after
            scored = scored[:req.terminate_after]
        total = len(scored)
    else:
        top, total = node.top(view, max(needed, 1))
        scored = [(d, s) for d, s in top if d in view.docs]
    hits = [Hit(state, view, d, s) for d, s in scored]
    if req.min_score is not None:
        hits = [h for h in hits if h.score >= float(req.min_score)]
        total = len(hits)
    if req.sort:
        for hit in hits:
            hit.sort = sort_values(req.sort, view, hit.id, hit.score)
        if req.search_after is not None:
            after = parse_search_after(req.search_after, req.sort, view)
            hits = [h for h in hits if compare(h.sort, after, req.sort) > 0]
    return hits, total, terminated


def check_window(state: IndexState, req: SearchRequest) -> None:
    """index.max_result_window: from + size for a page, size for a scroll batch (and a track_total_hits the
    shard's collector cannot take)."""
    track = req.track_total_hits
    if not isinstance(track, bool) and track < 0:
        raise ShardError(f"totalHitsThreshold must be >= 0, got {track}")
    window = int(state.setting("max_result_window", MAX_RESULT_WINDOW))
    if req.scroll is not None:
        if req.size > window:
            raise ShardError(
                f"Batch size is too large, size must be less than or equal to: [{window}] but was [{req.size}]. "
                "Scroll batch sizes cost as much memory as result windows so they are controlled by the "
                "[index.max_result_window] index level setting.")
    elif req.from_ + req.size > window:
        raise ShardError(
            f"Result window is too large, from + size must be less than or equal to: [{window}] but was "
            f"[{req.from_ + req.size}]. See the scroll api for a more efficient way to request large data sets. "
            "This limit can be set by changing the [index.max_result_window] index level setting.")


def matched_documents(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> list[Hit]:
    """Every matching document (for aggregations), whatever the page."""
    kind, _ = single_key(req.query)
    if kind == "hybrid":
        from localsearch.hybrid import hybrid_matches
        return hybrid_matches(targets, req)
    out = []
    for state in targets:
        view = state.view
        out += [Hit(state, view, d, s) for d, s in compile_query(req.query, view).all(view).items()]
    if req.min_score is not None:  # documents below min_score are not collected, by the aggregations either
        out = [h for h in out if h.score >= float(req.min_score)]
    return out


def sort_hit_list(hits: list[Hit], keys: list[SortKey], order: dict[str, int]) -> list[Hit]:
    """Hits in the order of `keys` (top_hits aggregations), their sort values set."""
    for hit in hits:
        hit.sort = sort_values(keys, hit.view, hit.id, hit.score)
    return sort_hits(hits, lambda h: h.sort, keys, lambda h: _doc_order(h, order))


# ---- response -------------------------------------------------------------------------------

def render(targets: Sequence[IndexState], req: SearchRequest, page: list[Hit], collected: Collected
           ) -> dict[str, Any]:
    sorted_by_fields = bool(req.sort)
    hits: dict[str, Any] = {}
    total_json = _total(collected.total, req.track_total_hits)
    if req.total_as_int:
        hits["total"] = total_json["value"] if total_json is not None else -1
    elif total_json is not None:
        hits["total"] = total_json
    # with a sort, hits show scores when it sorts on _score, max_score only when _score leads it (descending)
    leads_with_score = bool(req.sort) and req.sort[0].field == "_score" and req.sort[0].order == "desc"
    hits["max_score"] = collected.max_score if not sorted_by_fields or req.track_scores or leads_with_score \
        else None
    hits["hits"] = [render_hit(h, req, sorted_by_fields) for h in page]
    response: dict[str, Any] = {"took": 0, "timed_out": False}
    if collected.terminated_early:
        response["terminated_early"] = True
    response["_shards"] = shards_header(len(targets), collected.failures)
    response["hits"] = hits
    return response


def shards_header(total: int, failures: list[tuple[IndexState, ShardError]]) -> dict[str, Any]:
    header: dict[str, Any] = {"total": total, "successful": total - len(failures), "skipped": 0,
                              "failed": len(failures)}
    if failures:
        header["failures"] = [shard_entry(e, s.name, s.uuid) for s, e in failures]
    return header


def _total(total: int, track: bool | int) -> dict[str, Any] | None:
    if track is False:
        return None
    if track is True or total <= track:
        return {"value": total, "relation": "eq"}
    return {"value": int(track), "relation": "gte"}


def render_hit(hit: Hit, req: SearchRequest, sorted_by_fields: bool) -> dict[str, Any]:
    stored = hit.view.docs[hit.id]
    out: dict[str, Any] = {"_index": hit.state.name}
    if not req.no_stored_fields:
        out["_id"] = hit.id
    if req.version:
        out["_version"] = stored.version
    if req.seq_no_primary_term:
        out["_seq_no"] = stored.seq_no
        out["_primary_term"] = 1
    shows_score = not sorted_by_fields or req.track_scores or tracks_scores(req.sort)
    out["_score"] = hit.score if shows_score else None
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
    req = parse_request({k: v for k, v in body.items() if k == "query"},
                        {k: v for k, v in params.items() if k in ("q", "default_operator")})
    total = 0
    failures: list[tuple[IndexState, ShardError]] = []
    for state in targets:
        try:
            total += len(compile_query(req.query, state.view).all(state.view))
        except ShardError as exc:
            failures.append((state, exc))
    raise_if_all_failed(targets, failures)
    return {"count": total, "_shards": shards_header(len(targets), failures)}

"""Parse a `_search` body and URL parameters into a SearchRequest, and the window check each shard makes."""

from __future__ import annotations

import functools
import re
from typing import Any

from localsearch.aggregations.parse import parse_aggs
from localsearch.dsl import compile_query, single_key
from localsearch.failures import (
    ShardError,
    Unsupported,
    json_token,
    unsupported,
)
from localsearch.hits import DEFAULT_TRACK_TOTAL_HITS, SearchRequest

# Collected, Hit and raise_if_all_failed are re-exported: hybrid.py imports them from here
from localsearch.hits import Collected as Collected
from localsearch.hits import Hit as Hit
from localsearch.hits import raise_if_all_failed as raise_if_all_failed
from localsearch.index import IndexState, View
from localsearch.mappings import Mapping
from localsearch.sorting import parse_sort
from searchcore.bodies import replace_lone_surrogates
from searchcore.errors import IllegalArgument, ParsingError, SearchError
from searchcore.source_filter import parse_source_spec

MAX_RESULT_WINDOW = 10_000
SUPPORTED_KEYS = {"query", "from", "size", "sort", "_source", "track_total_hits", "search_after", "min_score",
                  "version", "seq_no_primary_term", "timeout", "ext", "stored_fields", "docvalue_fields", "fields",
                  "track_scores", "explain", "script_fields", "aggs", "aggregations", "highlight", "terminate_after",
                  "profile", "stats", "post_filter"}
KNOWN_UNSUPPORTED = {"rescore", "collapse", "suggest", "pit", "slice", "indices_boost",
                     "runtime_mappings", "search_pipeline"}


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
    query = replace_lone_surrogates(body.get("query", {"match_all": {}}))   # terms as Lucene makes them
    if "q" in params and "query" not in body:
        query = {"query_string": {"query": params["q"], "default_operator": params.get("default_operator", "or")}}
    single_key(query)
    req = SearchRequest(query=query, post_filter=replace_lone_surrogates(_post_filter(body)))
    req.from_ = _param_int("from", params["from"]) if "from" in params else _int(body.get("from", 0))
    req.size = _param_int("size", params["size"]) if "size" in params else _int(body.get("size", 10))
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
    terminate_after = (_param_int("terminate_after", params["terminate_after"]) if "terminate_after" in params
                       else body.get("terminate_after"))
    if terminate_after is not None and _int(terminate_after) > 0:
        req.terminate_after = _int(terminate_after)
    req.ignore_unavailable = params.get("ignore_unavailable") == "true"
    check_syntax(req.query)
    if req.aggs is not None:
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
    return IndexState("_syntax_check", "_na_", 0, {"index": {}}, Mapping({})).view


def _parse_totals(req: SearchRequest, body: dict[str, Any], params: dict[str, str]) -> None:
    """track_total_hits and rest_total_hits_as_int, and the ways OpenSearch refuses them."""
    given = params.get("track_total_hits", body.get("track_total_hits"))
    if "track_total_hits" in params and given.lower() not in ("true", "false"):
        given = _param_int("track_total_hits", given)
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


_JAVA_INT = re.compile(r"[+-]?[0-9]+")


def _param_int(name: str, value: str) -> int:
    """A URL parameter read as a Java int, refused in the node's words (Integer.parseInt: no exponent, 32 bits)."""
    number = int(value) if _JAVA_INT.fullmatch(value) else None
    if number is None or not -(2**31) <= number < 2**31:
        raise IllegalArgument(f"Failed to parse int parameter [{name}] with value [{value}]")
    return number


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

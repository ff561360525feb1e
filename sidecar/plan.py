"""Decide whether a `_search` body is reranked and extract what stage 1 and the response need.

Design section 3. ``plan_search`` answers a ``SearchPlan`` (rerank it) or a ``PassThrough`` (send it
to the cluster as is, minus ``ext.rerank``). Choices where the design is silent:

- Query text: the text of every full-text clause in scoring context (top level, ``bool.must`` /
  ``bool.should`` at any depth, ``function_score``/``script_score``/``boosting``/``dis_max``
  wrappers), in the order written, identical texts once, joined with a space. In filter context
  only field-less free text counts (``multi_match``, ``query_string``, ... : Dashboards' DQL) and it
  stays a filter. ``query_string``/``simple_query_string`` (and the ``q`` parameter) are reduced
  to their words. Numbers are not text. ``ext.rerank.query_text`` wins.
- Filters (the k-NN leg's filter) are the query's match set with the scoring text lifted, see
  ``sidecar.query_text.knn_filters``; a ``post_filter`` joins them and is also applied to the
  lexical leg (score-neutral), so both legs return only hits the client would see.
- Not reranked: ``sort`` on anything but ``_score`` descending (body or ``?sort=``), ``scroll``,
  ``pit``, ``search_after``, ``rescore``, ``collapse``, ``min_score`` (a threshold in first-stage
  score space), a ``knn``/``hybrid``/``neural`` query anywhere, ``size: 0``, no query text, and a body
  ``from``/``size`` that is not an integer a Java int holds (``"ten"``, ``1.5``, ``true``, ``1e400``, 100
  digits): the cluster coerces it or refuses it with its own error type, as it would without the sidecar.
- ``X-Rerank`` header values ``off``, ``false``, ``0`` and ``no`` opt out (any case).
- Only what the sidecar itself interprets is validated; a pass-through body is the cluster's to judge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from searchcore.errors import IllegalArgument, ParsingError
from searchcore.fusion import check_rank_constant, check_weights
from searchcore.source_filter import parse_source_spec
from sidecar.query_text import FieldCheck, has_vector_query, knn_filters, query_texts
from sidecar.request_form import read_as_the_cluster_reads
from sidecar.settings import FUSION_COMBINATIONS, FUSIONS, RETRIEVAL_MODES, SCORE_MODES, Limits

# Pass-through reasons: a bounded set, used as a metrics label. NO_PROFILE is the caller's to give.
OPT_OUT, NO_PROFILE, NO_QUERY_TEXT, SORTED = "opt-out", "no-profile", "no-query-text", "sorted"
SCROLL, PIT, SEARCH_AFTER, SIZE_ZERO = "scroll", "pit", "search_after", "size-zero"
RESCORE, COLLAPSE, MIN_SCORE, VECTOR_QUERY = "rescore", "collapse", "min-score", "vector-query"
RESULT_WINDOW, CLUSTER_JUDGES = "result-window", "cluster-judges"
REASONS = (OPT_OUT, NO_PROFILE, NO_QUERY_TEXT, SORTED, SCROLL, PIT, SEARCH_AFTER, SIZE_ZERO,
           RESCORE, COLLAPSE, MIN_SCORE, VECTOR_QUERY, RESULT_WINDOW, CLUSTER_JUDGES)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1   # a Java int: what the cluster reads `from` and `size` into
# OpenSearch's default index.max_result_window: a deeper page is the cluster's to answer (a 400, or the page
# itself where an index allows more), as it would be without the sidecar
MAX_RESULT_WINDOW = 10_000
_BODY_REASONS = (("pit", PIT), ("search_after", SEARCH_AFTER), ("rescore", RESCORE),
                 ("collapse", COLLAPSE), ("min_score", MIN_SCORE))

# Body keys whose effect the response keeps from the cluster (hit decorations, aggregations, totals).
PASSTHROUGH_KEYS = ("aggs", "aggregations", "highlight", "fields", "docvalue_fields", "script_fields",
                    "stored_fields", "track_total_hits", "version", "seq_no_primary_term", "explain",
                    "suggest", "profile", "timeout", "terminate_after", "track_scores")
_OPT_OUT_VALUES = ("off", "false", "0", "no")
_SOURCE_PARAMS = ("_source", "_source_includes", "_source_excludes")
# the body keys the sidecar reads, serves or hands to stage 1 (any other is the cluster's to answer)
_KNOWN_KEYS = frozenset({"query", "from", "size", "sort", "_source", "post_filter", "ext", "stats",
                         *PASSTHROUGH_KEYS, *(key for key, _ in _BODY_REASONS)})
_Q_OPTIONS = (("df", "default_field"), ("analyzer", "analyzer"), ("default_operator", "default_operator"),
              ("analyze_wildcard", "analyze_wildcard"), ("lenient", "lenient"))


@dataclass(frozen=True)
class RerankOverrides:
    """Per-request settings from ``body["ext"]["rerank"]``; None means "the profile's"."""

    enabled: bool | None = None
    window: int | None = None
    fusion: str | None = None  # the normalization: min_max | l2 | z_score | rrf
    fusion_combination: str | None = None  # arithmetic_mean | geometric_mean | harmonic_mean | rrf
    fusion_weights: tuple[float, ...] | None = None  # lexical, k-NN
    fusion_rank_constant: int | None = None  # rrf's k
    score_mode: str | None = None  # sigmoid | raw | minmax | blend
    explain: bool | None = None
    query_text: str | None = None
    budget_ms: float | None = None
    retrieval: str | None = None  # auto | server | client


@dataclass(frozen=True)
class SearchPlan:
    query_text: str  # what is embedded and given to the cross-encoder
    lexical_query: dict[str, Any]  # the BM25 leg: the client's query (filters included), with its post_filter
    client_query: dict[str, Any]  # the client's query as written (what aggregations run on)
    post_filter: dict[str, Any] | None  # the client's post_filter
    filters: list[dict[str, Any]]  # the k-NN leg's filter is {"bool": {"filter": filters}}
    from_: int
    size: int
    window: int
    overrides: RerankOverrides
    source: Any  # normalized _source spec (searchcore.source_filter.SourceSpec): params win over body
    upstream_body: dict[str, Any]  # the client's body without ext.rerank: aggregations, pass-through
    passthrough_keys: dict[str, Any]  # PASSTHROUGH_KEYS present in the body, with their values
    explain: bool = False  # body/param `explain` or ext.rerank.explain: hits carry `_rerank`


@dataclass(frozen=True)
class PassThrough:
    reason: str  # one of REASONS
    body: Any  # what to forward: ext.rerank stripped; the very same object when nothing changed
    body_changed: bool = False  # False: the client's raw bytes can be forwarded untouched

    @classmethod
    def of(cls, reason: str, body: Any) -> PassThrough:
        stripped = strip_rerank_ext(body)
        return cls(reason, stripped, stripped is not body)


def strip_rerank_ext(body: Any) -> Any:
    """The body without ``ext.rerank`` (and without ``ext`` if that empties it); the input is not
    modified, and is returned itself when it holds no ``ext.rerank``."""
    ext = body.get("ext") if isinstance(body, dict) else None
    if not isinstance(ext, dict) or "rerank" not in ext:
        return body
    stripped = dict(body)  # keeps key order
    rest = {key: value for key, value in ext.items() if key != "rerank"}
    if rest:
        stripped["ext"] = rest
    else:
        del stripped["ext"]
    return stripped


def plan_search(body: dict[str, Any] | None, params: Mapping[str, str], headers: Mapping[str, str], *,
                profile_window: int, max_window: int, limits: Limits | None = None,
                field_is_mapped: FieldCheck = None,
                extra_body_keys: frozenset[str] = frozenset()) -> SearchPlan | PassThrough:
    """Plan one search of an index that matches a profile (the caller answers NO_PROFILE itself).

    Raises ``ParsingError``/``IllegalArgument`` for what the sidecar interprets and finds wrong:
    bodies nested deeper than ``limits.max_nesting_depth``, bad ``ext.rerank``, negative ``from``/``size`` (and
    URL parameters that are no integer),
    query text that is blank (``ext.rerank.query_text``) or longer than ``limits.max_query_chars``.
    ``field_is_mapped`` (from the index's mapping) leaves out the text of clauses on fields the index lacks.
    ``extra_body_keys`` are body keys the caller knows the cluster reads (stage 1 forwards them, see HIT_KEYS).
    """
    limits = limits or Limits()
    if body is not None and not isinstance(body, dict):
        raise ParsingError(f"Expected [START_OBJECT] but found [{_json_token(body)}]")
    check_depth(body, limits.max_nesting_depth)
    content = body or {}
    overrides = parse_overrides(_ext_rerank(content), max_window=min(max_window, limits.max_window),
                                max_query_chars=limits.max_query_chars)
    reason = _early_reason(content, params, headers, overrides)
    if reason is not None:
        return PassThrough.of(reason, body)
    if not read_as_the_cluster_reads(content, params, _KNOWN_KEYS | extra_body_keys):
        return PassThrough.of(CLUSTER_JUDGES, body)
    try:
        from_, size = _int_setting("from", content, params, 0), _int_setting("size", content, params, 10)
    except _ClusterJudges:
        return PassThrough.of(CLUSTER_JUDGES, body)
    query = _lexical_query(content, params)
    if has_vector_query(query):
        return PassThrough.of(VECTOR_QUERY, body)
    if size == 0:
        return PassThrough.of(SIZE_ZERO, body)
    if from_ + size > MAX_RESULT_WINDOW:
        return PassThrough.of(RESULT_WINDOW, body)
    text = valid_text(overrides.query_text or " ".join(query_texts(query, field_is_mapped)))
    if not text:
        return PassThrough.of(NO_QUERY_TEXT, body)
    _check_text_length(text, limits.max_query_chars)
    filters = knn_filters(query)
    client_query = query
    post_filter = content.get("post_filter")
    if not (isinstance(post_filter, dict) and post_filter):
        post_filter = None
    if post_filter is not None:
        filters.append(post_filter)
        query = {"bool": {"must": [query], "filter": [post_filter]}}
    return SearchPlan(
        query_text=text, lexical_query=query, client_query=client_query, post_filter=post_filter,
        filters=filters, from_=from_, size=size,
        window=overrides.window if overrides.window is not None else profile_window,
        overrides=overrides, source=_source_spec(content, params),
        upstream_body=strip_rerank_ext(content),
        passthrough_keys={key: content[key] for key in PASSTHROUGH_KEYS if key in content},
        explain=bool(overrides.explain) or content.get("explain") is True
        or str(params.get("explain", "")).lower() == "true")


def valid_text(text: str) -> str:
    """The text with lone surrogates (valid JSON escapes, not characters) replaced by U+FFFD, as the
    model's tokenizer and every UTF-8 encoder need."""
    if not text or text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def check_depth(body: Any, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` (the body object is level 1), without recursing."""
    stack = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            raise ParsingError(f"The nesting depth of the request body exceeds the maximum allowed "
                               f"[{limit}]")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def parse_overrides(raw: Any, *, max_window: int, max_query_chars: int) -> RerankOverrides:
    """Validate ``ext.rerank``: known keys, types and ranges, with reasons that name the key."""
    if raw is None:
        return RerankOverrides()
    if not isinstance(raw, dict):
        raise IllegalArgument(f"[ext.rerank] must be an object, got [{_shown(raw)}]")
    known = RerankOverrides.__dataclass_fields__
    unknown = [key for key in raw if key not in known]
    if unknown:
        raise IllegalArgument(f"[ext.rerank] unknown field{'s' if len(unknown) > 1 else ''} "
                              f"[{', '.join(unknown)}], expected any of [{', '.join(known)}]")
    values = {key: value for key, value in raw.items() if value is not None}
    for key in ("enabled", "explain"):
        if key in values and not isinstance(values[key], bool):
            raise IllegalArgument(f"[ext.rerank.{key}] must be true or false, got [{_shown(values[key])}]")
    for key, allowed in (("fusion", FUSIONS), ("fusion_combination", FUSION_COMBINATIONS), ("score_mode", SCORE_MODES),
                         ("retrieval", RETRIEVAL_MODES)):
        if key in values and values[key] not in allowed:
            raise IllegalArgument(f"[ext.rerank.{key}] must be one of [{', '.join(allowed)}], "
                                  f"got [{_shown(values[key])}]")
    window = values.get("window", 1)
    if not _is_int(window) or not 1 <= window <= max_window:
        raise IllegalArgument(f"[ext.rerank.window] must be between 1 and {max_window}, "
                              f"got {_shown(window, quote=True)}")
    budget = values.get("budget_ms", 1.0)
    if not _is_number(budget) or not math.isfinite(budget) or budget <= 0:
        raise IllegalArgument(f"[ext.rerank.budget_ms] must be a positive number of milliseconds, "
                              f"got {_shown(budget, quote=True)}")
    if "query_text" in values:
        text = values["query_text"]
        if not isinstance(text, str) or not text.strip():
            raise IllegalArgument(f"[ext.rerank.query_text] must be a non-empty string, got [{_shown(text)}]")
        _check_text_length(text, max_query_chars)
        values["query_text"] = " ".join(text.split())
    if "budget_ms" in values:
        values["budget_ms"] = float(values["budget_ms"])
    _fusion_numbers(values)
    return RerankOverrides(**values)


def _fusion_numbers(values: dict[str, Any]) -> None:
    """``fusion_weights`` and ``fusion_rank_constant``, checked as a search pipeline checks them."""
    weights = values.get("fusion_weights")
    if weights is not None:
        if not isinstance(weights, list) or not all(_is_number(w) for w in weights):
            raise IllegalArgument(f"[ext.rerank.fusion_weights] must be a list of numbers, got [{_shown(weights)}]")
        values["fusion_weights"] = tuple(float(w) for w in weights)
    rank_constant = values.get("fusion_rank_constant")
    if rank_constant is not None and not _is_int(rank_constant):
        raise IllegalArgument(f"[ext.rerank.fusion_rank_constant] must be an integer, "
                              f"got {_shown(rank_constant, quote=True)}")
    try:
        if weights is not None:
            check_weights(values["fusion_weights"])
        if rank_constant is not None:
            check_rank_constant(rank_constant)
    except IllegalArgument as exc:
        key = "fusion_weights" if "weights" in exc.reason else "fusion_rank_constant"
        raise IllegalArgument(f"[ext.rerank.{key}] {exc.reason}") from exc


def _ext_rerank(body: dict[str, Any]) -> Any:
    ext = body.get("ext")
    return ext.get("rerank") if isinstance(ext, dict) else None  # a malformed ext is the cluster's


def _early_reason(body: dict[str, Any], params: Mapping[str, str], headers: Mapping[str, str],
                  overrides: RerankOverrides) -> str | None:
    """Reasons that need no query analysis: opt-out, then paging and ordering the window cannot serve."""
    header = next((value for name, value in headers.items() if name.lower() == "x-rerank"), None)
    if overrides.enabled is False or (header is not None and header.strip().lower() in _OPT_OUT_VALUES):
        return OPT_OUT
    if "scroll" in params:
        return SCROLL
    for key, reason in _BODY_REASONS:
        if body.get(key) is not None:
            return reason
    if not _sorted_by_score(body.get("sort"), params.get("sort")):
        return SORTED
    return None


def _sorted_by_score(body_sort: Any, param_sort: str | None) -> bool:
    """True when no sort is given or every sort entry is `_score` descending (its default)."""
    if param_sort:  # ?sort=_score:desc,field:asc
        for entry in filter(None, param_sort.split(",")):
            field, _, order = entry.partition(":")
            if field != "_score" or order.lower() not in ("", "desc"):
                return False
    entries = body_sort if isinstance(body_sort, list) else [] if body_sort is None else [body_sort]
    for entry in entries:
        if isinstance(entry, dict) and len(entry) == 1 and "_score" in entry:
            order = entry["_score"]
            order = order.get("order", "desc") if isinstance(order, dict) else order
        else:
            order = "desc" if entry == "_score" else None
        if not isinstance(order, str) or order.lower() != "desc":
            return False
    return True


def _int_setting(name: str, body: dict[str, Any], params: Mapping[str, str], default: int) -> int:
    """`from`/`size`: the URL parameter wins over the body, as in OpenSearch."""
    if name in params:
        try:
            value = int(params[name])
        except ValueError:
            raise IllegalArgument(f"Failed to parse int parameter [{name}] with value "
                                  f"[{params[name]}]") from None
    elif body.get(name) is not None:
        raw = body[name]
        if _is_int(raw) or isinstance(raw, float) and raw.is_integer() or _is_int_string(raw):
            value = int(raw)  # OpenSearch coerces "10" and 10.0
        else:   # "ten", 1.5, true, 1e400: the cluster coerces or refuses it (Jackson's and Java's error types)
            raise _ClusterJudges
        if not INT_MIN <= value <= INT_MAX:   # the cluster's input_coercion_exception, with the client's digits
            raise _ClusterJudges
    else:
        return default
    if value < 0:
        raise IllegalArgument(f"[{name}] parameter cannot be negative, found [{value}]")
    return value


class _ClusterJudges(Exception):
    """A body value the sidecar needs but the cluster reads its own way: the request passes through."""


def _lexical_query(body: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The query the cluster would run: the `q` parameter (a query_string) wins over the body's."""
    if params.get("q"):
        options = {key: _param_value(params[name]) for name, key in _Q_OPTIONS if name in params}
        return {"query_string": {"query": params["q"], **options}}
    query = body.get("query")
    return query if isinstance(query, dict) and query else {"match_all": {}}


def _source_spec(body: dict[str, Any], params: Mapping[str, str]) -> Any:
    if any(name in params for name in _SOURCE_PARAMS):
        return parse_source_spec(params.get("_source"), params.get("_source_includes"),
                                 params.get("_source_excludes"))
    return parse_source_spec(body.get("_source"))


def _check_text_length(text: str, limit: int) -> None:
    if len(text) > limit:
        raise IllegalArgument(f"query text is too long: {len(text)} characters, the maximum is {limit}")


def _param_value(value: str) -> Any:
    return {"true": True, "false": False}.get(value.lower(), value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip().removeprefix("-").isdigit()


def _shown(value: Any, *, quote: bool = False) -> str:
    """A client's value for an error reason, short; strings quoted where a number was expected."""
    text = value if isinstance(value, str) and not quote else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_token(value: Any) -> str:
    return "START_ARRAY" if isinstance(value, list) else "VALUE_STRING" if isinstance(value, str) \
        else "VALUE_NUMBER" if _is_number(value) else "VALUE_BOOLEAN" if isinstance(value, bool) else "VALUE_NULL"

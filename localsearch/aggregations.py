"""Aggregations over the documents a search matched, in OpenSearch's request and response shapes.

Supported: bucket `terms`, `date_histogram`, `histogram`, `range`, `date_range`, `filter`,
`filters`, `missing`; metric `min`, `max`, `avg`, `sum`, `value_count`, `cardinality`, `stats`,
`extended_stats`, `top_hits`; sub-aggregations inside buckets. Every other OpenSearch type is
refused by name. Values are exact (one shard): `doc_count_error_upper_bound` is 0, or -1 where OpenSearch
reports no bound (the shard cut its list and the order is not by count or key).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localsearch.dsl import compile_query
from localsearch.failures import ShardError, unsupported
from localsearch.index import View
from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES, parse_date_millis
from localsearch.search import Hit, field_values
from localsearch.sorting import parse_sort
from searchcore.errors import IllegalArgument, ParsingError, SearchError

MAX_BUCKETS = 65_535  # OpenSearch's search.max_buckets default
DEFAULT_DATE_FORMAT = "strict_date_optional_time"
_VALID_NAME = re.compile(r"[^\[\]>]+")
METRICS = {"min", "max", "avg", "sum", "value_count", "cardinality", "stats", "extended_stats", "top_hits"}
BUCKETS = {"terms", "date_histogram", "histogram", "range", "date_range", "filter", "filters", "missing"}
# every type OpenSearch (with its bundled modules) knows: the rest are "Unknown aggregation type"
KNOWN_TYPES = METRICS | BUCKETS | {
    "weighted_avg", "percentiles", "percentile_ranks", "median_absolute_deviation", "geo_bounds",
    "geo_centroid", "scripted_metric", "matrix_stats", "global", "adjacency_matrix", "sampler",
    "diversified_sampler", "rare_terms", "significant_terms", "significant_text", "ip_range",
    "auto_date_histogram", "variable_width_histogram", "geo_distance", "geohash_grid", "geotile_grid",
    "nested", "reverse_nested", "composite", "children", "parent", "multi_terms", "avg_bucket",
    "sum_bucket", "min_bucket", "max_bucket", "stats_bucket", "extended_stats_bucket",
    "percentiles_bucket", "derivative", "cumulative_sum", "bucket_script", "bucket_selector",
    "bucket_sort", "serial_diff", "moving_avg", "moving_fn"}
FIELDDATA = ("Text fields are not optimised for operations that require per-document field data like aggregations "
             "and sorting, so these operations are disabled by default. Please use a keyword field instead. "
             "Alternatively, set fielddata=true on [{}] in order to load field data by uninverting the inverted "
             "index. Note that this can use significant memory.")
_SOURCE = {"field", "missing", "format", "script", "value_type"}
PARAMS = {
    "terms": _SOURCE | {"size", "shard_size", "min_doc_count", "shard_min_doc_count", "include", "exclude", "order",
                        "execution_hint", "collect_mode", "show_term_doc_count_error"},
    "date_histogram": _SOURCE | {"time_zone", "interval", "calendar_interval", "fixed_interval", "offset", "keyed",
                                 "min_doc_count", "extended_bounds", "hard_bounds", "order"},
    "histogram": _SOURCE | {"interval", "offset", "keyed", "min_doc_count", "extended_bounds", "hard_bounds", "order"},
    "range": _SOURCE | {"ranges", "keyed"},
    "date_range": _SOURCE | {"ranges", "keyed", "time_zone"},
    "filters": {"filters", "other_bucket", "other_bucket_key"},
    "missing": _SOURCE,
    "extended_stats": _SOURCE | {"sigma"},
    "cardinality": _SOURCE | {"precision_threshold", "execution_hint"},
    "top_hits": {"from", "size", "sort", "_source", "version", "seq_no_primary_term", "explain", "track_scores",
                 "stored_fields", "docvalue_fields", "fields"},
}
NUMERIC_KINDS = {"long", "double", "date", "boolean"}


@dataclass
class Agg:
    """One parsed aggregation: its name, type, the type's parameters, sub-aggregations, meta."""

    name: str
    type: str
    params: Any
    subs: list[Agg]
    meta: dict[str, Any] | None = None


def aggregate(body: Any, hits: list[Hit]) -> dict[str, Any]:
    """The `aggregations` section of a search response for the matched `hits`."""
    aggs = parse_aggs(body)
    context = _Context(hits)
    return {agg.name: _run(agg, hits, context) for agg in aggs}


# ---- parsing --------------------------------------------------------------------------------

def parse_aggs(body: Any) -> list[Agg]:
    """Validate an `aggs` object the way OpenSearch's AggregatorFactories parser does."""
    if not isinstance(body, dict):
        raise ParsingError(f"Unexpected token {_token(body)} in [aggs]: aggregations definitions must start with the "
                           "name of the aggregation.")
    out = []
    for name, definition in body.items():
        if not _VALID_NAME.fullmatch(name):
            raise ParsingError(f"Invalid aggregation name [{name}]. Aggregation names can contain any character "
                               "except '[', ']', and '>'")
        if not isinstance(definition, dict):
            raise ParsingError(f"Aggregation definition for [{name} starts with a [{_token(definition)}], expected a "
                               "[START_OBJECT].")
        kind: str | None = None
        params: Any = None
        subs: list[Agg] | None = None
        meta = None
        for key, value in definition.items():
            if not isinstance(value, dict):
                raise ParsingError(f"Expected [START_OBJECT] under [{key}], but got a [{_token(value)}] in [{name}]")
            if key == "meta":
                meta = value
            elif key in ("aggs", "aggregations"):
                if subs is not None:
                    raise ParsingError(f"Found two sub aggregation definitions under [{name}]")
                subs = parse_aggs(value)
            else:
                if kind is not None:
                    raise ParsingError(f"Found two aggregation type definitions in [{name}]: [{kind}] and [{key}]")
                if key not in KNOWN_TYPES:
                    raise ParsingError(f"Unknown aggregation type [{key}]")
                if key not in HANDLERS:
                    raise unsupported(f"the [{key}] aggregation")
                kind, params = key, value
        if kind is None:
            raise ParsingError(f"Missing definition for aggregation [{name}]")
        if subs and kind in METRICS:
            raise SearchError(f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations", status=400,
                              error_type="aggregation_initialization_exception")
        agg = Agg(name, kind, params, subs or [], meta)
        _check_params(agg)
        out.append(agg)
    return out


def _token(value: Any) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    return "VALUE_NUMBER" if isinstance(value, (int, float)) else "VALUE_STRING"


def _check_params(agg: Agg) -> None:
    if agg.type == "filter":  # its body is a query clause, checked when compiled
        return
    allowed = PARAMS.get(agg.type, _SOURCE)
    for key in agg.params:
        if agg.type == "top_hits" and key in ("highlight", "script_fields"):
            raise IllegalArgument(f"[{key}] in [top_hits] is not supported by localsearch (production clusters are "
                                  "OpenSearch)")
        if key not in allowed:
            raise SearchError(f"[{agg.type}] unknown field [{key}]", status=400,
                              error_type="x_content_parse_exception")
    if "script" in agg.params:
        raise IllegalArgument("[script] in aggregations is not supported by localsearch (production clusters are "
                              "OpenSearch)")


# ---- shared machinery -----------------------------------------------------------------------

class _Context:
    """Per-request caches: field values per document, filter matches per index view."""

    def __init__(self, hits: list[Hit]) -> None:
        self.views: list[View] = list({id(h.view): h.view for h in hits}.values())
        self._values: dict[tuple[int, str, str], list[Any]] = {}
        self._matches: dict[tuple[int, str], set[str]] = {}

    def values(self, hit: Hit, path: str) -> list[Any]:
        if path == "_index":  # the one metadata field Dashboards aggregates on
            return [hit.state.name]
        key = (id(hit.view), hit.id, path)
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = field_values(hit.view, hit.id, path)
        return found

    def kind(self, agg: Agg, path: str, allowed: set[str]) -> str | None:
        """The field's value kind (keyword, long, double, date, boolean), refusing kinds `agg` cannot use."""
        if path == "_index":
            if "keyword" not in allowed:
                raise ShardError(f"Field [_index] of type [_index] is not supported for aggregation [{agg.type}]")
            return "keyword"
        kinds = []
        for view in self.views:
            spec = view.mapping.fields.get(path)
            if spec is None:
                continue
            kind = _kind_of(spec.type)
            if kind == "text":
                raise ShardError(FIELDDATA.format(path))
            if kind not in allowed:
                raise ShardError(f"Field [{path}] of type [{spec.type}] is not supported for aggregation "
                                      f"[{agg.type}]")
            kinds.append(kind)
        return kinds[0] if kinds else None

    def date_format(self, path: str) -> str | None:
        for view in self.views:
            spec = view.mapping.fields.get(path)
            if spec is not None and spec.params.get("format"):
                return str(spec.params["format"])
        return None

    def matching(self, clause: Any, hits: list[Hit]) -> list[Hit]:
        """The hits that also match a query clause (compiled once per index view)."""
        text = json.dumps(clause, sort_keys=True, default=str)
        out = []
        for hit in hits:
            key = (id(hit.view), text)
            ids = self._matches.get(key)
            if ids is None:
                ids = self._matches[key] = set(compile_query(clause, hit.view).all(hit.view))
            if hit.id in ids:
                out.append(hit)
        return out


def _kind_of(type_name: str) -> str:
    if type_name in INTEGER_TYPES:
        return "long"
    if type_name in FLOAT_TYPES:
        return "double"
    return type_name


def _run(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    result = HANDLERS[agg.type](agg, hits, context)
    return {"meta": agg.meta, **result} if agg.meta is not None else result


def _subs(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    return {sub.name: _run(sub, hits, context) for sub in agg.subs}


def _field(agg: Agg) -> str:
    path = agg.params.get("field")
    if not isinstance(path, str) or not path:
        raise IllegalArgument("Required one of fields [field, script], but none were specified. ")
    return path


def _int_param(agg: Agg, key: str, default: int, minimum: int, message: str) -> int:
    value = agg.params.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ParsingError(f"[{agg.type}] failed to parse field [{key}]") from exc
    if number < minimum:
        raise IllegalArgument(message.format(value=number, name=agg.name))
    return number


def _min_doc_count(agg: Agg, default: int) -> int:
    return _int_param(agg, "min_doc_count", default, 0,
                      "[minDocCount] must be greater than or equal to 0. Found [{value}] in [{name}]")


def _numeric(value: Any) -> float:
    return float(int(value)) if isinstance(value, bool) else float(value)


def _missing(agg: Agg, kind: str | None) -> Any:
    """The `missing` parameter as the field's kind stores it (None when not given)."""
    if "missing" not in agg.params:
        return None
    raw = agg.params["missing"]
    try:
        if kind == "date":
            return parse_date_millis(raw)
        if kind == "boolean":
            return raw if isinstance(raw, bool) else str(raw).lower() == "true"
        if kind == "long":
            return int(float(raw))
        if kind == "double":
            return float(raw)
    except (TypeError, ValueError) as exc:
        raise IllegalArgument(f"failed to parse [missing] value [{raw}] of [{agg.name}]") from exc
    return raw if kind is None else str(raw)


def _values_or_missing(hit: Hit, path: str, missing: Any, context: _Context) -> list[Any]:
    values = context.values(hit, path)
    return values if values or missing is None else [missing]


# ---- bucket ordering ------------------------------------------------------------------------

def _parse_order(agg: Agg, default: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """(path, ascending) pairs; a key tie-breaker is added as OpenSearch does."""
    spec = agg.params.get("order")
    if spec is None:
        return default
    entries = spec if isinstance(spec, list) else [spec]
    orders = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ParsingError(f"[{agg.type}] order must be an object or an array of objects")
        for path, direction in entry.items():
            text = str(direction).lower()
            if text not in ("asc", "desc"):
                raise ParsingError(f"Unknown order direction [{direction}]")
            orders.append(("_key" if path == "_term" else path, text == "asc"))
    if not any(path == "_key" for path, _ in orders):
        orders.append(("_key", True))
    return orders


def _sort_buckets(buckets: list[dict[str, Any]], orders: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for path, ascending in orders:
            x, y = _order_value(a, path), _order_value(b, path)
            if x is None or y is None:  # empty metrics sort last either way
                if x is None and y is None:
                    continue
                return 1 if x is None else -1
            x, y = _comparable(x), _comparable(y)
            if x != y:
                result = -1 if x < y else 1
                return result if ascending else -result
        return 0

    return sorted(buckets, key=functools.cmp_to_key(compare))


def _comparable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _order_value(bucket: dict[str, Any], path: str) -> Any:
    if path == "_count":
        return bucket["doc_count"]
    if path == "_key":
        return bucket["key"]
    node: Any = bucket
    parts = path.split(">")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        name, metric = part, None
        if part not in node and "." in part:
            name, metric = part.rsplit(".", 1)
        if "[" in part and part.endswith("]"):
            name, metric = part[:-1].split("[", 1)
        result = node.get(name) if isinstance(node, dict) and name not in ("key", "doc_count") else None
        if not isinstance(result, dict):
            raise IllegalArgument(f"Invalid aggregator order path [{path}]. The provided aggregation [{name}] either "
                                  "does not exist, or is a pipeline aggregation and cannot be used to sort the "
                                  "buckets.")
        if not last:
            node = result
            continue
        if metric is not None:
            if metric not in result:
                raise IllegalArgument(f"Invalid aggregation order path [{path}]. Unknown value key [{metric}] of "
                                      f"aggregation [{name}]")
            return result[metric]
        if "value" in result:
            return result["value"]
        if "doc_count" in result and "buckets" not in result:
            return result["doc_count"]
        raise IllegalArgument(f"Invalid aggregation order path [{path}]. When ordering on a multi-value metrics "
                              "aggregation a metric name must be specified.")
    return None


# ---- terms ----------------------------------------------------------------------------------

def _terms(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    path = _field(agg)
    size = _int_param(agg, "size", 10, 1, "[size] must be greater than 0. Found [{value}] in [{name}]")
    min_doc_count = _min_doc_count(agg, 1)
    kind = context.kind(agg, path, {"keyword"} | NUMERIC_KINDS)
    missing = _missing(agg, kind)
    accept = _term_filter(agg)
    groups: dict[Any, list[Hit]] = {}
    for hit in hits:
        for key in dict.fromkeys(_term_key(v) for v in _values_or_missing(hit, path, missing, context)):
            groups.setdefault(key, []).append(hit)
    if min_doc_count == 0:  # OpenSearch then lists every term of the index, matched or not
        for view in context.views:
            for doc_id in view.docs:
                for value in field_values(view, doc_id, path):
                    groups.setdefault(_term_key(value), [])
    formatter = _DateFormatter(agg.params.get("format") or context.date_format(path)) if kind == "date" else None
    buckets = []
    for key, docs in groups.items():
        if len(docs) < min_doc_count or not accept(key):
            continue
        bucket: dict[str, Any] = {"key": key}
        if kind == "boolean":
            bucket["key_as_string"] = "true" if key else "false"
        elif formatter is not None:
            bucket["key_as_string"] = formatter(key)
        bucket["doc_count"] = len(docs)
        bucket.update(_subs(agg, docs, context))
        buckets.append(bucket)
    orders = _parse_order(agg, [("_count", False), ("_key", True)])
    buckets = _sort_buckets(buckets, orders)
    return {"doc_count_error_upper_bound": _count_error(agg, size, len(buckets), orders),
            "sum_other_doc_count": sum(b["doc_count"] for b in buckets[size:]),
            "buckets": buckets[:size]}


def _count_error(agg: Agg, size: int, buckets: int, orders: list[tuple[str, bool]]) -> int:
    """OpenSearch's bound on a bucket's missing count: unknown (-1) when the shard had to cut its list (more
    buckets than shard_size, size · 1.5 + 10 by default) and the order is neither by count descending nor by key."""
    first, ascending = orders[0]
    shard_size = int(agg.params.get("shard_size", size * 1.5 + 10))
    if buckets > shard_size and first != "_key" and not (first == "_count" and not ascending):
        return -1
    return 0


def _term_key(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _term_filter(agg: Agg) -> Callable[[Any], bool]:
    include, exclude = agg.params.get("include"), agg.params.get("exclude")

    def matcher(spec: Any) -> Callable[[Any], bool] | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            pattern = re.compile(spec)
            return lambda key: pattern.fullmatch(str(key)) is not None
        if isinstance(spec, list):
            allowed = {str(v) for v in spec}
            return lambda key: str(key) in allowed or (isinstance(key, float) and _short_number(key) in allowed)
        raise IllegalArgument(f"[{agg.type}] partitioned include/exclude is not supported by localsearch")

    inc, exc = matcher(include), matcher(exclude)
    return lambda key: (inc is None or inc(key)) and (exc is None or not exc(key))


def _short_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# ---- histograms -----------------------------------------------------------------------------

def _date_histogram(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    path = _field(agg)
    kind = context.kind(agg, path, NUMERIC_KINDS)
    zone = parse_time_zone(agg.params.get("time_zone"))
    rounding = _date_rounding(agg, zone)
    min_doc_count = _min_doc_count(agg, 0)
    formatter = _DateFormatter(agg.params.get("format") or context.date_format(path), zone)
    missing = _missing(agg, "date" if kind is None else kind)
    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        for key in dict.fromkeys(rounding.round(int(v)) for v in _values_or_missing(hit, path, missing, context)):
            groups.setdefault(key, []).append(hit)
    hard = _bounds(agg, "hard_bounds", lambda v: rounding.round(parse_date_value(v, zone)))
    extended = _bounds(agg, "extended_bounds", lambda v: rounding.round(parse_date_value(v, zone)))
    if hard is not None:
        groups = {k: v for k, v in groups.items() if _within(k, hard)}
    keys = sorted(groups)
    if min_doc_count == 0:
        keys = _fill(keys, rounding.next, extended)
    buckets = []
    for key in keys:
        docs = groups.get(key, [])
        if len(docs) < min_doc_count:
            continue
        bucket: dict[str, Any] = {"key_as_string": formatter(key)} if kind in ("date", None) else {}
        bucket.update({"key": key, "doc_count": len(docs), **_subs(agg, docs, context)})
        buckets.append(bucket)
    return _histogram_response(agg, buckets, lambda b: b.get("key_as_string", str(b["key"])))


def _histogram(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    path = _field(agg)
    kind = context.kind(agg, path, NUMERIC_KINDS)
    interval = agg.params.get("interval")
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
        raise IllegalArgument(f"[interval] must be >0 for histogram aggregation [{agg.name}]")
    offset = float(agg.params.get("offset", 0))
    min_doc_count = _min_doc_count(agg, 0)
    missing = _missing(agg, kind or "double")

    def index(value: float) -> int:
        return math.floor((value - offset) / interval)

    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        for i in dict.fromkeys(index(_numeric(v)) for v in _values_or_missing(hit, path, missing, context)):
            groups.setdefault(i, []).append(hit)
    hard = _bounds(agg, "hard_bounds", lambda v: index(float(v)))
    extended = _bounds(agg, "extended_bounds", lambda v: index(float(v)))
    if hard is not None:
        groups = {k: v for k, v in groups.items() if _within(k, hard)}
    indices = sorted(groups)
    if min_doc_count == 0:
        indices = _fill(indices, lambda i: i + 1, extended)
    formatter = _DateFormatter(agg.params.get("format") or context.date_format(path)) if kind == "date" else None
    buckets = []
    for i in indices:
        docs = groups.get(i, [])
        if len(docs) < min_doc_count:
            continue
        key = i * interval + offset
        bucket: dict[str, Any] = {"key_as_string": formatter(int(key))} if formatter else {}
        bucket.update({"key": float(key), "doc_count": len(docs), **_subs(agg, docs, context)})
        buckets.append(bucket)
    return _histogram_response(agg, buckets, lambda b: b.get("key_as_string", java_double(b["key"])))


def _histogram_response(agg: Agg, buckets: list[dict[str, Any]], name: Callable[[dict[str, Any]], str]
                        ) -> dict[str, Any]:
    orders = _parse_order(agg, [("_key", True)])
    if orders != [("_key", True)]:
        buckets = _sort_buckets(buckets, orders)
    if agg.params.get("keyed"):
        return {"buckets": {name(b): b for b in buckets}}
    return {"buckets": buckets}


def _bounds(agg: Agg, key: str, convert: Callable[[Any], Any]) -> tuple[Any, Any] | None:
    spec = agg.params.get(key)
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"min", "max"}:
        raise ParsingError(f"[{key}] must be an object with [min] and/or [max]")
    low = convert(spec["min"]) if spec.get("min") is not None else None
    high = convert(spec["max"]) if spec.get("max") is not None else None
    if low is not None and high is not None and low > high:
        raise IllegalArgument(f"[{key}.min][{spec['min']}] cannot be greater than [{key}.max][{spec['max']}] for "
                              f"histogram aggregation [{agg.name}]")
    return low, high


def _within(key: Any, bounds: tuple[Any, Any]) -> bool:
    low, high = bounds
    return (low is None or key >= low) and (high is None or key <= high)


def _fill(keys: list[Any], step: Callable[[Any], Any], bounds: tuple[Any, Any] | None) -> list[Any]:
    """Every key from the first to the last (stretched to the extended bounds), empty ones included."""
    low, high = bounds or (None, None)
    if not keys and (low is None or high is None):
        return keys
    first = keys[0] if keys else low
    last = keys[-1] if keys else high
    if low is not None:
        first = min(first, low)
    if high is not None:
        last = max(last, high)
    out = []
    key = first
    while key <= last:
        out.append(key)
        if len(out) > MAX_BUCKETS:
            raise SearchError(f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}] but "
                              f"was [{len(out)}]. This limit can be set by changing the [search.max_buckets] cluster "
                              "level setting.", status=400, error_type="too_many_buckets_exception",
                              extra={"max_buckets": MAX_BUCKETS})
        key = step(key)
    return out


# ---- dates: rounding, time zones, formats ---------------------------------------------------

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
CALENDAR_UNITS = {"year": "y", "1y": "y", "quarter": "q", "1q": "q", "month": "M", "1M": "M", "week": "w", "1w": "w",
                  "day": "d", "1d": "d", "hour": "h", "1h": "h", "minute": "m", "1m": "m", "second": "s", "1s": "s"}
_TIME_UNITS_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time_zone(value: Any) -> dt.tzinfo:
    """`time_zone` as OpenSearch reads it: UTC, a fixed offset (+01:00) or a region id (Europe/Paris)."""
    if value is None:
        return UTC
    text = str(value).strip()
    if text.upper() in ("UTC", "Z", "GMT", "UT"):
        return UTC
    match = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        offset = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return UTC if not offset else dt.timezone(sign * offset)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IllegalArgument(f"Unknown time-zone ID: {text}") from exc


def _local(millis: int, zone: dt.tzinfo) -> dt.datetime:
    return (_EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone).replace(tzinfo=None)


def _millis(local: dt.datetime, zone: dt.tzinfo) -> int:
    return (local.replace(tzinfo=zone) - _EPOCH) // dt.timedelta(milliseconds=1)


def _truncate(moment: dt.datetime, unit: str) -> dt.datetime:
    moment = moment.replace(microsecond=0)
    if unit == "s":
        return moment
    moment = moment.replace(second=0)
    if unit == "m":
        return moment
    moment = moment.replace(minute=0)
    if unit in ("h", "H"):
        return moment
    moment = moment.replace(hour=0)
    if unit == "d":
        return moment
    if unit == "w":
        return moment - dt.timedelta(days=moment.weekday())
    if unit == "M":
        return moment.replace(day=1)
    if unit == "q":
        return moment.replace(month=(moment.month - 1) // 3 * 3 + 1, day=1)
    return moment.replace(month=1, day=1)


def _add(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("y", "q", "M"):
        months = amount * {"y": 12, "q": 3, "M": 1}[unit]
        total = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(total, 12)
        days = (dt.date(year + (month == 11), (month + 1) % 12 + 1, 1) - dt.timedelta(days=1)).day
        return moment.replace(year=year, month=month + 1, day=min(moment.day, days))
    seconds = {"w": 604_800, "d": 86_400, "h": 3_600, "H": 3_600, "m": 60, "s": 1}[unit]
    return moment + dt.timedelta(seconds=amount * seconds)


@dataclass(frozen=True)
class DateRounding:
    """Rounds epoch millis down to calendar units or fixed intervals in a time zone, with an offset."""

    zone: dt.tzinfo
    unit: str | None = None
    interval: int | None = None
    offset: int = 0

    def round(self, millis: int) -> int:
        t = millis - self.offset
        if self.unit is not None:
            return _millis(_truncate(_local(t, self.zone), self.unit), self.zone) + self.offset
        assert self.interval is not None
        shift = _zone_offset_ms(t, self.zone)
        local = t + shift
        return local - local % self.interval - shift + self.offset

    def next(self, key: int) -> int:
        if self.unit is not None:
            t = key - self.offset
            return self.round(_millis(_add(_local(t, self.zone), 1, self.unit), self.zone) + self.offset)
        assert self.interval is not None
        candidate = self.round(key + self.interval)
        return candidate if candidate > key else key + self.interval


def _zone_offset_ms(millis: int, zone: dt.tzinfo) -> int:
    moment = (_EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta(0)
    return offset // dt.timedelta(milliseconds=1)


def _date_rounding(agg: Agg, zone: dt.tzinfo) -> DateRounding:
    params = agg.params
    given = [k for k in ("calendar_interval", "fixed_interval", "interval") if params.get(k) is not None]
    if len(given) > 1:
        first, second = given[0], given[1]
        if second == "interval":
            raise IllegalArgument("Cannot use [interval] with [fixed_interval] or [calendar_interval] configuration "
                                  "options.")
        raise IllegalArgument(f"Cannot use [{second}] with [{first}] configuration option.")
    if not given:
        raise IllegalArgument("Invalid interval specified, must be non-null and non-empty")
    key = given[0]
    value = params[key]
    offset = _offset_ms(params.get("offset", 0))
    if key == "calendar_interval":
        unit = CALENDAR_UNITS.get(str(value))
        if unit is None:
            raise IllegalArgument(f"The supplied interval [{value}] could not be parsed as a calendar interval.")
        return DateRounding(zone, unit=unit, offset=offset)
    if key == "fixed_interval":
        return DateRounding(zone, interval=_positive_interval(parse_time_value(str(value),
                                                                               "date_histogram.fixedInterval")),
                            offset=offset)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # legacy numeric millis
        if value < 1:
            raise IllegalArgument("[interval] must be 1 or greater for aggregation [date_histogram]")
        return DateRounding(zone, interval=int(value), offset=offset)
    if str(value) in CALENDAR_UNITS:
        return DateRounding(zone, unit=CALENDAR_UNITS[str(value)], offset=offset)
    try:
        return DateRounding(zone, interval=_positive_interval(parse_time_value(str(value), "interval")), offset=offset)
    except IllegalArgument as exc:
        raise IllegalArgument(f"Unable to parse interval [{value}]") from exc


def _positive_interval(millis: float) -> int:
    if millis < 1:
        raise IllegalArgument("Zero or negative time interval not supported")
    return int(millis)


def parse_time_value(text: str, setting: str) -> float:
    """OpenSearch's TimeValue syntax ("30s", "5m", "3h", "1d", "500ms") to milliseconds."""
    normalized = text.lower().strip()
    for unit in ("nanos", "micros", "ms", "s", "m", "h", "d"):
        if normalized.endswith(unit) and (unit != "m" or text.strip().endswith("m")):
            number = normalized[: -len(unit)].strip()
            try:
                return int(number) * _TIME_UNITS_MS[unit]
            except ValueError as exc:
                try:
                    float(number)
                except ValueError:
                    raise IllegalArgument(f"failed to parse [{text}]") from exc
                raise IllegalArgument(f"failed to parse [{text}], fractional time values are not supported") from exc
    if re.fullmatch(r"0+", normalized):
        return 0
    raise IllegalArgument(f"failed to parse setting [{setting}] with value [{text}] as a time value: unit is missing "
                          "or unrecognized")


def _offset_ms(value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.startswith("-"):
        return -int(parse_time_value(text[1:], "DateHistogramAggregationBuilder.parseOffset"))
    return int(parse_time_value(text.removeprefix("+"), "DateHistogramAggregationBuilder.parseOffset"))


_DATE_MATH = re.compile(r"^(?P<anchor>now|.+?\|\|)(?P<ops>([+-]\d+[yMwdhHms]|/[yMwdhHms])*)$")


def parse_date_value(value: Any, zone: dt.tzinfo = UTC) -> int:
    """A date bound: epoch millis, a date string, or date math ("now-7d/d", "2024-01-01||+1M")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    match = _DATE_MATH.match(text)
    if match is None:
        try:
            return parse_date_millis(text)
        except ValueError as exc:
            raise IllegalArgument(f"failed to parse date field [{text}] with format [{DEFAULT_DATE_FORMAT}"
                                  "||epoch_millis]") from exc
    anchor = match.group("anchor")
    millis = int(time.time() * 1000) if anchor == "now" else parse_date_value(anchor[:-2], zone)
    moment = _local(millis, zone)
    for sign, amount, unit, rounded in re.findall(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])", match.group("ops")):
        if rounded:
            moment = _truncate(moment, rounded)
        else:
            moment = _add(moment, int(amount) * (1 if sign == "+" else -1), unit)
    return _millis(moment, zone)


# Java DateTimeFormatter patterns of OpenSearch's named formats (printing side)
_NAMED_FORMATS = {
    "date_optional_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "date_optional_time_nanos": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX",
    "date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX", "date": "yyyy-MM-dd", "basic_date": "yyyyMMdd",
    "basic_date_time": "yyyyMMdd'T'HHmmss.SSSXX", "basic_date_time_no_millis": "yyyyMMdd'T'HHmmssXX",
    "date_hour": "yyyy-MM-dd'T'HH", "date_hour_minute": "yyyy-MM-dd'T'HH:mm",
    "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss", "date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "date_hour_minute_second_fraction": "yyyy-MM-dd'T'HH:mm:ss.SSS", "hour": "HH", "hour_minute": "HH:mm",
    "hour_minute_second": "HH:mm:ss", "hour_minute_second_millis": "HH:mm:ss.SSS", "time": "HH:mm:ss.SSSXXX",
    "time_no_millis": "HH:mm:ssXXX", "year": "yyyy", "year_month": "yyyy-MM", "year_month_day": "yyyy-MM-dd",
    "ordinal_date": "yyyy-DDD",
}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class _DateFormatter:
    """Prints epoch millis with an OpenSearch date format (a named one or a Java pattern) in a zone."""

    def __init__(self, spec: str | None, zone: dt.tzinfo = UTC) -> None:
        name = (spec or DEFAULT_DATE_FORMAT).split("||")[0].strip()
        self.zone = zone
        self.epoch = name if name in ("epoch_millis", "epoch_second") else None
        self.pattern = _NAMED_FORMATS.get(name.removeprefix("strict_"), name)
        self.tokens = _pattern_tokens(self.pattern) if self.epoch is None else []

    def __call__(self, millis: int) -> str:
        if self.epoch == "epoch_millis":
            return str(millis)
        if self.epoch == "epoch_second":
            return str(millis // 1000) if millis % 1000 == 0 else str(millis / 1000)
        moment = (_EPOCH + dt.timedelta(milliseconds=millis)).astimezone(self.zone)
        return "".join(text if letter is None else _print_field(moment, letter, text) for letter, text in self.tokens)


def _pattern_tokens(pattern: str) -> list[tuple[str | None, str]]:
    """(letter, run) for pattern letters and (None, literal) for quoted or other text."""
    tokens: list[tuple[str | None, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            tokens.append((None, pattern[i + 1:end] if end > i + 1 else "'"))
            i = end + 1
        elif char.isascii() and char.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            if char not in "yuYMLdDHhkKmsSaEeZXxzV":
                raise IllegalArgument(f"Invalid format: [{pattern}]: Unknown pattern letter: {char}")
            tokens.append((char, pattern[i:j]))
            i = j
        else:
            tokens.append((None, char))
            i += 1
    return tokens


def _print_field(moment: dt.datetime, letter: str, run: str) -> str:
    width = len(run)
    if letter in "yuY":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{max(width, 4) if width > 1 else 1}d}"
    if letter in "ML":
        if width >= 3:
            name = _MONTHS[moment.month - 1]
            return name if width == 4 else name[:3]
        return f"{moment.month:0{width}d}"
    if letter in "Ee":
        name = _DAYS[moment.weekday()]
        return name if width >= 4 else name[:3]
    numbers = {"d": moment.day, "D": moment.timetuple().tm_yday, "H": moment.hour, "k": moment.hour or 24,
               "h": (moment.hour % 12) or 12, "K": moment.hour % 12, "m": moment.minute, "s": moment.second}
    if letter in numbers:
        return f"{numbers[letter]:0{width}d}"
    if letter == "S":
        return f"{moment.microsecond:06d}{'0' * 3}"[:width]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter in "zV":
        return moment.tzname() or "UTC"
    offset = moment.utcoffset() or dt.timedelta(0)
    if not offset and letter == "X":
        return "Z"
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    if letter == "Z" and width <= 3:
        return f"{sign}{hours:02d}{minutes:02d}"
    if width == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    if width == 2:
        return f"{sign}{hours:02d}{minutes:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def java_double(value: float) -> str:
    """Java's Double.toString, which OpenSearch uses for range keys ("100.0", "1.7040672E12")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(float(value))  # Python prints this range in plain notation too
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(text) - 1 + int(exponent)
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


# ---- ranges ---------------------------------------------------------------------------------

def _range(agg: Agg, hits: list[Hit], context: _Context, dates: bool = False) -> dict[str, Any]:
    path = _field(agg)
    kind = context.kind(agg, path, {"long", "double", "date"} if dates else NUMERIC_KINDS)
    ranges = agg.params.get("ranges")
    if not ranges:
        raise IllegalArgument(f"No [ranges] specified for the [{agg.name}] aggregation")
    zone = parse_time_zone(agg.params.get("time_zone")) if dates else UTC
    is_date = dates or kind == "date"
    formatter = _DateFormatter(agg.params.get("format") or context.date_format(path), zone) if is_date else None
    missing = _missing(agg, kind or ("date" if dates else "double"))
    parsed = []
    for spec in ranges:
        if not isinstance(spec, dict):
            raise ParsingError(f"[{agg.type}] ranges must be objects")
        low = _range_bound(spec.get("from"), is_date, zone, -math.inf)
        high = _range_bound(spec.get("to"), is_date, zone, math.inf)
        parsed.append((low, high, spec.get("key")))
    parsed.sort(key=lambda r: (r[0], r[1]))  # OpenSearch sorts ranges by from, then to
    values = {id(h): [_numeric(v) for v in _values_or_missing(h, path, missing, context)] for h in hits}
    buckets = []
    for low, high, given_key in parsed:
        docs = [h for h in hits if any(low <= v < high for v in values[id(h)])]

        def show(bound: float) -> str:
            return formatter(int(bound)) if formatter else java_double(bound)

        key = given_key if given_key is not None else (
            f"{'*' if math.isinf(low) else show(low)}-{'*' if math.isinf(high) else show(high)}")
        bucket: dict[str, Any] = {"key": key}
        for name, bound in (("from", low), ("to", high)):
            if not math.isinf(bound):
                bucket[name] = float(bound)
                if formatter:
                    bucket[f"{name}_as_string"] = formatter(int(bound))
        bucket["doc_count"] = len(docs)
        bucket.update(_subs(agg, docs, context))
        buckets.append(bucket)
    if agg.params.get("keyed"):
        return {"buckets": {b.pop("key"): b for b in buckets}}
    return {"buckets": buckets}


def _range_bound(value: Any, is_date: bool, zone: dt.tzinfo, default: float) -> float:
    if value is None:
        return default
    if is_date:
        return float(parse_date_value(value, zone))
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ParsingError(f"[range] failed to parse bound [{value}]") from exc


def _date_range(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    return _range(agg, hits, context, dates=True)


# ---- single-bucket and filters --------------------------------------------------------------

def _filter(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    docs = context.matching(agg.params, hits) if agg.params else hits
    return {"doc_count": len(docs), **_subs(agg, docs, context)}


def _filters(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    spec = agg.params.get("filters")
    if isinstance(spec, dict):
        named: list[tuple[str | None, Any]] = sorted(spec.items())  # OpenSearch orders keyed filters by key
    elif isinstance(spec, list):
        named = [(None, clause) for clause in spec]
    else:
        raise ParsingError("[filters] cannot be empty." if spec is None else
                           f"Unknown key for a {_token(spec)} in [filters]")
    other_key = agg.params.get("other_bucket_key")
    other = bool(agg.params.get("other_bucket")) or other_key is not None
    matched: set[int] = set()
    buckets: list[tuple[str | None, dict[str, Any]]] = []
    for key, clause in named:
        docs = context.matching(clause, hits)
        matched |= {id(h) for h in docs}
        buckets.append((key, {"doc_count": len(docs), **_subs(agg, docs, context)}))
    if other:
        rest = [h for h in hits if id(h) not in matched]
        buckets.append((str(other_key or "_other_"), {"doc_count": len(rest), **_subs(agg, rest, context)}))
    if isinstance(spec, dict):
        return {"buckets": {key: bucket for key, bucket in buckets}}
    return {"buckets": [bucket for _, bucket in buckets]}


def _missing_bucket(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    path = _field(agg)
    context.kind(agg, path, {"keyword"} | NUMERIC_KINDS)
    docs = [h for h in hits if not context.values(h, path)]
    return {"doc_count": len(docs), **_subs(agg, docs, context)}


# ---- metrics --------------------------------------------------------------------------------

def _metric_values(agg: Agg, hits: list[Hit], context: _Context, allowed: set[str]) -> tuple[str | None, list[Any]]:
    path = _field(agg)
    kind = context.kind(agg, path, allowed)
    missing = _missing(agg, kind)
    values: list[Any] = []
    for hit in hits:
        values += _values_or_missing(hit, path, missing, context)
    return kind, values


def _as_string(agg: Agg, kind: str | None, context: _Context) -> Callable[[float], str] | None:
    if kind == "date":
        formatter = _DateFormatter(agg.params.get("format") or context.date_format(agg.params["field"]))
        return lambda v: formatter(int(v))
    if kind == "boolean":
        return lambda v: "true" if v != 0 else "false"
    return None


def _single_value(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    kind, raw = _metric_values(agg, hits, context, NUMERIC_KINDS)
    numbers = [_numeric(v) for v in raw]
    if agg.type == "sum":
        value: float | None = float(math.fsum(numbers))
    elif not numbers:
        value = None
    elif agg.type == "avg":
        value = math.fsum(numbers) / len(numbers)
    else:
        value = min(numbers) if agg.type == "min" else max(numbers)
    out: dict[str, Any] = {"value": value}
    show = _as_string(agg, kind, context)
    if show is not None and value is not None and (numbers or agg.type == "sum"):
        out["value_as_string"] = show(value)
    return out


def _value_count(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    _, values = _metric_values(agg, hits, context, {"keyword"} | NUMERIC_KINDS)
    return {"value": len(values)}


def _cardinality(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    _, values = _metric_values(agg, hits, context, {"keyword"} | NUMERIC_KINDS)
    return {"value": len({_term_key(v) for v in values})}


def _stats(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    kind, raw = _metric_values(agg, hits, context, NUMERIC_KINDS)
    numbers = [_numeric(v) for v in raw]
    total = float(math.fsum(numbers))
    count = len(numbers)
    out: dict[str, Any] = {"count": count, "min": min(numbers) if numbers else None,
                           "max": max(numbers) if numbers else None, "avg": total / count if count else None,
                           "sum": total}
    if agg.type == "extended_stats":
        out.update(_extended(agg, numbers, total))
    show = _as_string(agg, kind, context)
    if show is not None and count:
        for name in ("min", "max", "avg", "sum"):
            out[f"{name}_as_string"] = show(out[name])
    return out


def _extended(agg: Agg, numbers: list[float], total: float) -> dict[str, Any]:
    count = len(numbers)
    sigma = float(agg.params.get("sigma", 2.0))
    if sigma < 0:
        raise IllegalArgument(f"[sigma] must be greater than or equal to 0. Found [{sigma}] in [{agg.name}]")
    names = ("upper", "lower", "upper_population", "lower_population", "upper_sampling", "lower_sampling")
    if not count:
        return {"sum_of_squares": None, "variance": None, "variance_population": None, "variance_sampling": None,
                "std_deviation": None, "std_deviation_population": None, "std_deviation_sampling": None,
                "std_deviation_bounds": dict.fromkeys(names)}
    squares = math.fsum(v * v for v in numbers)
    mean = total / count
    variance = max(0.0, squares / count - mean * mean)
    sampling: float | str = variance * count / (count - 1) if count > 1 else "NaN"  # Jackson writes NaN quoted
    deviation = math.sqrt(variance)
    sampling_deviation: float | str = math.sqrt(sampling) if isinstance(sampling, float) else "NaN"

    def bound(spread: float | str, sign: int) -> float | str:
        return mean + sign * sigma * spread if isinstance(spread, float) else "NaN"

    return {"sum_of_squares": squares, "variance": variance, "variance_population": variance,
            "variance_sampling": sampling, "std_deviation": deviation, "std_deviation_population": deviation,
            "std_deviation_sampling": sampling_deviation,
            "std_deviation_bounds": {"upper": bound(deviation, 1), "lower": bound(deviation, -1),
                                     "upper_population": bound(deviation, 1), "lower_population": bound(deviation, -1),
                                     "upper_sampling": bound(sampling_deviation, 1),
                                     "lower_sampling": bound(sampling_deviation, -1)}}


def _top_hits(agg: Agg, hits: list[Hit], context: _Context) -> dict[str, Any]:
    from localsearch import search  # the hit renderer and sort of the search response itself
    from searchcore.source_filter import parse_source_spec

    params = agg.params
    start = _int_param(agg, "from", 0, 0, "[from] parameter cannot be negative but was [{value}]")
    size = _int_param(agg, "size", 3, 0, "[size] parameter cannot be negative, found [{value}]")
    request = search.SearchRequest(query={"match_all": {}}, source=parse_source_spec(params.get("_source", True),
                                                                                   None, None))
    request.sort = parse_sort(params.get("sort"))
    request.version = bool(params.get("version"))
    request.seq_no_primary_term = bool(params.get("seq_no_primary_term"))
    request.track_scores = bool(params.get("track_scores"))
    request.value_fields = [f.get("field") if isinstance(f, dict) else f
                            for f in (params.get("docvalue_fields") or []) + (params.get("fields") or [])]
    order = {name: i for i, name in enumerate(dict.fromkeys(h.state.name for h in hits))}
    copies = [replace(h, sort=None) for h in hits]
    if request.sort:
        ranked = search.sort_hit_list(copies, request.sort, order)
    else:
        ranked = sorted(copies, key=lambda h: (-h.score, order[h.state.name], h.view.docs[h.id].ordinal))
    page = ranked[start:start + size]
    sorted_by_fields = bool(request.sort)
    max_score = None if sorted_by_fields and not request.track_scores else max((h.score for h in hits), default=None)
    return {"hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": max_score,
                     "hits": [search.render_hit(h, request, sorted_by_fields) for h in page]}}


HANDLERS: dict[str, Callable[[Agg, list[Hit], _Context], dict[str, Any]]] = {
    "terms": _terms, "date_histogram": _date_histogram, "histogram": _histogram, "range": _range,
    "date_range": _date_range, "filter": _filter, "filters": _filters, "missing": _missing_bucket,
    "min": _single_value, "max": _single_value, "avg": _single_value, "sum": _single_value,
    "value_count": _value_count, "cardinality": _cardinality, "stats": _stats, "extended_stats": _stats,
    "top_hits": _top_hits,
}

"""The `histogram` and `date_histogram` bucket aggregations: intervals, bounds, empty buckets."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from localsearch.aggregations.base import (
    NUMERIC_KINDS,
    Agg,
    Context,
    field_path,
    missing_value,
    numeric,
    read_min_doc_count,
    subs,
    values_or_missing,
)
from localsearch.aggregations.dates import (
    CALENDAR_UNITS,
    DateRounding,
    parse_date_value,
    parse_time_value,
    parse_time_zone,
)
from localsearch.aggregations.formats import DateFormatter, java_double
from localsearch.aggregations.order import parse_order, sort_buckets
from localsearch.hits import Hit
from searchcore.errors import IllegalArgument, ParsingError, SearchError

MAX_BUCKETS = 65_535  # OpenSearch's search.max_buckets default


def date_histogram(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    path = field_path(agg)
    kind = context.kind(agg, path, NUMERIC_KINDS)
    zone = parse_time_zone(agg.params.get("time_zone"))
    rounding = _date_rounding(agg, zone)
    min_doc_count = read_min_doc_count(agg, 0)
    formatter = DateFormatter(agg.params.get("format") or context.date_format(path), zone)
    missing = missing_value(agg, "date" if kind is None else kind)
    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        for key in dict.fromkeys(rounding.round(int(v)) for v in values_or_missing(hit, path, missing, context)):
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
        bucket.update({"key": key, "doc_count": len(docs), **subs(agg, docs, context)})
        buckets.append(bucket)
    return _histogram_response(agg, buckets, lambda b: b.get("key_as_string", str(b["key"])))


def histogram(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    path = field_path(agg)
    kind = context.kind(agg, path, NUMERIC_KINDS)
    interval = agg.params.get("interval")
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
        raise IllegalArgument(f"[interval] must be >0 for histogram aggregation [{agg.name}]")
    offset = float(agg.params.get("offset", 0))
    min_doc_count = read_min_doc_count(agg, 0)
    missing = missing_value(agg, kind or "double")

    def index(value: float) -> int:
        return math.floor((value - offset) / interval)

    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        for i in dict.fromkeys(index(numeric(v)) for v in values_or_missing(hit, path, missing, context)):
            groups.setdefault(i, []).append(hit)
    hard = _bounds(agg, "hard_bounds", lambda v: index(float(v)))
    extended = _bounds(agg, "extended_bounds", lambda v: index(float(v)))
    if hard is not None:
        groups = {k: v for k, v in groups.items() if _within(k, hard)}
    indices = sorted(groups)
    if min_doc_count == 0:
        indices = _fill(indices, lambda i: i + 1, extended)
    formatter = DateFormatter(agg.params.get("format") or context.date_format(path)) if kind == "date" else None
    buckets = []
    for i in indices:
        docs = groups.get(i, [])
        if len(docs) < min_doc_count:
            continue
        key = i * interval + offset
        bucket: dict[str, Any] = {"key_as_string": formatter(int(key))} if formatter else {}
        bucket.update({"key": float(key), "doc_count": len(docs), **subs(agg, docs, context)})
        buckets.append(bucket)
    return _histogram_response(agg, buckets, lambda b: b.get("key_as_string", java_double(b["key"])))


def _histogram_response(agg: Agg, buckets: list[dict[str, Any]], name: Callable[[dict[str, Any]], str]
                        ) -> dict[str, Any]:
    orders = parse_order(agg, [("_key", True)])
    if orders != [("_key", True)]:
        buckets = sort_buckets(buckets, orders)
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


def _offset_ms(value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.startswith("-"):
        return -int(parse_time_value(text[1:], "DateHistogramAggregationBuilder.parseOffset"))
    return int(parse_time_value(text.removeprefix("+"), "DateHistogramAggregationBuilder.parseOffset"))

"""The `range` and `date_range` bucket aggregations."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from localsearch.aggregations.base import (
    NUMERIC_KINDS,
    Agg,
    Context,
    field_path,
    missing_value,
    numeric,
    subs,
    values_or_missing,
)
from localsearch.aggregations.dates import UTC, parse_date_value, parse_time_zone
from localsearch.aggregations.formats import DateFormatter, java_double
from localsearch.hits import Hit
from searchcore.errors import IllegalArgument, ParsingError


def range_buckets(agg: Agg, hits: list[Hit], context: Context, dates: bool = False) -> dict[str, Any]:
    path = field_path(agg)
    kind = context.kind(agg, path, {"long", "double", "date"} if dates else NUMERIC_KINDS)
    ranges = agg.params.get("ranges")
    if not ranges:
        raise IllegalArgument(f"No [ranges] specified for the [{agg.name}] aggregation")
    zone = parse_time_zone(agg.params.get("time_zone")) if dates else UTC
    is_date = dates or kind == "date"
    formatter = DateFormatter(agg.params.get("format") or context.date_format(path), zone) if is_date else None
    missing = missing_value(agg, kind or ("date" if dates else "double"))
    parsed = []
    for spec in ranges:
        if not isinstance(spec, dict):
            raise ParsingError(f"[{agg.type}] ranges must be objects")
        low = _range_bound(spec.get("from"), is_date, zone, -math.inf)
        high = _range_bound(spec.get("to"), is_date, zone, math.inf)
        parsed.append((low, high, spec.get("key")))
    parsed.sort(key=lambda r: (r[0], r[1]))  # OpenSearch sorts ranges by from, then to
    values = {id(h): [numeric(v) for v in values_or_missing(h, path, missing, context)] for h in hits}
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
        bucket.update(subs(agg, docs, context))
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


def date_range(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    return range_buckets(agg, hits, context, dates=True)

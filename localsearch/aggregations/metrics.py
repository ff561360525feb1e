"""Metric aggregations: min, max, avg, sum, value_count, cardinality, stats, extended_stats, top_hits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from localsearch.aggregations.base import (
    NUMERIC_KINDS,
    Agg,
    Context,
    field_path,
    int_param,
    missing_value,
    numeric,
    values_or_missing,
)
from localsearch.aggregations.formats import DateFormatter
from localsearch.aggregations.terms import term_key
from localsearch.hits import Hit, SearchRequest, render_hit, sort_hit_list
from localsearch.sorting import parse_sort
from searchcore.errors import IllegalArgument
from searchcore.source_filter import parse_source_spec


def _metric_values(agg: Agg, hits: list[Hit], context: Context, allowed: set[str]) -> tuple[str | None, list[Any]]:
    path = field_path(agg)
    kind = context.kind(agg, path, allowed)
    missing = missing_value(agg, kind)
    values: list[Any] = []
    for hit in hits:
        values += values_or_missing(hit, path, missing, context)
    return kind, values


def _as_string(agg: Agg, kind: str | None, context: Context) -> Callable[[float], str] | None:
    if kind == "date":
        formatter = DateFormatter(agg.params.get("format") or context.date_format(agg.params["field"]))
        return lambda v: formatter(int(v))
    if kind == "boolean":
        return lambda v: "true" if v != 0 else "false"
    return None


def single_value(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    kind, raw = _metric_values(agg, hits, context, NUMERIC_KINDS)
    numbers = [numeric(v) for v in raw]
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


def value_count(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    _, values = _metric_values(agg, hits, context, {"keyword"} | NUMERIC_KINDS)
    return {"value": len(values)}


def cardinality(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    _, values = _metric_values(agg, hits, context, {"keyword"} | NUMERIC_KINDS)
    return {"value": len({term_key(v) for v in values})}


def stats(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    kind, raw = _metric_values(agg, hits, context, NUMERIC_KINDS)
    numbers = [numeric(v) for v in raw]
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


def top_hits(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    params = agg.params
    start = int_param(agg, "from", 0, 0, "[from] parameter cannot be negative but was [{value}]")
    size = int_param(agg, "size", 3, 0, "[size] parameter cannot be negative, found [{value}]")
    request = SearchRequest(query={"match_all": {}}, source=parse_source_spec(params.get("_source", True),
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
        ranked = sort_hit_list(copies, request.sort, order)
    else:
        ranked = sorted(copies, key=lambda h: (-h.score, order[h.state.name], h.view.docs[h.id].ordinal))
    page = ranked[start:start + size]
    sorted_by_fields = bool(request.sort)
    max_score = None if sorted_by_fields and not request.track_scores else max((h.score for h in hits), default=None)
    return {"hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": max_score,
                     "hits": [render_hit(h, request, sorted_by_fields) for h in page]}}

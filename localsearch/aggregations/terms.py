"""The `terms` bucket aggregation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from localsearch.aggregations.base import (
    NUMERIC_KINDS,
    Agg,
    Context,
    field_path,
    int_param,
    missing_value,
    read_min_doc_count,
    subs,
    values_or_missing,
)
from localsearch.aggregations.formats import DateFormatter
from localsearch.aggregations.order import parse_order, sort_buckets
from localsearch.hits import Hit
from localsearch.sorting import field_values
from searchcore.errors import IllegalArgument


def terms(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    path = field_path(agg)
    size = int_param(agg, "size", 10, 1, "[size] must be greater than 0. Found [{value}] in [{name}]")
    min_doc_count = read_min_doc_count(agg, 1)
    kind = context.kind(agg, path, {"keyword"} | NUMERIC_KINDS)
    missing = missing_value(agg, kind)
    accept = _term_filter(agg)
    groups: dict[Any, list[Hit]] = {}
    for hit in hits:
        for key in dict.fromkeys(term_key(v) for v in values_or_missing(hit, path, missing, context)):
            groups.setdefault(key, []).append(hit)
    if min_doc_count == 0:  # OpenSearch then lists every term of the index, matched or not
        for view in context.views:
            for doc_id in view.docs:
                for value in field_values(view, doc_id, path):
                    groups.setdefault(term_key(value), [])
    formatter = DateFormatter(agg.params.get("format") or context.date_format(path)) if kind == "date" else None
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
        bucket.update(subs(agg, docs, context))
        buckets.append(bucket)
    orders = parse_order(agg, [("_count", False), ("_key", True)])
    buckets = sort_buckets(buckets, orders)
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


def term_key(value: Any) -> Any:
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

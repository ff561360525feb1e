"""Bucket `order`: parse it, and sort buckets by count, key or a sub-aggregation's value."""

from __future__ import annotations

import functools
from typing import Any

from localsearch.aggregations.base import Agg
from searchcore.errors import IllegalArgument, ParsingError


def parse_order(agg: Agg, default: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
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


def sort_buckets(buckets: list[dict[str, Any]], orders: list[tuple[str, bool]]) -> list[dict[str, Any]]:
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

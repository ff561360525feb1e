"""`sort` and `search_after`: parse sort keys, compute each hit's sort values as OpenSearch reports them, compare.

A document without a value gets the value Lucene's comparator substitutes for it (Long.MAX_VALUE for a long
sorted ascending with missing `_last`, "Infinity" for a float, and so on), so that order and `search_after`
work on plain values, exactly as the real node's do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from localsearch.coercion import coerce_value, iter_leaf_values
from localsearch.failures import QueryShardError, ShardError
from localsearch.index import View
from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES, FieldMapping
from searchcore.errors import IllegalArgument, ParsingError, SearchError

META_KEYS = ("_score", "_doc", "_id")
LONG_MAX, LONG_MIN = 2**63 - 1, -(2**63)
INT_MAX, INT_MIN = 2**31 - 1, -(2**31)
FIELDDATA = ("Text fields are not optimised for operations that require per-document field data like aggregations "
             "and sorting, so these operations are disabled by default. Please use a keyword field instead. "
             "Alternatively, set fielddata=true on [{}] in order to load field data by uninverting the inverted "
             "index. Note that this can use significant memory.")


@dataclass(frozen=True)
class SortKey:
    field: str
    order: str  # "asc" | "desc"
    missing: Any = "_last"
    unmapped_type: str | None = None


def parse_sort(value: Any, from_url: bool = False) -> list[SortKey] | None:
    """The sort keys, or None for the default order (`_score` descending)."""
    if value is None:
        return None
    if isinstance(value, str) and from_url:  # only the URL parameter has the `field:order` form
        entries: list[Any] = []
        for part in (p for p in value.split(",") if p):
            name, _, order = part.partition(":")
            entries.append({name: order} if order else name)
    elif isinstance(value, list):
        entries = value
    else:
        entries = [value]
    keys = [_parse_entry(entry) for entry in entries]
    if [k.field for k in keys] == ["_score"] and keys[0].order == "desc":
        return None
    return keys


def _parse_entry(entry: Any) -> SortKey:
    if isinstance(entry, str):
        return SortKey(entry, "desc" if entry == "_score" else "asc")
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ParsingError("[sort] malformed, expected a field name or an object with one field")
    name, spec = next(iter(entry.items()))
    if isinstance(spec, str):
        spec = {"order": spec}
    if not isinstance(spec, dict):
        raise ParsingError(f"[sort] malformed for field [{name}]")
    order = str(spec.get("order", "desc" if name == "_score" else "asc")).lower()
    if order not in ("asc", "desc"):
        raise IllegalArgument(f"Unknown SortOrder [{order}]")
    return SortKey(name, order, spec.get("missing", "_last"), spec.get("unmapped_type"))


def tracks_scores(keys: list[SortKey] | None) -> bool:
    return keys is None or any(k.field == "_score" for k in keys)


def check_sort(keys: Sequence[SortKey], view: View) -> None:
    """The shard's checks: every sort field mapped (or given an unmapped_type) and sortable."""
    for key in keys:
        if key.field in META_KEYS:
            continue
        spec = view.mapping.fields.get(key.field)
        if spec is None and key.unmapped_type is None:
            raise QueryShardError(f"No mapping found for [{key.field}] in order to sort on")
        if spec is not None and spec.type == "text":
            raise ShardError(FIELDDATA.format(key.field))
        if spec is not None and spec.type == "knn_vector":
            raise ShardError(f"Field [{key.field}] of type [knn_vector] does not support sorting")


def sort_values(keys: Sequence[SortKey], view: View, doc_id: str, score: float) -> list[Any]:
    return [_value(key, view, doc_id, score) for key in keys]


def _value(key: SortKey, view: View, doc_id: str, score: float) -> Any:
    if key.field == "_score":
        return score
    if key.field == "_doc":
        return view.docs[doc_id].ordinal
    if key.field == "_id":
        return doc_id
    spec = view.mapping.fields.get(key.field)
    kind = spec.type if spec is not None else key.unmapped_type
    values = field_values(view, doc_id, key.field) if spec is not None else []
    if not values:
        return _missing(key, str(kind))
    if kind == "boolean":
        values = [int(v) for v in values]
    chosen = min(values) if key.order == "asc" else max(values)
    return _as_float32(chosen) if kind in ("float", "half_float") else chosen


def _missing(key: SortKey, kind: str) -> Any:
    """What Lucene sorts (and reports) for a document without a value."""
    first = key.missing == "_first"
    if key.missing not in ("_last", "_first"):
        return _custom_missing(key.missing, kind)
    low = first == (key.order == "asc")  # the value that sorts before every other
    if kind in FLOAT_TYPES:
        return "-Infinity" if low else "Infinity"
    if kind in ("long", "date", "date_nanos"):
        return LONG_MIN if low else LONG_MAX
    if kind in INTEGER_TYPES or kind == "boolean":
        return INT_MIN if low else INT_MAX
    return None  # keyword: no value, placed by the comparator


def _custom_missing(value: Any, kind: str) -> Any:
    if kind in ("keyword", "None"):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SearchError(f'For input string: "{value}"', status=400, error_type="number_format_exception") from None
    if kind in FLOAT_TYPES:
        return number
    return int(number)


def _as_float32(value: float) -> float:
    """A float field's value as OpenSearch prints it: the float32, in its shortest decimal form."""
    return float(str(np.float32(value)))


def field_values(view: View, doc_id: str, path: str) -> list[Any]:
    """A field's coerced values for one document (subfields read their parent's source)."""
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


# ---- comparing --------------------------------------------------------------------------------

def compare(a: Sequence[Any], b: Sequence[Any], keys: Sequence[SortKey]) -> int:
    for x, y, key in zip(a, b, keys, strict=True):
        result = _compare_one(x, y, key)
        if result:
            return result
    return 0


def _compare_one(x: Any, y: Any, key: SortKey) -> int:
    if x is None or y is None:  # keyword without a value: placed by `missing`, whatever the order
        if x is None and y is None:
            return 0
        first = key.missing == "_first"
        return (-1 if first else 1) if x is None else (1 if first else -1)
    x, y = _comparable(x), _comparable(y)
    if x == y:
        return 0
    result = -1 if x < y else 1
    return result if key.order == "asc" else -result


def _comparable(value: Any) -> Any:
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    return value


def parse_search_after(after: Any, keys: Sequence[SortKey], view: View) -> list[Any]:
    """search_after values as the sort values they are compared with (dates may be given as strings)."""
    if len(after) != len(keys):
        raise ShardError(f"search_after has {len(after)} value(s) but sort has {len(keys)}.")
    return [_after_value(value, key, view) for value, key in zip(after, keys, strict=True)]


def _after_value(value: Any, key: SortKey, view: View) -> Any:
    if value is None or key.field in ("_score", "_doc", "_id"):
        return value
    spec = view.mapping.fields.get(key.field)
    if spec is None or spec.type == "keyword" or value in ("Infinity", "-Infinity"):
        return value
    try:
        return _coerce_after(spec, value)
    except (SearchError, ValueError, TypeError) as exc:
        cause = {"type": "number_format_exception", "reason": f'For input string: "{value}"'}
        raise ShardError(f"Failed to parse search_after value for field [{key.field}].",
                         extra={"caused_by": cause}) from exc


def _coerce_after(spec: FieldMapping, value: Any) -> Any:
    if spec.type == "date" and not isinstance(value, (int, float)):
        return coerce_value(spec, value, "search_after")
    if spec.type in FLOAT_TYPES:
        return float(value)
    if spec.type == "boolean":
        return int(value) if not isinstance(value, str) else int(value == "true")
    return int(value)


def sort_hits(items: list[Any], values_of: Callable[[Any], list[Any]], keys: Sequence[SortKey],
              tie: Callable[[Any], tuple]) -> list[Any]:
    """Items in sort order; equal sort values fall back to `tie` (index order, then document order)."""
    import functools

    def order(a: Any, b: Any) -> int:
        result = compare(values_of(a), values_of(b), keys)
        if result:
            return result
        ta, tb = tie(a), tie(b)
        return (ta > tb) - (ta < tb)

    return sorted(items, key=functools.cmp_to_key(order))

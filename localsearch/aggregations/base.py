"""What every aggregation kind shares: the parsed Agg, the per-request Context, and readers of fields and parameters."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localsearch.datemath import parse_date_millis
from localsearch.dsl import compile_query
from localsearch.failures import ShardError
from localsearch.hits import Hit
from localsearch.index import View
from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES
from localsearch.sorting import field_values
from searchcore.errors import IllegalArgument, ParsingError

FIELDDATA = ("Text fields are not optimised for operations that require per-document field data like aggregations "
             "and sorting, so these operations are disabled by default. Please use a keyword field instead. "
             "Alternatively, set fielddata=true on [{}] in order to load field data by uninverting the inverted "
             "index. Note that this can use significant memory.")


NUMERIC_KINDS = {"long", "double", "date", "boolean"}


@dataclass
class Agg:
    """One parsed aggregation: its name, type, the type's parameters, sub-aggregations, meta."""

    name: str
    type: str
    params: Any
    subs: list[Agg]
    meta: dict[str, Any] | None = None


Handler = Callable[[Agg, list[Hit], "Context"], dict[str, Any]]


class Context:
    """One request's run: the handler of each aggregation type, and caches of field values per document and
    filter matches per index view."""

    def __init__(self, hits: list[Hit], handlers: Mapping[str, Handler]) -> None:
        self._handlers = handlers  # given, not imported: the kinds' modules import this one
        self.views: list[View] = list({id(h.view): h.view for h in hits}.values())
        self._values: dict[tuple[int, str, str], list[Any]] = {}
        self._matches: dict[tuple[int, str], set[str]] = {}

    def run(self, agg: Agg, hits: list[Hit]) -> dict[str, Any]:
        result = self._handlers[agg.type](agg, hits, self)
        return {"meta": agg.meta, **result} if agg.meta is not None else result

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


def subs(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    return {sub.name: context.run(sub, hits) for sub in agg.subs}


def field_path(agg: Agg) -> str:
    path = agg.params.get("field")
    if not isinstance(path, str) or not path:
        raise IllegalArgument("Required one of fields [field, script], but none were specified. ")
    return path


def int_param(agg: Agg, key: str, default: int, minimum: int, message: str) -> int:
    value = agg.params.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ParsingError(f"[{agg.type}] failed to parse field [{key}]") from exc
    if number < minimum:
        raise IllegalArgument(message.format(value=number, name=agg.name))
    return number


def read_min_doc_count(agg: Agg, default: int) -> int:
    return int_param(agg, "min_doc_count", default, 0,
                      "[minDocCount] must be greater than or equal to 0. Found [{value}] in [{name}]")


def numeric(value: Any) -> float:
    return float(int(value)) if isinstance(value, bool) else float(value)


def missing_value(agg: Agg, kind: str | None) -> Any:
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


def values_or_missing(hit: Hit, path: str, missing: Any, context: Context) -> list[Any]:
    values = context.values(hit, path)
    return values if values or missing is None else [missing]

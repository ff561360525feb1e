"""Index mappings: parse and validate them, and map new fields of documents dynamically."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from localsearch.datemath import parse_date_or_none
from localsearch.mapping_rules import expand_dotted
from searchcore.errors import IllegalArgument, MapperParsingError, SearchError

INTEGER_TYPES = {"long": 2**63, "integer": 2**31, "short": 2**15, "byte": 2**7}
FLOAT_TYPES = {"double", "float", "half_float", "scaled_float"}
LEAF_TYPES = {"text", "keyword", "date", "boolean", "knn_vector"} | set(INTEGER_TYPES) | FLOAT_TYPES
OBJECT_TYPES = {"object"}
DEFAULT_IGNORE_ABOVE = 256
# OpenSearch's default for index.mapping.total_fields.limit
TOTAL_FIELDS_LIMIT = 1000
# date_detection's default dynamic_date_formats accept these shapes
_DATE_DETECT = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
                          r"|^\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?$")


class StrictDynamicMapping(SearchError):
    status, error_type = 400, "strict_dynamic_mapping_exception"


@dataclass(frozen=True)
class FieldMapping:
    """One indexed leaf field, addressed by its full dotted path (subfields included)."""

    path: str
    type: str
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_text(self) -> bool:
        return self.type == "text"

    @property
    def is_numeric(self) -> bool:
        return self.type in INTEGER_TYPES or self.type in FLOAT_TYPES

    @property
    def ignore_above(self) -> int | None:
        return self.params.get("ignore_above")


class Mapping:
    """The mapping of one index: its JSON form (as GET _mapping returns it) and its leaf fields."""

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        body = copy.deepcopy(body or {})
        _check_root(body)
        if isinstance(body.get("properties"), dict):
            body["properties"] = expand_dotted(body["properties"])
        self.body: dict[str, Any] = body
        self.body.setdefault("properties", {})
        self.fields: dict[str, FieldMapping] = {}
        self.subfields: dict[str, list[str]] = {}
        self._collect(self.body["properties"], "")

    # ---- reading the mapping -------------------------------------------------------------
    @property
    def dynamic(self) -> str:
        return str(self.body.get("dynamic", "true")).lower()

    @property
    def meta(self) -> dict[str, Any]:
        return self.body.get("_meta", {})

    def vector_fields(self) -> dict[str, FieldMapping]:
        return {p: f for p, f in self.fields.items() if f.type == "knn_vector"}

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy(self.body)

    def _collect(self, properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            kind = spec.get("type", "object" if "properties" in spec else None)
            if kind in OBJECT_TYPES or kind is None:
                self._collect(spec.get("properties", {}), f"{path}.")
                continue
            self.fields[path] = FieldMapping(path, kind, _leaf_params(spec))
            for sub, sub_spec in spec.get("fields", {}).items():
                sub_path = f"{path}.{sub}"
                self.fields[sub_path] = FieldMapping(sub_path, sub_spec["type"], _leaf_params(sub_spec))
                self.subfields.setdefault(path, []).append(sub_path)

    # ---- changing the mapping ------------------------------------------------------------
    def merged(self, update: dict[str, Any]) -> Mapping:
        """The mapping after PUT _mapping: new fields added, existing ones must not change type."""
        _check_root(update)
        body = copy.deepcopy(self.body)
        for key, value in update.items():
            if key == "properties":
                _merge_properties(body["properties"], expand_dotted(value), "")
            else:
                body[key] = copy.deepcopy(value)
        merged = Mapping(body)
        merged._check_limit()
        return merged

    def _check_limit(self) -> None:
        if len(self.fields) > TOTAL_FIELDS_LIMIT:
            raise IllegalArgument(f"Limit of total fields [{TOTAL_FIELDS_LIMIT}] has been exceeded")

    def dynamic_update(self, source: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
        """The properties to add so that `source` is fully mapped, or None when nothing is new."""
        update: dict[str, Any] = {}
        self._dynamic_walk(source, self.body["properties"], update, "", doc_id, self.dynamic)
        return update or None

    def _dynamic_walk(self, obj: dict[str, Any], known: dict[str, Any], update: dict[str, Any],
                      prefix: str, doc_id: str, dynamic: str) -> None:
        for name, value in obj.items():
            if not name or name.strip() == "":
                raise MapperParsingError("field name cannot be an empty string")
            spec = known.get(name)
            path = f"{prefix}{name}"
            if spec is not None:
                child_dynamic = str(spec.get("dynamic", dynamic)).lower()
                _check_shape(path, spec, value, doc_id)
                if _is_object_spec(spec) and isinstance(value, dict):
                    sub_update: dict[str, Any] = {}
                    self._dynamic_walk(value, spec.get("properties", {}), sub_update, f"{path}.",
                                       doc_id, child_dynamic)
                    if sub_update:
                        update[name] = {"properties": sub_update}
                continue
            guessed = _guess_mapping(value)
            if guessed is None:
                continue
            if dynamic == "strict":
                raise StrictDynamicMapping(
                    f"mapping set to strict, dynamic introduction of [{name}] within "
                    f"[{prefix.rstrip('.') or '_doc'}] is not allowed")
            if dynamic == "false":
                continue
            if guessed.get("type") == "object":
                sub_update = {}
                first = _first_value(value)
                self._dynamic_walk(first, {}, sub_update, f"{path}.", doc_id, dynamic)
                guessed = {"properties": sub_update}
            update[name] = guessed


def _check_root(body: dict[str, Any]) -> None:
    if not isinstance(body, dict):
        raise MapperParsingError("Failed to parse mapping: mapping must be an object")
    allowed = {"properties", "_meta", "dynamic", "_source", "dynamic_templates", "date_detection",
               "numeric_detection", "_routing"}
    for key in body:
        if key not in allowed:
            raise MapperParsingError(f"Root mapping definition has unsupported parameters:  [{key} : "
                                     f"{body[key]!r}]")
    if "_meta" in body and not isinstance(body["_meta"], dict):
        raise MapperParsingError("[_meta] must be an object")
    _check_properties(body.get("properties", {}), "")


def _check_properties(properties: Any, prefix: str) -> None:
    if not isinstance(properties, dict):
        raise MapperParsingError(f"Expected map for property [properties] on field [{prefix.rstrip('.')}]")
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if not isinstance(spec, dict):
            raise MapperParsingError(f"Expected map for property [fields] on field [{path}] but got a "
                                     f"class {type(spec).__name__}")
        kind = spec.get("type", "object" if "properties" in spec else None)
        if kind is None:
            raise MapperParsingError(f"No type specified for field [{path}]")
        if kind in OBJECT_TYPES:
            _check_properties(spec.get("properties", {}), f"{path}.")
            continue
        if kind not in LEAF_TYPES:
            raise MapperParsingError(f"No handler for type [{kind}] declared on field [{name}]")
        if kind == "knn_vector":
            _check_knn(spec, path)
        for sub, sub_spec in spec.get("fields", {}).items():
            if not isinstance(sub_spec, dict) or sub_spec.get("type") not in LEAF_TYPES - {"knn_vector"}:
                raise MapperParsingError(
                    f"No handler for type [{(sub_spec or {}).get('type')}] declared on field [{sub}]")


def _check_knn(spec: dict[str, Any], path: str) -> None:
    dimension = spec.get("dimension")
    if isinstance(dimension, str) and dimension.isdigit():
        dimension = int(dimension)
    if not isinstance(dimension, int) or isinstance(dimension, bool):
        raise MapperParsingError(f"Dimension value missing for vector: {path}")
    if not 1 <= dimension <= 16000:
        raise MapperParsingError(f"Dimension value cannot be greater than 16000 for vector: {path}")
    method = spec.get("method", {})
    space = method.get("space_type", spec.get("space_type", "l2"))
    if space not in ("l2", "cosinesimil", "innerproduct"):
        raise MapperParsingError(f"Unable to find space: {space}")
    if method.get("name", "hnsw") != "hnsw":
        raise MapperParsingError(f"Invalid method name: {method.get('name')}")
    if method.get("engine", "faiss") not in ("faiss", "lucene", "nmslib"):
        raise MapperParsingError(f"Invalid engine type: {method.get('engine')}")


def _leaf_params(spec: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in spec.items() if k not in ("type", "fields")}
    if spec.get("type") == "knn_vector":
        method = spec.get("method", {})
        params = {
            "dimension": int(spec["dimension"]),
            "space_type": method.get("space_type", spec.get("space_type", "l2")),
            "engine": method.get("engine", "faiss"),
            "m": method.get("parameters", {}).get("m", 16),
            "ef_construction": method.get("parameters", {}).get("ef_construction", 100),
            "ef_search": method.get("parameters", {}).get("ef_search", 100),
        }
    return params


def _is_object_spec(spec: dict[str, Any]) -> bool:
    return spec.get("type", "object" if "properties" in spec else None) == "object"


def _merge_properties(target: dict[str, Any], update: dict[str, Any], prefix: str) -> None:
    for name, spec in update.items():
        path = f"{prefix}{name}"
        if name not in target:
            target[name] = copy.deepcopy(spec)
            continue
        current = target[name]
        if _is_object_spec(current) and _is_object_spec(spec):
            _merge_properties(current.setdefault("properties", {}), spec.get("properties", {}), f"{path}.")
            continue
        old_type = current.get("type", "object")
        new_type = spec.get("type", "object")
        if old_type != new_type:
            raise IllegalArgument(f"mapper [{path}] cannot be changed from type [{old_type}] to [{new_type}]")
        if new_type == "knn_vector" and spec.get("dimension") != current.get("dimension"):
            raise IllegalArgument(f"Cannot update parameter [dimension] from [{current.get('dimension')}] "
                                  f"to [{spec.get('dimension')}]")
        merged_fields = {**current.get("fields", {}), **spec.get("fields", {})}
        current.update({k: v for k, v in spec.items() if k != "fields"})
        if merged_fields:
            current["fields"] = merged_fields


def _check_shape(path: str, spec: dict[str, Any], value: Any, doc_id: str) -> None:
    if spec.get("type") == "knn_vector":
        return  # vectors are validated whole by the vector field
    items = value if isinstance(value, list) else [value]
    has_object = any(isinstance(v, dict) for v in items)
    if _is_object_spec(spec):
        if any(v is not None and not isinstance(v, dict) for v in items):
            raise MapperParsingError(f"object mapping for [{path}] tried to parse field [{path}] as object, "
                                     "but found a concrete value")
    elif has_object and spec.get("type") != "knn_vector":
        raise MapperParsingError(
            f"failed to parse field [{path}] of type [{spec.get('type')}] in document with id '{doc_id}'. "
            f"Preview of field's value: '{str(value)[:100]}'")


def _first_value(value: Any) -> Any:
    if isinstance(value, list):
        return next((v for v in value if v is not None), None)
    return value


def _guess_mapping(value: Any) -> dict[str, Any] | None:
    """OpenSearch's dynamic mapping for a JSON value (arrays take their first non-null element)."""
    value = _first_value(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, dict):
        return {"type": "object"}
    if isinstance(value, str):
        if _DATE_DETECT.match(value) and parse_date_or_none(value) is not None:
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": DEFAULT_IGNORE_ABOVE}}}
    return None

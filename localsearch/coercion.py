"""A document's leaf values, each coerced as its mapped field stores it, as OpenSearch's mappers do."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from localsearch.datemath import parse_date_millis
from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES, FieldMapping
from searchcore.errors import MapperParsingError


def iter_leaf_values(source: dict[str, Any], prefix: str = "", opaque: frozenset[str] = frozenset()):
    """Yield (dotted path, list of non-null values) for every leaf of a document's source.

    Paths in `opaque` (vector fields) are yielded with their raw value, unscanned.
    """
    for name, value in source.items():
        path = f"{prefix}{name}"
        if path in opaque:
            yield path, value
            continue
        if isinstance(value, dict):
            yield from iter_leaf_values(value, f"{path}.", opaque)
            continue
        values = value if isinstance(value, list) else [value]
        objects = [v for v in values if isinstance(v, dict)]
        for obj in objects:
            yield from iter_leaf_values(obj, f"{path}.", opaque)
        leaves = [v for v in values if v is not None and not isinstance(v, dict)]
        if leaves or not objects:
            yield path, leaves


def coerce_value(mapping: FieldMapping, value: Any, doc_id: str) -> Any:
    """The value as the field stores it, or a mapper_parsing_exception as OpenSearch words it."""
    try:
        return _coerce(mapping, value)
    except (ValueError, TypeError, OverflowError) as exc:
        preview = value if not isinstance(value, str) else value[:100]
        numeric = mapping.is_numeric and isinstance(value, str)
        cause = ({"type": "number_format_exception", "reason": f'For input string: "{preview}"'} if numeric
                 else {"type": "illegal_argument_exception", "reason": str(exc)})
        raise MapperParsingError(
            f"failed to parse field [{mapping.path}] of type [{mapping.type}] in document with id "
            f"'{doc_id}'. Preview of field's value: '{preview}'", extra={"caused_by": cause},
        ) from exc


def _coerce(mapping: FieldMapping, value: Any) -> Any:
    kind = mapping.type
    if kind in ("text", "keyword"):
        if isinstance(value, (dict, list)):
            raise ValueError(f"Can't get text on a {'START_OBJECT' if isinstance(value, dict) else 'START_ARRAY'}")
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else _number_text(value)
    if kind in INTEGER_TYPES:
        return _coerce_integer(value, INTEGER_TYPES[kind])
    if kind in FLOAT_TYPES:
        number = float(value) if not isinstance(value, bool) else _fail_bool(value)
        if math.isnan(number) or math.isinf(number):
            raise ValueError(f"[{kind}] supports only finite values, but got [{number}]")
        return stored_float(mapping, number)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        if value == "":
            return False
        raise ValueError(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
    if kind == "date":
        return parse_date_millis(value)
    raise ValueError(f"unsupported type [{kind}]")


def stored_float(mapping: FieldMapping, number: float) -> float:
    """The value a floating-point field holds: float32, float16, or a long scaled by `scaling_factor`."""
    if mapping.type == "float":
        return float(np.float32(number))
    if mapping.type == "half_float":
        return float(np.float16(number))
    if mapping.type == "scaled_float":
        factor = float(mapping.params.get("scaling_factor", 1))
        return math.floor(number * factor + 0.5) / factor  # Java's Math.round, then read back
    return number


def _fail_bool(value: Any) -> float:
    raise ValueError(f"Current token (VALUE_{str(value).upper()}) not numeric, can not use numeric value accessors")


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def _coerce_integer(value: Any, bound: int) -> int:
    if isinstance(value, bool):
        _fail_bool(value)
    if isinstance(value, str):
        value = value.strip()
        number = int(value) if re.fullmatch(r"[+-]?\d+", value) else float(value)
    else:
        number = value
    if isinstance(number, float):
        if math.isnan(number) or math.isinf(number):
            raise ValueError(f"Value [{number}] is out of range")
        number = int(number)  # OpenSearch coerces by truncation
    if not -bound <= number < bound:
        raise ValueError(f"Value [{value}] is out of range for a field of this type")
    return number

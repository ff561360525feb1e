"""A document's knn_vector value parsed and refused as OpenSearch's mapper does."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from searchcore.errors import MapperParsingError


class _Rejected(Exception):
    """Why a knn_vector value was refused: the cause OpenSearch nests under `caused_by`."""

    def __init__(self, error_type: str, reason: str, preview: Any = None) -> None:
        super().__init__(reason)
        self.error_type, self.reason, self.preview = error_type, reason, preview


_JAVA_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?")
_JACKSON_TOKENS = {True: "VALUE_TRUE", False: "VALUE_FALSE", None: "VALUE_NULL"}


def check_vector(value: Any, dimension: int, space_type: str = "l2", *, field: str | None = None,
                 doc_id: str | None = None) -> np.ndarray | None:
    """Parse a document's knn_vector value as OpenSearch's mapper does; None when the value is null.

    Accepts a list of numbers (numeric strings are coerced, like OpenSearch) or a single number.
    With `field` and `doc_id` the error is OpenSearch's exactly: "failed to parse field [...] of
    type [knn_vector] in document with id '...'" with the cause under `caused_by`; without them the
    cause's own message is the reason.
    """
    if value is None:
        return None
    try:
        vector = _parse_floats(value)
        if len(vector) != dimension:
            raise _Rejected("illegal_argument_exception",
                            f"Vector dimension mismatch. Expected: {dimension}, Given: {len(vector)}",
                            None if isinstance(value, list) or _is_number(value) else value)
        if space_type == "cosinesimil" and not vector.any():
            raise _Rejected("illegal_argument_exception", zero_vector_reason(space_type))
    except _Rejected as exc:
        if field is None or doc_id is None:
            raise MapperParsingError(exc.reason) from None
        raise MapperParsingError(
            f"failed to parse field [{field}] of type [knn_vector] in document with id '{doc_id}'. "
            f"Preview of field's value: '{_java_str(exc.preview)}'",
            extra={"caused_by": {"type": exc.error_type, "reason": exc.reason}}) from None
    return vector


def _parse_floats(value: Any) -> np.ndarray:
    if isinstance(value, list) and all(type(item) in (float, int) for item in value):
        # the common case, a list of JSON numbers: one vectorised conversion instead of one call per item
        with np.errstate(over="ignore"):
            try:
                fast = np.asarray(value, dtype=np.float32)
            except OverflowError:
                fast = None
        if fast is not None and np.isfinite(fast).all():
            return fast
    if isinstance(value, list):
        items = value
    elif _is_number(value):
        items = [value]
    else:  # OpenSearch reads nothing from a string, boolean or object here: "Given: 0"
        items = []
    vector = np.empty(len(items), dtype=np.float32)
    for i, item in enumerate(items):
        vector[i] = _parse_float(item)
    return vector


def _parse_float(item: Any) -> np.float32:
    if isinstance(item, str):
        number = _java_parse_float(item)
    elif _is_number(item):
        try:
            number = float(item)
        except OverflowError:  # an integer past float range: Java's float conversion gives infinity
            number = math.copysign(math.inf, item)
    else:
        token = _JACKSON_TOKENS.get(item) if isinstance(item, bool) or item is None else (
            "START_ARRAY" if isinstance(item, list) else "START_OBJECT")
        raise _Rejected("json_parse_exception",
                        f"Current token ({token}) not numeric, can not use numeric value accessors",
                        item)
    with np.errstate(over="ignore"):
        as_float32 = np.float32(number)
    if np.isnan(as_float32):
        raise _Rejected("illegal_argument_exception", "KNN vector values cannot be NaN", item)
    if np.isinf(as_float32):
        raise _Rejected("illegal_argument_exception", "KNN vector values cannot be infinity", item)
    return as_float32


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _java_parse_float(text: str) -> float:
    """Java's Float.parseFloat, which OpenSearch uses to coerce numeric strings."""
    stripped = text.strip()
    unsigned = stripped.lstrip("+-")
    if unsigned in ("NaN", "Infinity") and len(stripped) - len(unsigned) <= 1:
        return float(stripped.replace("Infinity", "inf"))
    if _JAVA_FLOAT.fullmatch(stripped):
        return float(stripped.rstrip("fFdD"))
    raise _Rejected("number_format_exception",
                    "empty String" if not stripped else f'For input string: "{text}"', text)


def _java_str(value: Any) -> str:
    """How Java prints the parsed value in OpenSearch's "Preview of field's value"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if value == 0 or 1e-3 <= abs(value) < 1e7:
            return repr(value)
        mantissa, exponent = np.format_float_scientific(value, unique=True, trim="0").split("e")
        return f"{mantissa}E{int(exponent)}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


def zero_vector_reason(space_type: str) -> str:
    return f"zero vector is not supported when space type is [{space_type}]"

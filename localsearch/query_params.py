"""Query parameters read as OpenSearch's query parsers read them, with the errors they raise (checked against
OpenSearch 3.6).

A query's parameters are read in the order the request gives them, so the first bad one is the one reported.
Most query parsers are hand-written loops over the JSON tokens (`MatchQueryBuilder.fromXContent` and its kin):
those that check the token first refuse a `null`, an array or an object where a value belongs
(`[match] unknown token [VALUE_NULL] after [operator]`); the others (range, term, prefix, wildcard) hand any
token to Jackson's accessors. `bool`, `knn`, `ids` and `match_all` are declared with an ObjectParser instead, whose
errors are worded differently (`[bool] boost doesn't support values of type: VALUE_BOOLEAN`). The accessors
coerce as XContentParser does: strings to numbers, numbers truncated to integers, `"true"`/`"false"` to booleans.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from localsearch.failures import QueryShardError, WrappedError
from searchcore.errors import IllegalArgument, ParsingError, SearchError


class NumberFormatError(SearchError):
    status, error_type = 400, "number_format_exception"


class JsonParseError(SearchError):
    status, error_type = 400, "json_parse_exception"


class IllegalStateError(SearchError):
    """What a parser that reads text from an array, an object or null throws: OpenSearch answers it with a 500."""

    status, error_type = 500, "illegal_state_exception"


class ObjectParserError(WrappedError):
    """An ObjectParser's field whose value did not parse: `[bool] failed to parse field [boost]`."""

    status, error_type = 400, "x_content_parse_exception"


class ObjectParserTypeError(SearchError):
    """An ObjectParser's field given a token it does not take: `[bool] boost doesn't support values of type: …`."""

    status, error_type = 400, "x_content_parse_exception"


def jackson_token(value: Any) -> str:
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "START_ARRAY" if isinstance(value, list) else "START_OBJECT"


def object_token(value: Any) -> str:
    """The token as ObjectParser names it (one VALUE_NUMBER, one VALUE_BOOLEAN)."""
    token = jackson_token(value)
    if token.startswith("VALUE_NUMBER"):
        return "VALUE_NUMBER"
    return "VALUE_BOOLEAN" if token in ("VALUE_TRUE", "VALUE_FALSE") else token


def is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (list, dict))


# ---- XContentParser's accessors ------------------------------------------------------------------------------

def java_text(value: Any) -> str:
    if value is None or isinstance(value, (list, dict)):
        raise IllegalStateError(f"Can't get text on a {jackson_token(value)} at 1:1")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e7:
        return f"{value:.1f}"
    return str(value)


def _parse_java_double(text: str) -> float:
    """Java's Double.parseDouble: surrounding whitespace allowed, a trailing d/f/D/F type suffix too."""
    stripped = text.strip()
    if not stripped:
        raise NumberFormatError("empty String")
    core = stripped[:-1] if stripped[-1] in "dfDF" else stripped
    if core.lower() in ("nan", "infinity", "-infinity", "+infinity", "inf", "-inf", "+inf") and \
            core not in ("NaN", "Infinity", "-Infinity", "+Infinity"):
        raise NumberFormatError(f'For input string: "{text}"')
    try:
        return float(core)
    except ValueError as exc:
        raise NumberFormatError(f'For input string: "{text}"') from exc


def float_value(value: Any) -> float:
    if isinstance(value, str):
        return _parse_java_double(value)
    if value is None or isinstance(value, (bool, list, dict)):
        raise JsonParseError(f"Current token ({jackson_token(value)}) not numeric, can not use numeric value "
                             "accessors")
    return float(value)


def int_value(value: Any) -> int:
    number = float_value(value)
    if not math.isfinite(number):
        return 0
    if isinstance(value, str) and not -2**31 <= number <= 2**31 - 1:
        raise IllegalArgument(f"Value [{value}] is out of range for an integer")
    return int(number)


def bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
    raise JsonParseError(f"Current token ({jackson_token(value)}) not of boolean type")


def java_int(text: str) -> int:
    """Integer.parseInt."""
    stripped = text[1:] if text[:1] in "+-" else text
    if not stripped or not stripped.isdigit() or not stripped.isascii():
        raise NumberFormatError(f'For input string: "{text}"')
    return int(text)


# ---- parameters of one clause ----------------------------------------------------------------------------------

Reader = Callable[[str, str, Any], Any]  # (query name, parameter, JSON value) -> parsed value


def text(query: str, key: str, value: Any) -> str:
    return java_text(value)


def number(query: str, key: str, value: Any) -> float:
    return float_value(value)


def integer(query: str, key: str, value: Any) -> int:
    return int_value(value)


def flag(query: str, key: str, value: Any) -> bool:
    return bool_value(value)


def anything(query: str, key: str, value: Any) -> Any:
    return value


def operator(query: str, key: str, value: Any) -> str:
    name = java_text(value)
    if name.lower() not in ("or", "and"):
        raise IllegalArgument(f"No enum constant org.opensearch.index.query.Operator.{name.upper()}")
    return name.lower()


def zero_terms_query(query: str, key: str, value: Any) -> str:
    name = java_text(value)
    if name.lower() not in ("none", "all"):
        raise ParsingError(f"Unsupported zero_terms_query value [{name}]")
    return name.lower()


def read_params(query: str, params: Mapping[str, Any], readers: Mapping[str, Reader], *,
                checks_tokens: bool = True, unknown: str | None = None) -> dict[str, Any]:
    """Each parameter read in request order by its reader. `checks_tokens`: the parser refuses non-values
    first; `unknown`: the wording for a parameter it does not know (default `[q] query does not support [k]`)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        reader = readers.get(key)
        if reader is None:
            raise ParsingError(unknown.format(key=key) if unknown else f"[{query}] query does not support [{key}]")
        if checks_tokens and reader is not anything and not is_scalar(value):
            raise ParsingError(f"[{query}] unknown token [{jackson_token(value)}] after [{key}]")
        out[key] = reader(query, key, value)
    return out


def check_boost(query: str, boost: float) -> float:
    """AbstractQueryBuilder refuses a negative boost once the clause is parsed."""
    if boost < 0:
        raise IllegalArgument(f"negative [boost] are not allowed in [{query}]")
    return boost


# ---- ObjectParser's fields ---------------------------------------------------------------------------------------

# which JSON tokens an ObjectParser field of each kind takes
_OBJECT_KINDS = {
    "float": ("VALUE_NUMBER", "VALUE_STRING"),
    "boost": ("VALUE_NUMBER", "VALUE_STRING"),
    "int": ("VALUE_NUMBER", "VALUE_STRING"),
    "boolean": ("VALUE_BOOLEAN", "VALUE_STRING"),
    "string": ("VALUE_STRING",),
    "value": ("VALUE_STRING", "VALUE_NUMBER", "VALUE_BOOLEAN"),
}


def object_field(parser: str, key: str, value: Any, kind: str) -> Any:
    """One field of an ObjectParser (`bool`, `knn`, `ids`, `match_all`), refused as it refuses it."""
    if object_token(value) not in _OBJECT_KINDS[kind]:
        raise ObjectParserTypeError(f"[{parser}] {key} doesn't support values of type: {object_token(value)}")
    try:
        if kind == "float":
            return float_value(value)
        if kind == "boost":  # the parser's setter refuses a negative boost: a failure to parse the field
            return check_boost(parser, float_value(value))
        if kind == "int":
            return int_value(value)
        if kind == "boolean":
            return bool_value(value)
        return java_text(value)
    except SearchError as exc:
        raise ObjectParserError(f"[{parser}] failed to parse field [{key}]", exc) from exc


# ---- minimum_should_match ----------------------------------------------------------------------------------------

def minimum_should_match(spec: Any, optional: int) -> int:
    """Queries.calculateMinShouldMatch: how many of `optional` clauses must match ("2", "-1", "75%", "-25%",
    "3<90%", "2<-25% 9<-3"). A spec it cannot read fails the shard, as it fails there."""
    text_spec = java_text(spec).strip()
    try:
        return max(_calculate(optional, text_spec), 0)
    except NumberFormatError as exc:
        raise QueryShardError(f"failed to create query: {exc.reason}",
                              caused_by={"type": exc.error_type, "reason": exc.reason}) from exc


def _calculate(optional: int, spec: str) -> int:
    result = optional
    if "<" in spec:
        spec = re.sub(r"\s*<\s*", "<", spec)
        for part in re.split(r"\s+", spec):
            bound, _, inner = part.partition("<")
            if optional <= java_int(bound):
                return result
            result = _calculate(optional, inner)
        return result
    if "%" in spec:
        percent = java_int(spec[:-1])
        calc = float(_f32(_f32(result * percent) * _f32(1 / 100)))
        return result + int(calc) if calc < 0 else int(calc)
    calc = java_int(spec)
    return result + calc if calc < 0 else calc


def _f32(value: float) -> float:
    return float(np.float32(value))

"""The fields of the compound clauses (bool, knn, dis_max, constant_score), read as their ObjectParsers read them."""

from __future__ import annotations

from typing import Any

from localsearch import query_params as qp
from localsearch.query_params import ObjectParserError, ObjectParserTypeError
from searchcore.errors import IllegalArgument, ParsingError, SearchError

BOOL_CLAUSES = ("must", "should", "filter", "must_not")
BOOL_OPTIONS = {"boost": "boost", "minimum_should_match": "value", "adjust_pure_negative": "boolean",
                "_name": "string"}


def bool_option(key: str, value: Any) -> Any:
    """One of bool's fields, read as its ObjectParser reads it: a clause list (checked here, compiled by the
    caller), boost, minimum_should_match, adjust_pure_negative or _name."""
    if key in BOOL_CLAUSES:
        if value is not None and not isinstance(value, (dict, list)):
            raise ObjectParserTypeError(f"[bool] {key} doesn't support values of type: {qp.object_token(value)}")
        if isinstance(value, list) and any(isinstance(v, list) for v in value):
            raise ObjectParserError(f"[bool] failed to parse field [{key}]",
                                    ObjectParserTypeError("[bool] nested arrays are not queries"))
        return value
    if key not in BOOL_OPTIONS:
        raise ObjectParserTypeError(f"[bool] unknown field [{key}]")
    if value is None and key == "minimum_should_match":
        return None
    return qp.object_field("bool", key, value, BOOL_OPTIONS[key])


KNN_KINDS = {"k": "int", "boost": "float"}  # a negative boost is refused after the clause is read
KNN_OTHERS = ("method_parameters", "rescore", "expand_nested_docs", "_name", "max_distance", "min_score")


def knn_option(key: str, value: Any) -> Any:
    """One of the k-NN plugin parser's fields (the filter is checked here and compiled by the caller)."""
    if key in KNN_KINDS:
        return qp.object_field("knn", key, value, KNN_KINDS[key])
    if key == "vector":
        return _knn_vector(value)
    if key == "filter":
        if not isinstance(value, dict):
            raise ObjectParserTypeError(f"[knn] filter doesn't support values of type: {qp.object_token(value)}")
        if not value:
            raise ObjectParserError("[knn] failed to parse field [filter]",
                                    IllegalArgument("query malformed, empty clause found"))
        return value
    if key in KNN_OTHERS:
        return value
    raise ObjectParserTypeError(f"[knn] unknown field [{key}]")


def dis_max_option(key: str, value: Any) -> Any:
    """dis_max's tie_breaker, boost or _name (its queries are compiled by the caller)."""
    if key not in ("tie_breaker", "boost", "_name") or isinstance(value, (list, dict)):
        raise ParsingError(f"[dis_max] query does not support [{key}]")
    return qp.java_text(value) if key == "_name" else qp.float_value(value)


def constant_score_option(key: str, value: Any) -> Any:
    """constant_score's boost or _name (its filter is compiled by the caller)."""
    if not qp.is_scalar(value):
        raise ParsingError(f"unexpected token [{qp.jackson_token(value)}]")
    if key not in ("boost", "_name"):
        raise ParsingError(f"[constant_score] query does not support [{key}]")
    return qp.java_text(value) if key == "_name" else qp.float_value(value)


def _knn_vector(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise ObjectParserTypeError(f"[knn] vector doesn't support values of type: {qp.object_token(value)}")
    try:
        if not value or any(isinstance(v, bool) or not qp.is_scalar(v) for v in value):
            raise qp.JsonParseError("vector elements must be numbers")
        return [qp.float_value(v) for v in value]
    except SearchError as exc:
        raise ObjectParserError("[knn] failed to parse field [vector]", exc) from exc

"""Term-level queries: term, terms, range, exists, ids, prefix, wildcard; a value matched as its field stores it."""

from __future__ import annotations

import fnmatch
import math
import re
from typing import Any

import numpy as np
from tantivy import Occur, Query

from localsearch import clause_params
from localsearch import query_params as qp
from localsearch.coercion import coerce_value, stored_float
from localsearch.datemath import parse_bound, supported_format
from localsearch.dsl.nodes import Lexical, Node
from localsearch.failures import (
    QueryShardError,
    ShardError,
    unsupported,
)
from localsearch.lexical import BM25_SCALE
from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES, FieldMapping
from searchcore.errors import SearchError


class TermLevelQueries:
    """The compiler's term-level clauses (a mixin of Compiler: self.view, self.lexical, self.mapping)."""

    def exact(self, spec: FieldMapping, value: Any, lenient: bool) -> Query:
        """A term on a non-text field, the value coerced as the field stores it, scored as OpenSearch 3 scores
        it: keyword terms and numeric points are constant (1.0), boolean terms are BM25 without norms."""
        if spec.type == "date":
            return self.date_term(spec, value, lenient)
        if spec.type == "boolean" and value == "":  # documents may hold "" (false); a query may not
            raise QueryShardError("failed to create query: Can't parse boolean value [], expected [true] or [false]",
                                  caused_by={"type": "illegal_argument_exception",
                                             "reason": "Can't parse boolean value [], expected [true] or [false]"})
        try:
            coerced = coerce_value(spec, value, "query")
        except SearchError as exc:
            if lenient:
                return Query.empty_query()
            cause = exc.extra.get("caused_by", {})
            raise QueryShardError(f"failed to create query: {cause.get('reason', exc.reason)}",
                                  caused_by=cause or None) from exc
        query = self.lexical.term(spec.path, coerced)
        if spec.type == "boolean":
            return Query.const_score_query(query, self.unnormed_bm25(spec.path, query))
        return Query.const_score_query(query, 1.0)

    def date_term(self, spec: FieldMapping, value: Any, lenient: bool) -> Query:
        """A date term is the range it names, rounded as date math rounds (`2024-01-16` is that whole day)."""
        if isinstance(value, list):  # Jackson hands the date parser the array's closing bracket
            value = "]"
        try:
            low, high = _date_bound(value, False, None), _date_bound(value, True, None)
        except ShardError:
            if lenient:
                return Query.empty_query()
            raise
        return Query.const_score_query(self.lexical.range(spec.path, low, high, True, True), 1.0)

    def unnormed_bm25(self, path: str, term: Query) -> float:
        """BM25 of a term seen once in a field without norms: idf(N, n) · 1 / (1 + k1)."""
        with_field = self.lexical.count(self.lexical.exists([path]), self.view.searcher)
        with_term = self.lexical.count(term, self.view.searcher)
        idf = math.log(1 + (with_field - with_term + 0.5) / (with_term + 0.5))
        return float(np.float32(idf) * np.float32(BM25_SCALE))

    def q_term(self, spec: dict[str, Any]) -> Node:
        path, params = clause_params.field_params(spec, "term", "value")
        p = clause_params.parse_term(params)
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or (isinstance(p["value"], list) and field_spec.type in ("text", "keyword")):
            return Lexical(Query.empty_query())  # an array is a term no document holds
        if p["case_insensitive"]:
            return Lexical(self.case_insensitive_term(field_spec, p["value"], p["boost"]))
        query = self.exact(field_spec, p["value"], False) if field_spec.type != "text" else \
            self.lexical.term(path, qp.java_text(p["value"]))
        return Lexical(Query.boost_query(query, p["boost"]))

    def case_insensitive_term(self, spec: FieldMapping, value: Any, boost: float) -> Query:
        """An automaton over the term's case variants: constant-scored, on keyword and text fields only."""
        if spec.type not in ("text", "keyword"):
            raise QueryShardError(f"[{spec.path}] field which is of type [{spec.type}], does not support case "
                                  "insensitive term queries")
        regex = "(?i)" + re.escape(qp.java_text(value))
        return Query.const_score_query(Query.regex_query(self.lexical.schema, self.lexical.names[spec.path], regex),
                                       boost)

    def q_terms(self, spec: dict[str, Any]) -> Node:
        path, values, boost = clause_params.parse_terms(spec)
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or not values:
            return Lexical(Query.empty_query())
        if field_spec.type in ("text", "keyword"):  # an object is a term no document holds
            values = [v for v in values if not isinstance(v, dict)]
            if not values:
                return Lexical(Query.empty_query())
        clauses = [(Occur.Should, self.exact(field_spec, v, False) if field_spec.type != "text"
                    else self.lexical.term(path, qp.java_text(v))) for v in values]
        return Lexical(Query.const_score_query(Query.boolean_query(clauses), boost))

    def q_range(self, spec: dict[str, Any]) -> Node:
        path, params = clause_params.field_params(spec, "range", None)
        p = clause_params.parse_range(params)
        field_spec = self.mapping.fields.get(path)
        if field_spec is not None and field_spec.type == "date" and p.get("format") is not None \
                and not supported_format(p["format"]):
            raise unsupported(f"the date format [{p['format']}]")
        boost = p["boost"]
        if field_spec is None:
            return Lexical(Query.empty_query())
        lower, include_lower = _bound(p, "gte", "gt", "from", "include_lower")
        upper, include_upper = _bound(p, "lte", "lt", "to", "include_upper")
        if lower is None and upper is None:
            return Lexical(Query.const_score_query(self.lexical.exists([path]), boost))
        if field_spec.type in ("keyword", "text"):
            return Lexical(Query.const_score_query(
                self.term_range(path, lower, upper, include_lower, include_upper), boost))
        if field_spec.type == "date":
            zone_name = p.get("time_zone")
            low = None if lower is None else _date_bound(lower, not include_lower, zone_name)
            high = None if upper is None else _date_bound(upper, include_upper, zone_name)
        elif field_spec.type in INTEGER_TYPES:
            low = None if lower is None else _integer_lower(lower, include_lower)
            high = None if upper is None else _integer_upper(upper, include_upper)
            include_lower = include_upper = True
        elif field_spec.type in FLOAT_TYPES:
            low = None if lower is None else stored_float(field_spec, _number(lower))
            high = None if upper is None else stored_float(field_spec, _number(upper))
        else:
            raise unsupported(f"[range] queries on [{field_spec.type}] fields")
        query = self.lexical.range(path, low, high, include_lower, include_upper)
        return Lexical(Query.const_score_query(query, boost))

    def term_range(self, path: str, lower: Any, upper: Any, include_lower: bool, include_upper: bool) -> Query:
        """A range over a keyword's (or a text field's tokens') terms, compared as strings (TermRangeQuery)."""
        name = self.lexical.names[path]
        low = None if lower is None else _term_text(lower)
        high = None if upper is None else _term_text(upper)
        terms = [term for term, _ in self.view.searcher.terms_with_prefix(name, "")
                 if (low is None or term > low or (include_lower and term == low))
                 and (high is None or term < high or (include_upper and term == high))]
        if not terms:
            return Query.empty_query()
        return Query.term_set_query(self.lexical.schema, name, terms)

    def q_exists(self, spec: dict[str, Any]) -> Node:
        p = clause_params.parse_exists(spec)
        pattern = p["field"]
        paths = [p for p in self.mapping.fields if fnmatch.fnmatchcase(p, pattern) or p.startswith(pattern + ".")]
        vector_paths = [p for p in paths if self.mapping.fields[p].type == "knn_vector"]
        query = self.lexical.exists([p for p in paths if p not in vector_paths])
        if vector_paths:  # vectors are not in the inverted index: match by document ids
            ids = {d for p in vector_paths for d in self.view.docs if self.view.vectors[p].__contains__(d)}
            query = Query.boolean_query([(Occur.Should, query), (Occur.Should, self.lexical.ids(ids))])
        return Lexical(Query.const_score_query(query, p["boost"]))

    def q_ids(self, spec: dict[str, Any]) -> Node:
        values, boost = clause_params.parse_ids(spec)
        return Lexical(Query.const_score_query(self.lexical.ids(values), boost))

    def q_prefix(self, spec: dict[str, Any]) -> Node:
        path, params = clause_params.field_params(spec, "prefix", "value")
        p = clause_params.parse_pattern("prefix", params)
        return self._pattern(path, re.escape(p["value"]) + ".*", p)

    def q_wildcard(self, spec: dict[str, Any]) -> Node:
        path, params = clause_params.field_params(spec, "wildcard", "value")
        p = clause_params.parse_pattern("wildcard", params)
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p["value"])
        return self._pattern(path, regex, p)

    def _pattern(self, path: str, regex: str, p: dict[str, Any]) -> Node:
        clause_params.check_rewrite(p, "rewrite")
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or field_spec.type not in ("text", "keyword"):
            return Lexical(Query.empty_query())
        if field_spec.type == "text" or p["case_insensitive"]:
            regex = regex.lower()
        query = Query.regex_query(self.lexical.schema, self.lexical.names[path], regex)
        return Lexical(Query.const_score_query(query, p["boost"]))


def _bound(params: dict[str, Any], inclusive: str, exclusive: str, legacy: str, legacy_flag: str
           ) -> tuple[Any, bool]:
    if inclusive in params:
        return params[inclusive], True
    if exclusive in params:
        return params[exclusive], False
    if legacy in params:
        return params[legacy], bool(params.get(legacy_flag, True))
    return None, True


def _date_bound(value: Any, round_up: bool, zone_name: Any) -> int:
    try:
        return parse_bound(value, round_up=round_up, time_zone=None if zone_name is None else str(zone_name))
    except SearchError as exc:  # the shard's DateMathParser: a parse_exception that repeats its cause
        raise ShardError(f"{exc.reason}: [{exc.reason}]", error_type="parse_exception") from exc


def _number(value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    except (TypeError, ValueError) as exc:
        raise QueryShardError(f"failed to create query: For input string: \"{value}\"",
                              caused_by={"type": "number_format_exception",
                                         "reason": f"For input string: \"{value}\""}) from exc


def _integer_lower(value: Any, inclusive: bool) -> int:
    """LongFieldMapper's lower bound: decimals move it up when positive, an exclusive bound moves it up by one."""
    number = _number(value)
    bound = math.trunc(number)
    decimal = number != bound
    if (not decimal and not inclusive) or (decimal and number > 0):
        bound += 1
    return bound


def _integer_upper(value: Any, inclusive: bool) -> int:
    number = _number(value)
    bound = math.trunc(number)
    decimal = number != bound
    if (not decimal and not inclusive) or (decimal and number < 0):
        bound -= 1
    return bound


def _term_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)

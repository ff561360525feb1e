"""Compile a `query_string` clause's tree into one tantivy query with Lucene's occurrence and field rules."""

from __future__ import annotations

from typing import Any

from tantivy import Occur, Query

from localsearch import query_params as qp
from localsearch.failures import unsupported
from localsearch.query_string.parse import Group, Term, parse_query_string

_OCCUR = {"MUST": "Must", "SHOULD": "Should", "MUST_NOT": "MustNot"}


def compile_query_string(compiler: Any, spec: dict[str, Any]) -> Any:
    """A `query_string` clause as one tantivy query (None when nothing in it can match)."""
    _refuse(spec)
    text = str(spec["query"])
    and_default = str(spec.get("default_operator", "or")).lower() == "and"
    defaults = spec.get("fields") or ([spec["default_field"]] if spec.get("default_field") else ["*"])
    if isinstance(defaults, str):
        defaults = [defaults]
    context = QueryStringContext(compiler, defaults, and_default, float(spec.get("tie_breaker", 0.0)),
                       bool(spec.get("lenient")) or defaults == ["*"], spec.get("time_zone"))
    context.forced_analyzer = spec.get("analyzer") is not None
    tree = parse_query_string(text, and_default)
    query = context.group(tree, None, minimum_should_match=spec.get("minimum_should_match"))
    if query is None:
        return Query.empty_query()
    boost = float(spec.get("boost", 1.0))
    return Query.boost_query(query, boost) if boost != 1.0 else query


def _refuse(spec: dict[str, Any]) -> None:
    if spec.get("type", "best_fields") != "best_fields":
        raise unsupported(f"[query_string] type [{spec['type']}]")
    if spec.get("fuzziness") not in (None, "AUTO", "auto"):
        raise unsupported("[fuzziness] in [query_string]")
    if int(spec.get("phrase_slop", 0) or 0):
        raise unsupported("[phrase_slop] in [query_string]")
    for option in ("quote_field_suffix", "quote_analyzer"):
        if spec.get(option):
            raise unsupported(f"[{option}] in [query_string]")
    if spec.get("analyzer") not in (None, "standard", "default"):
        raise unsupported(f"the query [analyzer] [{spec['analyzer']}]")


class QueryStringContext:
    """One clause's default fields, operator and leniency, and the DSL compiler its terms compile with."""

    def __init__(self, compiler: Any, defaults: list[str], and_default: bool, tie_breaker: float, lenient: bool,
                 time_zone: Any) -> None:
        self.compiler, self.defaults, self.and_default = compiler, defaults, and_default
        self.tie_breaker, self.lenient, self.time_zone = tie_breaker, lenient, time_zone
        self.forced_analyzer = False  # an `analyzer` named in the query splits keyword fields' text too

    def group(self, group: Group, field_name: str | None, minimum_should_match: Any = None) -> Any:
        field_name = group.field or field_name
        clauses = []
        for occur, child in group.clauses:
            query = self.group(child, field_name) if isinstance(child, Group) else self.term(child, field_name)
            if query is not None:
                clauses.append((getattr(Occur, _OCCUR[occur]), query))
        if not clauses:
            return None
        # one clause is that clause's own query, which minimum_should_match leaves alone (not a BooleanQuery)
        if len(clauses) == 1 and clauses[0][0] != Occur.MustNot:
            query = clauses[0][1]
        else:
            if all(occur == Occur.MustNot for occur, _ in clauses):  # Queries.fixNegativeQueryIfNeeded
                clauses.append((Occur.Must, Query.const_score_query(Query.all_query(), 0.0)))
            shoulds = sum(occur == Occur.Should for occur, _ in clauses)
            msm = qp.minimum_should_match(minimum_should_match, shoulds) if minimum_should_match is not None else 0
            query = Query.boolean_query(clauses, msm) if msm else Query.boolean_query(clauses)
        return Query.boost_query(query, group.boost) if group.boost != 1.0 else query

    def term(self, term: Term, field_name: str | None) -> Any:
        target = term.field or field_name
        if term.kind == "all" or (term.kind == "exists" and target in (None, "*")):
            query = Query.all_query()
        elif term.kind == "exists":
            query = self.compiler.q_exists({"field": target}).query
        else:
            per_field = [q for q in (self.weighted(term, path, weight) for path, weight in self.paths(target))
                         if q is not None]
            if not per_field:
                return None
            query = per_field[0] if len(per_field) == 1 else Query.disjunction_max_query(per_field,
                                                                                         self.tie_breaker)
        if query is None:
            return None
        if term.kind == "all":
            query = Query.const_score_query(query, 1.0)
        return Query.boost_query(query, term.boost) if term.boost != 1.0 else query

    def paths(self, target: str | None) -> list[tuple[str, float]]:
        """(field, boost) pairs a term is searched in: its own field, or the default fields."""
        patterns = [target] if target else self.defaults
        mapping = self.compiler.mapping
        if target and "*" not in target and target not in mapping.fields:
            return [(target, 1.0)]  # an unmapped field: no clause (as an unmapped field matches nothing)
        return [(path, weight) for path, weight in self.compiler.expand_fields(patterns)
                if mapping.fields[path].type not in ("knn_vector",)]

    def weighted(self, term: Term, path: str, weight: float) -> Any:
        query = self.field_query(term, path)
        return Query.boost_query(query, weight) if query is not None and weight != 1.0 else query

    def field_query(self, term: Term, path: str) -> Any:
        compiler = self.compiler
        spec = compiler.mapping.fields.get(path)
        if spec is None:
            return None
        lenient = self.lenient
        if term.kind == "range":
            lower, upper, include_lower, include_upper = term.bounds
            bounds: dict[str, Any] = {}
            if lower is not None:
                bounds["gte" if include_lower else "gt"] = lower
            if upper is not None:
                bounds["lte" if include_upper else "lt"] = upper
            if self.time_zone:
                bounds["time_zone"] = self.time_zone
            return compiler.q_range({path: bounds}).query
        if term.kind in ("prefix", "wildcard"):
            if spec.type not in ("text", "keyword"):
                return None
            value = term.text + ("*" if term.kind == "prefix" else "")
            kind = "prefix" if term.kind == "prefix" else "wildcard"
            return compiler.node({kind: {path: {"value": term.text if kind == "prefix" else value}}}).query
        if term.kind == "phrase":
            return compiler.phrase_query(path, {"query": term.text, "lenient": lenient})
        if spec.type == "keyword" and self.forced_analyzer:
            return compiler.analyzed_keyword(spec, term.text, self.and_default, lenient)
        if spec.type != "text":
            return compiler.exact(spec, term.text, lenient)
        tokens = compiler.lexical.analyze(path, term.text)
        if not tokens:
            return None
        queries = compiler.lexical.text_terms(path, tokens)
        if len(queries) == 1:
            return queries[0]
        occur = Occur.Must if self.and_default else Occur.Should
        return Query.boolean_query([(occur, q) for q in queries])

"""Full-text queries: match, match_phrase, multi_match, query_string, simple_query_string."""

from __future__ import annotations

import fnmatch
from typing import Any

from tantivy import Occur, Query

from localsearch import clause_params
from localsearch import query_params as qp
from localsearch.coercion import coerce_value
from localsearch.dsl.nodes import Lexical, Node
from localsearch.failures import (
    unsupported,
)
from localsearch.mappings import FieldMapping
from localsearch.query_string import compile_query_string, compile_simple_query_string
from searchcore.errors import ParsingError, SearchError


class FullTextQueries:
    """The compiler's full-text clauses (a mixin of Compiler: self.view, self.lexical, self.mapping)."""

    def q_match(self, spec: dict[str, Any]) -> Node:
        path, params = clause_params.field_params(spec, "match", "query")
        return Lexical(self.match_query(path, clause_params.parse_match(params), "match"))

    def match_query(self, path: str, p: dict[str, Any], query_name: str) -> Query:
        """`p`: parsed match parameters (clause_params.parse_match)."""
        _refuse_fuzziness(p)
        self.check_analyzer(query_name, p.get("analyzer"))
        clause_params.check_rewrite(p, "fuzzy_rewrite")
        spec = self.mapping.fields.get(path)
        boost = p["boost"]
        if spec is None:
            return Query.empty_query()
        if spec.type not in ("text", "keyword") or (spec.type == "keyword" and p.get("analyzer") is None):
            return Query.boost_query(self.exact(spec, p["query"], p["lenient"]), boost)
        tokens = self.lexical.analyze(path, qp.java_text(p["query"]))
        if not tokens:
            return Query.all_query() if p["zero_terms_query"] == "all" else Query.empty_query()
        if spec.type == "keyword":  # a named analyzer splits a keyword field's text as it splits any text
            terms = [self.exact(spec, token, p["lenient"]) for token in tokens]
        else:
            terms = self.lexical.text_terms(path, tokens)
        occur = Occur.Must if p["operator"] == "and" else Occur.Should
        # one term is a term query, which minimum_should_match leaves alone; several make a BooleanQuery
        msm = 0
        if len(terms) > 1 and p.get("minimum_should_match") is not None:
            msm = qp.minimum_should_match(p["minimum_should_match"], len(terms) if occur == Occur.Should else 0)
        query = Query.boolean_query([(occur, t) for t in terms], msm) if msm else \
            Query.boolean_query([(occur, t) for t in terms])
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def q_match_phrase(self, spec: dict[str, Any], prefix: bool = False) -> Node:
        name = "match_phrase_prefix" if prefix else "match_phrase"
        path, params = clause_params.field_params(spec, name, "query")
        p = clause_params.parse_match_phrase(params, name)
        return Lexical(self.phrase_query(path, p, prefix, name))

    def q_match_phrase_prefix(self, spec: dict[str, Any]) -> Node:
        return self.q_match_phrase(spec, prefix=True)

    def phrase_query(self, path: str, p: dict[str, Any], prefix: bool = False, query_name: str = "match_phrase"
                     ) -> Query:
        """`p`: parsed phrase parameters (query, and optionally slop, boost, lenient, analyzer)."""
        if prefix:
            raise unsupported("[match_phrase_prefix] (and multi_match type [phrase_prefix])")
        if p.get("slop", 0) != 0:
            raise unsupported("[match_phrase] with [slop] other than 0")
        _refuse_fuzziness(p)
        self.check_analyzer(query_name, p.get("analyzer"))
        spec = self.mapping.fields.get(path)
        boost = p.get("boost", 1.0)
        if spec is None:
            return Query.empty_query()
        if spec.type != "text":
            return Query.boost_query(self.exact(spec, p["query"], bool(p.get("lenient"))), boost)
        tokens = self.lexical.analyze(path, qp.java_text(p["query"]))
        if not tokens:
            return Query.all_query() if p.get("zero_terms_query") == "all" else Query.empty_query()
        if len(tokens) == 1:
            query = self.lexical.text_terms(path, tokens)[0]
        else:
            query = self.lexical.phrase(path, tokens, 0, prefix)
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def q_multi_match(self, spec: dict[str, Any]) -> Node:
        p = clause_params.parse_multi_match(spec)
        if p["type"] not in ("best_fields", "most_fields", "phrase", "phrase_prefix"):
            raise unsupported(f"[multi_match] type [{p['type']}]")
        return Lexical(self.fields_query(p))

    def q_combined_fields(self, spec: dict[str, Any]) -> Node:
        raise unsupported("[combined_fields] (BM25F over several fields)")

    def fields_query(self, p: dict[str, Any]) -> Query:
        """multi_match over its fields; `p`: parsed multi_match parameters."""
        kind = p["type"]
        _refuse_fuzziness(p)
        self.check_analyzer("multi_match", p.get("analyzer"))
        if p["tie_breaker"] is not None:
            clause_params.check_tie_breaker(p["tie_breaker"])
        every_field = [pattern for pattern, _ in p["fields"]] == ["*"]
        lenient = p["lenient"] or every_field
        per_field = []
        for path, field_boost in self.expand_fields(p["fields"]):
            field_spec = self.mapping.fields.get(path)
            if field_spec is None or (field_spec.type != "text" and lenient and not _coercible(field_spec, p["query"])):
                continue
            leg = {**p, "lenient": lenient, "boost": 1.0, "analyzer": None}
            if kind in ("phrase", "phrase_prefix"):
                q = self.phrase_query(path, leg, prefix=kind == "phrase_prefix")
            else:
                q = self.match_query(path, leg, "multi_match")
            per_field.append(Query.boost_query(q, field_boost) if field_boost != 1.0 else q)
        if not per_field:
            return Query.empty_query()
        if kind == "most_fields" and p["tie_breaker"] in (None, 1.0):  # its scores add up, unless told otherwise
            query = Query.boolean_query([(Occur.Should, q) for q in per_field])
        else:
            query = Query.disjunction_max_query(per_field, p["tie_breaker"] or 0.0)
        return Query.boost_query(query, p["boost"]) if p["boost"] != 1.0 else query

    def expand_fields(self, fields: Any) -> list[tuple[str, float]]:
        """Field patterns (`title^2`, `t*`; or (pattern, boost) pairs) as the mapped fields they name."""
        if isinstance(fields, str):
            fields = [fields]
        out: dict[str, float] = {}
        for entry in fields:
            if isinstance(entry, tuple):
                pattern, weight = entry
            else:
                pattern, _, boost = str(entry).partition("^")
                weight = float(boost) if boost else 1.0
            for path, spec in self.mapping.fields.items():
                if spec.type != "knn_vector" and fnmatch.fnmatchcase(path, pattern):
                    if pattern == "*" and spec.type not in ("text", "keyword") and not spec.is_numeric:
                        continue
                    out[path] = weight
        return sorted(out.items())

    def q_query_string(self, spec: dict[str, Any]) -> Node:
        spec = clause_params.parse_query_string("query_string", spec)
        if "query" not in spec:
            raise ParsingError("[query_string] must be provided with a [query]")
        self.check_analyzer("query_string", spec.get("analyzer"))
        text = qp.java_text(spec["query"]).strip()
        if text in ("*", "*:*", ""):
            return self.q_match_all({"boost": spec["boost"]})
        return Lexical(compile_query_string(self, spec))

    def q_simple_query_string(self, spec: dict[str, Any]) -> Node:
        spec = clause_params.parse_query_string("simple_query_string", spec)
        if "query" not in spec:
            raise ParsingError("[simple_query_string] must be provided with a [query]")
        self.check_analyzer("simple_query_string", spec.get("analyzer"))
        return Lexical(compile_simple_query_string(self, spec))

    def analyzed_keyword(self, spec: FieldMapping, text: str, conjunction: bool, lenient: bool) -> Query | None:
        """A keyword field's text split by a query's named analyzer: one term per token."""
        tokens = self.lexical.analyze(spec.path, text)
        if not tokens:
            return None
        terms = [self.exact(spec, token, lenient) for token in tokens]
        occur = Occur.Must if conjunction else Occur.Should
        return terms[0] if len(terms) == 1 else Query.boolean_query([(occur, t) for t in terms])


def _refuse_fuzziness(p: dict[str, Any]) -> None:
    """Lucene scores fuzzy expansions with blended term statistics, which localsearch does not reproduce."""
    if p.get("fuzziness") not in (None, 0, "0"):
        raise unsupported("[fuzziness] in full-text queries")


def _coercible(spec: FieldMapping, value: Any) -> bool:
    try:
        coerce_value(spec, value, "query")
        return True
    except SearchError:
        return False

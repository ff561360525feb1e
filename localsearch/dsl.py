"""The query DSL: compile a query clause into something one index's view can evaluate.

Lexical clauses compile to one tantivy query (fast top-k and counts); a `knn` clause is
evaluated on the vector field; a `bool` mixing both is combined here with Lucene's rules
(must/should scores add up, filter and must_not do not score).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tantivy import Occur, Query

from localsearch.datemath import parse_bound, supported_format
from localsearch.failures import (
    QueryShardError,
    ShardError,
    Unsupported,
    XContentParseError,
    unsupported,
)
from localsearch.index import View
from localsearch.lexical import BM25_SCALE
from localsearch.mappings import (
    FLOAT_TYPES,
    INTEGER_TYPES,
    FieldMapping,
    coerce_value,
    stored_float,
)
from localsearch.vectors import check_vector
from sidecar.errors import IllegalArgument, ParsingError, SearchError

Hits = list[tuple[str, float]]
UNSUPPORTED = {"nested", "has_child", "has_parent", "geo_distance", "geo_bounding_box", "geo_shape",
               "script", "script_score", "function_score", "more_like_this", "percolate", "span_term",
               "span_near", "intervals", "distance_feature", "rank_feature", "neural", "boosting",
               "regexp", "fuzzy", "terms_set", "wrapper", "pinned", "neural_sparse"}


# ---- compiled nodes -------------------------------------------------------------------------

class Node:
    def top(self, view: View, k: int) -> tuple[Hits, int]:
        """The best k (id, score) pairs and the number of matching documents."""
        scored = self.all(view)
        hits = sorted(scored.items(), key=lambda kv: (-kv[1], view.docs[kv[0]].ordinal))[:k]
        return hits, len(scored)

    def all(self, view: View) -> dict[str, float]:
        raise NotImplementedError


@dataclass
class Lexical(Node):
    query: Query

    def top(self, view: View, k: int) -> tuple[Hits, int]:
        hits, total = view.lexical.search(self.query, k, view.searcher)
        return [(view.doc_id(o), s) for o, s in hits], total

    def all(self, view: View) -> dict[str, float]:
        hits, _ = view.lexical.search(self.query, max(1, view.searcher.num_docs), view.searcher)
        return {view.doc_id(o): s for o, s in hits}


@dataclass
class Knn(Node):
    field: str
    vector: np.ndarray
    k: int
    filter: Node | None
    boost: float

    def all(self, view: View) -> dict[str, float]:
        vector_field = view.vectors.get(self.field)
        if vector_field is None:
            return {}
        allowed = set(self.filter.all(view)) if self.filter is not None else None
        hits = vector_field.search(self.vector, self.k, allowed=allowed)
        return {i: s * self.boost for i, s in hits if i in view.docs}


@dataclass
class Bool(Node):
    must: list[Node]
    should: list[Node]
    filter: list[Node]
    must_not: list[Node]
    minimum_should_match: int
    boost: float

    def all(self, view: View) -> dict[str, float]:
        scores: dict[str, float] | None = None
        for clause in self.must:
            part = clause.all(view)
            scores = part if scores is None else {d: s + part[d] for d, s in scores.items() if d in part}
        for clause in self.filter:
            part = clause.all(view)
            scores = ({d: 0.0 for d in part} if scores is None else
                      {d: s for d, s in scores.items() if d in part})
        should_parts = [c.all(view) for c in self.should]
        if scores is None:
            union = set().union(*should_parts) if should_parts else set(view.docs)
            scores = {d: 0.0 if should_parts else 1.0 for d in union}
        if self.minimum_should_match:
            scores = {d: s for d, s in scores.items()
                      if sum(d in p for p in should_parts) >= self.minimum_should_match}
        for part in should_parts:
            scores = {d: s + part.get(d, 0.0) for d, s in scores.items()}
        for clause in self.must_not:
            excluded = clause.all(view)
            scores = {d: s for d, s in scores.items() if d not in excluded}
        return {d: s * self.boost for d, s in scores.items()}


# ---- compilation ----------------------------------------------------------------------------

def compile_query(clause: Any, view: View) -> Node:
    return _Compiler(view).node(clause)


def post_filtered(node: Node, post_filter: Node) -> Node:
    """The documents of `node` that `post_filter` also matches, with `node`'s scores (a post_filter never scores:
    a non-scoring clause adds 0.0, which leaves every float32 score as it was)."""
    if isinstance(node, Lexical) and isinstance(post_filter, Lexical):
        return Lexical(Query.boolean_query([(Occur.Must, node.query),
                                            (Occur.Must, Query.const_score_query(post_filter.query, 0.0))]))
    return Bool([node], [], [post_filter], [], 0, 1.0)


def single_key(clause: Any, context: str = "query") -> tuple[str, Any]:
    if not isinstance(clause, dict):
        raise ParsingError(f"[{context}] malformed query, expected [START_OBJECT] but found "
                           f"[{'START_ARRAY' if isinstance(clause, list) else 'VALUE'}]")
    if len(clause) != 1:
        if not clause:
            raise IllegalArgument("query malformed, empty clause found")
        raise ParsingError(f"[{sorted(clause)[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    return next(iter(clause.items()))


class _Compiler:
    def __init__(self, view: View) -> None:
        self.view = view
        self.lexical = view.lexical
        self.mapping = view.mapping

    # -- dispatch --
    def node(self, clause: Any) -> Node:
        kind, spec = single_key(clause)
        handler = getattr(self, f"q_{kind}", None)
        if handler is None:
            if kind == "hybrid":
                raise unsupported("[hybrid] inside another query (localsearch runs it at the top level only)")
            if kind in UNSUPPORTED:
                raise unsupported(f"the [{kind}] query")
            raise ParsingError(f"unknown query [{kind}]", extra={"line": 1, "col": 1})
        if not isinstance(spec, dict) and kind not in ("match_all", "match_none"):
            raise ParsingError(f"[{kind}] query malformed, no start_object after query name")
        return handler(spec)

    def clause_of(self, parent: str, field: str, clause: Any) -> Node:
        """A clause inside `bool`: a parse error in it is reported as bool's ObjectParser reports it."""
        try:
            return self.node(clause)
        except (ShardError, Unsupported):
            raise
        except (ParsingError, IllegalArgument) as exc:
            raise XContentParseError(parent, field, exc) from exc

    # -- full text --
    def q_match_all(self, spec: Any) -> Node:
        boost = _boost(spec or {}, "match_all", allowed=("boost", "_name"))
        return Lexical(Query.const_score_query(Query.all_query(), boost))

    def q_match_none(self, spec: Any) -> Node:
        return Lexical(Query.empty_query())

    def q_match(self, spec: dict[str, Any]) -> Node:
        path, params = _field_params(spec, "match", "query")
        _only(params, "match", {"query", "operator", "minimum_should_match", "boost", "analyzer", "lenient",
                                "fuzziness", "zero_terms_query", "auto_generate_synonyms_phrase_query",
                                "prefix_length", "max_expansions", "fuzzy_transpositions", "_name"})
        return Lexical(self.match_query(path, params))

    def match_query(self, path: str, params: dict[str, Any]) -> Query:
        if "query" not in params:
            raise ParsingError("No text specified for text query")
        text = params["query"]
        _refuse_unimitated(params)
        spec = self.mapping.fields.get(path)
        boost = float(params.get("boost", 1.0))
        if spec is None:
            return Query.empty_query()
        if spec.type != "text":
            return Query.boost_query(self.exact(spec, text, bool(params.get("lenient"))), boost)
        tokens = self.lexical.analyze(path, str(text))
        if not tokens:
            return Query.all_query() if params.get("zero_terms_query") == "all" else Query.empty_query()
        terms = self.lexical.text_terms(path, tokens)
        if str(params.get("operator", "or")).lower() == "and":
            query = Query.boolean_query([(Occur.Must, t) for t in terms])
        else:
            msm = _minimum_should_match(params.get("minimum_should_match"), len(terms))
            query = Query.boolean_query([(Occur.Should, t) for t in terms], msm or None)
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def exact(self, spec: FieldMapping, value: Any, lenient: bool) -> Query:
        """A term on a non-text field, the value coerced as the field stores it, scored as OpenSearch 3 scores
        it: keyword terms and numeric points are constant (1.0), boolean terms are BM25 without norms."""
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

    def unnormed_bm25(self, path: str, term: Query) -> float:
        """BM25 of a term seen once in a field without norms: idf(N, n) · 1 / (1 + k1)."""
        with_field = self.lexical.count(self.lexical.exists([path]), self.view.searcher)
        with_term = self.lexical.count(term, self.view.searcher)
        idf = math.log(1 + (with_field - with_term + 0.5) / (with_term + 0.5))
        return float(np.float32(idf) * np.float32(BM25_SCALE))

    def q_match_phrase(self, spec: dict[str, Any], prefix: bool = False) -> Node:
        name = "match_phrase_prefix" if prefix else "match_phrase"
        path, params = _field_params(spec, name, "query")
        _only(params, name, {"query", "slop", "boost", "analyzer", "max_expansions", "zero_terms_query", "_name"})
        return Lexical(self.phrase_query(path, params, prefix))

    def q_match_phrase_prefix(self, spec: dict[str, Any]) -> Node:
        return self.q_match_phrase(spec, prefix=True)

    def phrase_query(self, path: str, params: dict[str, Any], prefix: bool = False) -> Query:
        if prefix:
            raise unsupported("[match_phrase_prefix] (and multi_match type [phrase_prefix])")
        if _int_value(params.get("slop", 0), "slop") != 0:
            raise unsupported("[match_phrase] with [slop] other than 0")
        _refuse_unimitated(params)
        spec = self.mapping.fields.get(path)
        boost = float(params.get("boost", 1.0))
        if spec is None:
            return Query.empty_query()
        if spec.type != "text":
            return Query.boost_query(self.exact(spec, params.get("query"), bool(params.get("lenient"))), boost)
        tokens = self.lexical.analyze(path, str(params.get("query", "")))
        if not tokens:
            return Query.empty_query()
        if len(tokens) == 1 and not prefix:
            query = self.lexical.text_terms(path, tokens)[0]
        else:
            query = self.lexical.phrase(path, tokens, int(params.get("slop", 0)), prefix)
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def q_multi_match(self, spec: dict[str, Any]) -> Node:
        _only(spec, "multi_match", {"query", "fields", "type", "operator", "tie_breaker", "minimum_should_match",
                                    "boost", "lenient", "analyzer", "fuzziness", "slop", "zero_terms_query",
                                    "auto_generate_synonyms_phrase_query", "prefix_length", "max_expansions",
                                    "_name"})
        kind = spec.get("type", "best_fields")
        if kind not in ("best_fields", "most_fields", "phrase", "phrase_prefix"):
            raise unsupported(f"[multi_match] type [{kind}]")
        return Lexical(self.fields_query(spec, kind, "multi_match"))

    def q_combined_fields(self, spec: dict[str, Any]) -> Node:
        raise unsupported("[combined_fields] (BM25F over several fields)")

    def fields_query(self, spec: dict[str, Any], kind: str, name: str) -> Query:
        if "query" not in spec:
            raise ParsingError(f"[{name}] requires query value")
        lenient = bool(spec.get("lenient")) or spec.get("fields") in (None, ["*"], "*")
        fields = self.expand_fields(spec.get("fields") or ["*"])
        params = {k: v for k, v in spec.items() if k in ("query", "operator", "minimum_should_match", "fuzziness",
                                                         "zero_terms_query", "slop")}
        per_field = []
        for path, field_boost in fields:
            field_spec = self.mapping.fields.get(path)
            if field_spec is None or (field_spec.type != "text" and lenient and not _coercible(field_spec, spec["query"])):
                continue
            params_f = {**params, "lenient": lenient}
            if kind in ("phrase", "phrase_prefix"):
                q = self.phrase_query(path, params_f, prefix=kind == "phrase_prefix")
            else:
                q = self.match_query(path, params_f)
            per_field.append(Query.boost_query(q, field_boost) if field_boost != 1.0 else q)
        if not per_field:
            return Query.empty_query()
        if kind == "most_fields":
            query = Query.boolean_query([(Occur.Should, q) for q in per_field])
        else:
            query = Query.disjunction_max_query(per_field, float(spec.get("tie_breaker", 0.0)))
        boost = float(spec.get("boost", 1.0))
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def expand_fields(self, fields: Any) -> list[tuple[str, float]]:
        if isinstance(fields, str):
            fields = [fields]
        out: dict[str, float] = {}
        for entry in fields:
            pattern, _, boost = str(entry).partition("^")
            weight = float(boost) if boost else 1.0
            for path, spec in self.mapping.fields.items():
                if spec.type != "knn_vector" and fnmatch.fnmatchcase(path, pattern):
                    if pattern == "*" and spec.type not in ("text", "keyword") and not spec.is_numeric:
                        continue
                    out[path] = weight
        return sorted(out.items())

    def q_query_string(self, spec: dict[str, Any]) -> Node:
        from localsearch.query_string import QUERY_STRING_OPTIONS, compile_query_string
        if "query" not in spec:
            raise ParsingError("[query_string] must be provided with a [query]")
        _only(spec, "query_string", QUERY_STRING_OPTIONS)
        text = str(spec["query"]).strip()
        if text in ("*", "*:*", ""):
            return self.q_match_all({"boost": spec.get("boost", 1.0)})
        return Lexical(compile_query_string(self, spec))

    def q_simple_query_string(self, spec: dict[str, Any]) -> Node:
        from localsearch.query_string import SIMPLE_OPTIONS, compile_simple_query_string
        if "query" not in spec:
            raise ParsingError("[simple_query_string] must be provided with a [query]")
        _only(spec, "simple_query_string", SIMPLE_OPTIONS)
        return Lexical(compile_simple_query_string(self, spec))

    # -- term level --
    def q_term(self, spec: dict[str, Any]) -> Node:
        path, params = _field_params(spec, "term", "value")
        _only(params, "term", {"value", "boost", "case_insensitive", "_name"})
        field_spec = self.mapping.fields.get(path)
        if field_spec is None:
            return Lexical(Query.empty_query())
        query = self.exact(field_spec, params.get("value"), False) if field_spec.type != "text" else \
            self.lexical.term(path, str(params.get("value")))
        return Lexical(Query.boost_query(query, float(params.get("boost", 1.0))))

    def q_terms(self, spec: dict[str, Any]) -> Node:
        boost = float(spec.get("boost", 1.0))
        fields = {k: v for k, v in spec.items() if k not in ("boost", "_name")}
        if len(fields) != 1:
            raise ParsingError("[terms] query does not support multiple fields")
        path, values = next(iter(fields.items()))
        if not isinstance(values, list):
            raise ParsingError(f"[terms] query does not support [{path}]")
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or not values:
            return Lexical(Query.empty_query())
        clauses = [(Occur.Should, self.exact(field_spec, v, False) if field_spec.type != "text"
                    else self.lexical.term(path, str(v))) for v in values]
        return Lexical(Query.const_score_query(Query.boolean_query(clauses), boost))

    def q_range(self, spec: dict[str, Any]) -> Node:
        path, params = _field_params(spec, "range", None)
        _only(params, "range", {"gte", "gt", "lte", "lt", "from", "to", "include_lower", "include_upper",
                                "format", "boost", "time_zone", "relation", "_name"})
        if params.get("format") is not None and not supported_format(str(params["format"])):
            raise unsupported(f"the date format [{params['format']}]")
        field_spec = self.mapping.fields.get(path)
        boost = float(params.get("boost", 1.0))
        if field_spec is None:
            return Lexical(Query.empty_query())
        lower, include_lower = _bound(params, "gte", "gt", "from", "include_lower")
        upper, include_upper = _bound(params, "lte", "lt", "to", "include_upper")
        if lower is None and upper is None:
            return Lexical(Query.const_score_query(self.lexical.exists([path]), boost))
        if field_spec.type in ("keyword", "text"):
            return Lexical(Query.const_score_query(
                self.term_range(path, lower, upper, include_lower, include_upper), boost))
        if field_spec.type == "date":
            zone_name = params.get("time_zone")
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
        if "field" not in spec:
            raise ParsingError("[exists] must be provided with a [field]")
        pattern = str(spec["field"])
        paths = [p for p in self.mapping.fields if fnmatch.fnmatchcase(p, pattern) or p.startswith(pattern + ".")]
        vector_paths = [p for p in paths if self.mapping.fields[p].type == "knn_vector"]
        query = self.lexical.exists([p for p in paths if p not in vector_paths])
        if vector_paths:  # vectors are not in the inverted index: match by document ids
            ids = {d for p in vector_paths for d in self.view.docs if self.view.vectors[p].__contains__(d)}
            query = Query.boolean_query([(Occur.Should, query), (Occur.Should, self.lexical.ids(ids))])
        return Lexical(Query.const_score_query(query, float(spec.get("boost", 1.0))))

    def q_ids(self, spec: dict[str, Any]) -> Node:
        values = spec.get("values", [])
        if not isinstance(values, list):
            raise ParsingError("[ids] query requires [values] as an array")
        return Lexical(Query.const_score_query(self.lexical.ids(str(v) for v in values), float(spec.get("boost", 1.0))))

    def q_prefix(self, spec: dict[str, Any]) -> Node:
        path, params = _field_params(spec, "prefix", "value")
        return self._pattern(path, re.escape(str(params.get("value", ""))) + ".*", params)

    def q_wildcard(self, spec: dict[str, Any]) -> Node:
        path, params = _field_params(spec, "wildcard", "value")
        value = str(params.get("value", params.get("wildcard", "")))
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
        return self._pattern(path, regex, params)

    def _pattern(self, path: str, regex: str, params: dict[str, Any]) -> Node:
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or field_spec.type not in ("text", "keyword"):
            return Lexical(Query.empty_query())
        if field_spec.type == "text" or params.get("case_insensitive"):
            regex = regex.lower()
        query = Query.regex_query(self.lexical.schema, self.lexical.names[path], regex)
        return Lexical(Query.const_score_query(query, float(params.get("boost", 1.0))))

    # -- compound --
    def q_bool(self, spec: dict[str, Any]) -> Node:
        _only(spec, "bool", {"must", "should", "filter", "must_not", "minimum_should_match", "boost",
                             "adjust_pure_negative", "_name"})
        groups = {k: [self.clause_of("bool", k, c) for c in _clauses(spec.get(k))]
                  for k in ("must", "should", "filter", "must_not")}
        msm_given = spec.get("minimum_should_match")
        msm = _minimum_should_match(msm_given, len(groups["should"]))
        if msm_given is None and groups["should"] and not (groups["must"] or groups["filter"]):
            msm = 1
        boost = float(spec.get("boost", 1.0))
        if all(isinstance(n, Lexical) for g in groups.values() for n in g):
            return Lexical(self._lexical_bool(groups, msm, boost))
        return Bool(groups["must"], groups["should"], groups["filter"], groups["must_not"], msm, boost)

    def _lexical_bool(self, groups: dict[str, list[Node]], msm: int, boost: float) -> Query:
        clauses: list[tuple[Occur, Query]] = []
        clauses += [(Occur.Must, n.query) for n in groups["must"]]
        clauses += [(Occur.Must, Query.const_score_query(n.query, 0.0)) for n in groups["filter"]]
        clauses += [(Occur.Should, n.query) for n in groups["should"]]
        clauses += [(Occur.MustNot, n.query) for n in groups["must_not"]]
        positive = groups["must"] or groups["filter"] or groups["should"]
        if not positive:
            # a bool of only must_not clauses matches everything else (score 0 in OpenSearch)
            score = 1.0 if not groups["must_not"] else 0.0
            clauses.append((Occur.Must, Query.const_score_query(Query.all_query(), score)))
        query = Query.boolean_query(clauses, msm or None) if groups["should"] else Query.boolean_query(clauses)
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def q_constant_score(self, spec: dict[str, Any]) -> Node:
        if "filter" not in spec:
            raise ParsingError("[constant_score] requires a 'filter' element")
        inner = self.node(spec["filter"])
        boost = float(spec.get("boost", 1.0))
        if isinstance(inner, Lexical):
            return Lexical(Query.const_score_query(inner.query, boost))
        return Bool([], [], [inner], [], 0, 1.0) if boost == 0 else _ConstScore(inner, boost)

    def q_dis_max(self, spec: dict[str, Any]) -> Node:
        nodes = [self.node(c) for c in _clauses(spec.get("queries"))]
        if not all(isinstance(n, Lexical) for n in nodes):
            raise IllegalArgument("[dis_max] over [knn] queries is not supported by localsearch")
        query = Query.disjunction_max_query([n.query for n in nodes], float(spec.get("tie_breaker", 0.0)))
        return Lexical(Query.boost_query(query, float(spec.get("boost", 1.0))))

    def q_knn(self, spec: dict[str, Any]) -> Node:
        if len(spec) != 1:
            raise ParsingError("[knn] query malformed, expected exactly one vector field")
        path, params = next(iter(spec.items()))
        if not isinstance(params, dict):
            raise ParsingError(f"[knn] query malformed for field [{path}]")
        _only(params, "knn", {"vector", "k", "filter", "boost", "method_parameters", "rescore", "expand_nested_docs",
                              "_name"})
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or field_spec.type != "knn_vector":
            raise QueryShardError(f"failed to create query: Field '{path}' is not knn_vector type.")
        if "vector" not in params:
            raise IllegalArgument("[knn] requires query vector")
        if "k" not in params:
            raise IllegalArgument("[knn] requires exactly one of k, distance or score to be set")
        k = params["k"]
        if not isinstance(k, int) or isinstance(k, bool) or not 0 < k <= 10000:
            raise IllegalArgument("[knn] requires k to be in the range (0, 10000]")
        dimension = field_spec.params["dimension"]
        raw = params["vector"]
        if not isinstance(raw, list) or len(raw) != dimension:
            given = len(raw) if isinstance(raw, list) else 0
            raise QueryShardError(f"failed to create query: Query vector has invalid dimension: {given}. "
                                  f"Dimension should be: {dimension}")
        try:
            vector = check_vector(raw, dimension, field_spec.params["space_type"])
        except SearchError as exc:
            raise QueryShardError(f"failed to create query: {exc.reason}") from exc
        filter_node = self.node(params["filter"]) if params.get("filter") else None
        return Knn(path, vector, k, filter_node, float(params.get("boost", 1.0)))


@dataclass
class _ConstScore(Node):
    inner: Node
    boost: float

    def all(self, view: View) -> dict[str, float]:
        return {d: self.boost for d in self.inner.all(view)}


# ---- helpers --------------------------------------------------------------------------------

def _clauses(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _only(params: dict[str, Any], query: str, allowed: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ParsingError(f"[{query}] query does not support [{unknown[0]}]")


def _boost(spec: dict[str, Any], query: str, allowed: Iterable[str]) -> float:
    _only(spec, query, allowed)
    return float(spec.get("boost", 1.0))


def _field_params(spec: dict[str, Any], query: str, short_key: str | None) -> tuple[str, dict[str, Any]]:
    fields = [k for k in spec if k not in ("boost", "_name")]
    if len(fields) != 1:
        if not fields:
            raise IllegalArgument(f"[{query}] query requires a field")
        raise ParsingError(f"[{query}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]")
    path = fields[0]
    params = spec[path]
    if not isinstance(params, dict):
        if short_key is None:
            raise ParsingError(f"[{query}] query malformed, expected an object for field [{path}]")
        params = {short_key: params}
    return path, params


def _minimum_should_match(value: Any, optional: int) -> int:
    if value is None:
        return 0
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            n = math.floor(optional * abs(pct) / 100)
            result = n if pct >= 0 else optional - n
        else:
            n = int(text)
            result = n if n >= 0 else optional + n
    except ValueError as exc:
        raise IllegalArgument(f"failed to parse minimum_should_match [{value}]") from exc
    return max(0, min(result, optional))


def _refuse_unimitated(params: dict[str, Any]) -> None:
    """Options whose effect localsearch does not reproduce: fuzzy expansion (Lucene blends the expanded terms'
    statistics) and analyzers other than the field's own."""
    if params.get("fuzziness") not in (None, 0, "0"):
        raise unsupported("[fuzziness] in full-text queries")
    if params.get("analyzer") not in (None, "standard", "default"):
        raise unsupported(f"the query [analyzer] [{params.get('analyzer')}]")


def _int_value(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ParsingError(f"[{name}] must be a number, got [{value}]") from exc


def _coercible(spec: FieldMapping, value: Any) -> bool:
    try:
        coerce_value(spec, value, "query")
        return True
    except SearchError:
        return False


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

"""The query DSL: compile a query clause into something one index's view can evaluate.

Lexical clauses compile to one tantivy query (fast top-k and counts); a `knn` clause is
evaluated on the vector field; a `bool` mixing both is combined here with Lucene's rules
(must/should scores add up, filter and must_not do not score).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from tantivy import Occur, Query

from localsearch import clause_params
from localsearch import query_params as qp
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
from localsearch.query_params import ObjectParserError
from localsearch.vectors import check_vector
from searchcore.errors import IllegalArgument, ParsingError, SearchError

Hits = list[tuple[str, float]]
UNSUPPORTED = {"nested", "has_child", "has_parent", "geo_distance", "geo_bounding_box", "geo_shape",
               "script", "script_score", "function_score", "more_like_this", "percolate", "span_term",
               "span_near", "intervals", "distance_feature", "rank_feature", "neural", "boosting",
               "regexp", "fuzzy", "terms_set", "wrapper", "pinned", "neural_sparse"}
# the analyzers an OpenSearch 3.6 node knows by name (a query naming another gets "analyzer [x] not found")
BUILT_IN_ANALYZERS = frozenset(
    "standard default simple whitespace stop keyword pattern fingerprint snowball classic arabic armenian basque "
    "bengali brazilian bulgarian catalan chinese cjk czech danish dutch english estonian finnish french galician "
    "german greek hindi hungarian indonesian irish italian latvian lithuanian norwegian persian portuguese "
    "romanian russian sorani spanish swedish turkish thai".split())


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
        except SearchError as exc:
            raise XContentParseError(parent, field, exc) from exc

    def check_analyzer(self, query: str, name: str | None) -> None:
        """The shard looks the analyzer up by name; localsearch analyzes with the standard analyzer only."""
        if name is None or name in ("standard", "default"):
            return
        if name not in BUILT_IN_ANALYZERS and name not in self.lexical.custom_analyzers:
            raise QueryShardError(f"[{query}] analyzer [{name}] not found")
        raise unsupported(f"the query [analyzer] [{name}]")

    # -- full text --
    def q_match_all(self, spec: Any) -> Node:
        boost = clause_params.parse_match_all(spec if isinstance(spec, dict) else {})
        return Lexical(Query.const_score_query(Query.all_query(), boost))

    def q_match_none(self, spec: Any) -> Node:
        return Lexical(Query.empty_query())

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

    def analyzed_keyword(self, spec: FieldMapping, text: str, conjunction: bool, lenient: bool) -> Query | None:
        """A keyword field's text split by a query's named analyzer: one term per token."""
        tokens = self.lexical.analyze(spec.path, text)
        if not tokens:
            return None
        terms = [self.exact(spec, token, lenient) for token in tokens]
        occur = Occur.Must if conjunction else Occur.Should
        return terms[0] if len(terms) == 1 else Query.boolean_query([(occur, t) for t in terms])

    def unnormed_bm25(self, path: str, term: Query) -> float:
        """BM25 of a term seen once in a field without norms: idf(N, n) · 1 / (1 + k1)."""
        with_field = self.lexical.count(self.lexical.exists([path]), self.view.searcher)
        with_term = self.lexical.count(term, self.view.searcher)
        idf = math.log(1 + (with_field - with_term + 0.5) / (with_term + 0.5))
        return float(np.float32(idf) * np.float32(BM25_SCALE))

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
        from localsearch.query_string import compile_query_string
        spec = clause_params.parse_query_string("query_string", spec)
        if "query" not in spec:
            raise ParsingError("[query_string] must be provided with a [query]")
        self.check_analyzer("query_string", spec.get("analyzer"))
        text = qp.java_text(spec["query"]).strip()
        if text in ("*", "*:*", ""):
            return self.q_match_all({"boost": spec["boost"]})
        return Lexical(compile_query_string(self, spec))

    def q_simple_query_string(self, spec: dict[str, Any]) -> Node:
        from localsearch.query_string import compile_simple_query_string
        spec = clause_params.parse_query_string("simple_query_string", spec)
        if "query" not in spec:
            raise ParsingError("[simple_query_string] must be provided with a [query]")
        self.check_analyzer("simple_query_string", spec.get("analyzer"))
        return Lexical(compile_simple_query_string(self, spec))

    # -- term level --
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
        path, params = _field_params(spec, "range", None)
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

    # -- compound --
    def q_bool(self, spec: dict[str, Any]) -> Node:
        groups: dict[str, list[Node]] = {k: [] for k in clause_params.BOOL_CLAUSES}
        options: dict[str, Any] = {"boost": 1.0, "minimum_should_match": None}
        for key, value in spec.items():  # in request order: the first bad field is the one reported
            parsed = clause_params.bool_option(key, value)
            if key in groups:
                groups[key] += [self.clause_of("bool", key, c) for c in _clauses(parsed)]  # null: no clause
            else:
                options[key] = parsed
        msm_given = options["minimum_should_match"]
        msm = qp.minimum_should_match(msm_given, len(groups["should"])) if msm_given is not None else 0
        if msm_given is None and groups["should"] and not (groups["must"] or groups["filter"]):
            msm = 1
        boost = options["boost"]
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
        # a minimum above the number of should clauses matches nothing, as in Lucene (and tantivy)
        query = Query.boolean_query(clauses, msm) if msm else Query.boolean_query(clauses)
        return Query.boost_query(query, boost) if boost != 1.0 else query

    def q_constant_score(self, spec: dict[str, Any]) -> Node:
        inner, boost = None, 1.0
        for key, value in spec.items():  # in request order
            if key == "filter":
                inner = self.node(value)
            else:
                parsed = clause_params.constant_score_option(key, value)
                boost = parsed if key == "boost" else boost
        boost = qp.check_boost("constant_score", boost)
        if inner is None:
            raise ParsingError("[constant_score] requires a 'filter' element")
        if isinstance(inner, Lexical):
            return Lexical(Query.const_score_query(inner.query, boost))
        return Bool([], [], [inner], [], 0, 1.0) if boost == 0 else _ConstScore(inner, boost)

    def q_dis_max(self, spec: dict[str, Any]) -> Node:
        nodes: list[Node] = []
        options = {"tie_breaker": 0.0, "boost": 1.0}
        for key, value in spec.items():  # in request order
            if key == "queries" and isinstance(value, (dict, list)):
                nodes += [self.node(c) for c in _clauses(value)]
            else:
                options[key] = clause_params.dis_max_option(key, value)
        boost = qp.check_boost("dis_max", options["boost"])
        clause_params.check_tie_breaker(options["tie_breaker"])
        if not all(isinstance(n, Lexical) for n in nodes):
            raise IllegalArgument("[dis_max] over [knn] queries is not supported by localsearch")
        query = Query.disjunction_max_query([n.query for n in nodes], options["tie_breaker"])
        return Lexical(Query.boost_query(query, boost))

    def q_knn(self, spec: dict[str, Any]) -> Node:
        if len(spec) != 1:
            raise ParsingError("[knn] query malformed, expected exactly one vector field")
        path, params = next(iter(spec.items()))
        if not isinstance(params, dict):
            raise ParsingError(f"[knn] query malformed for field [{path}]")
        p: dict[str, Any] = {"boost": 1.0}
        filter_node = None
        for key, value in params.items():  # in request order
            p[key] = clause_params.knn_option(key, value)
            if key == "filter":
                try:
                    filter_node = self.node(value)
                except (ShardError, Unsupported):
                    raise
                except SearchError as exc:
                    raise ObjectParserError("[knn] failed to parse field [filter]", exc) from exc
        field_spec = self.mapping.fields.get(path)
        if field_spec is None or field_spec.type != "knn_vector":
            raise QueryShardError(f"failed to create query: Field '{path}' is not knn_vector type.")
        if "vector" not in p:
            raise IllegalArgument("[knn] requires query vector")
        if "k" not in p:
            raise IllegalArgument("[knn] requires exactly one of k, distance or score to be set")
        k = p["k"]
        if not 0 < k <= 10000:
            raise IllegalArgument("[knn] requires k to be in the range (0, 10000]")
        dimension = field_spec.params["dimension"]
        raw = p["vector"]
        if len(raw) != dimension:
            raise QueryShardError(f"failed to create query: Query vector has invalid dimension: {len(raw)}. "
                                  f"Dimension should be: {dimension}")
        try:
            vector = check_vector(raw, dimension, field_spec.params["space_type"])
        except SearchError as exc:
            raise QueryShardError(f"failed to create query: {exc.reason}") from exc
        return Knn(path, vector, k, filter_node, qp.check_boost("knn", p["boost"]))


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
    """How many of `optional` should clauses must match (query_string's groups use it too)."""
    return qp.minimum_should_match(value, optional)


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

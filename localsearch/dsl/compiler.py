"""Compile a query clause for one index's view: dispatch by name, compound clauses (bool, dis_max, ...) and knn."""

from __future__ import annotations

from typing import Any

from tantivy import Occur, Query

from localsearch import clause_params, compound_params
from localsearch import query_params as qp
from localsearch.dsl.full_text import FullTextQueries
from localsearch.dsl.nodes import Bool, ConstScore, Knn, Lexical, Node
from localsearch.dsl.term_level import TermLevelQueries
from localsearch.failures import (
    QueryShardError,
    ShardError,
    Unsupported,
    XContentParseError,
    unsupported,
)
from localsearch.index import View
from localsearch.query_params import ObjectParserError
from localsearch.vectors import check_vector
from searchcore.errors import IllegalArgument, ParsingError, SearchError

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


def compile_query(clause: Any, view: View) -> Node:
    return Compiler(view).node(clause)


def single_key(clause: Any, context: str = "query") -> tuple[str, Any]:
    if not isinstance(clause, dict):
        raise ParsingError(f"[{context}] malformed query, expected [START_OBJECT] but found "
                           f"[{'START_ARRAY' if isinstance(clause, list) else 'VALUE'}]")
    if len(clause) != 1:
        if not clause:
            raise IllegalArgument("query malformed, empty clause found")
        raise ParsingError(f"[{sorted(clause)[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    return next(iter(clause.items()))


class Compiler(FullTextQueries, TermLevelQueries):
    """Compiles clauses against one index's view: dispatch by query name, compound queries and knn here."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.lexical = view.lexical
        self.mapping = view.mapping

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

    def q_match_all(self, spec: Any) -> Node:
        boost = clause_params.parse_match_all(spec if isinstance(spec, dict) else {})
        return Lexical(Query.const_score_query(Query.all_query(), boost))

    def q_match_none(self, spec: Any) -> Node:
        return Lexical(Query.empty_query())

    def q_bool(self, spec: dict[str, Any]) -> Node:
        groups: dict[str, list[Node]] = {k: [] for k in compound_params.BOOL_CLAUSES}
        options: dict[str, Any] = {"boost": 1.0, "minimum_should_match": None}
        for key, value in spec.items():  # in request order: the first bad field is the one reported
            parsed = compound_params.bool_option(key, value)
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
                parsed = compound_params.constant_score_option(key, value)
                boost = parsed if key == "boost" else boost
        boost = qp.check_boost("constant_score", boost)
        if inner is None:
            raise ParsingError("[constant_score] requires a 'filter' element")
        if isinstance(inner, Lexical):
            return Lexical(Query.const_score_query(inner.query, boost))
        return Bool([], [], [inner], [], 0, 1.0) if boost == 0 else ConstScore(inner, boost)

    def q_dis_max(self, spec: dict[str, Any]) -> Node:
        nodes: list[Node] = []
        options = {"tie_breaker": 0.0, "boost": 1.0}
        for key, value in spec.items():  # in request order
            if key == "queries" and isinstance(value, (dict, list)):
                nodes += [self.node(c) for c in _clauses(value)]
            else:
                options[key] = compound_params.dis_max_option(key, value)
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
            p[key] = compound_params.knn_option(key, value)
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


def _clauses(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

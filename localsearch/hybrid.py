"""The neural-search `hybrid` query: each sub-query's top `pagination_depth` hits, fused by the search pipeline."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from tantivy import Occur, Query

from localsearch.dsl import Lexical, Node, compile_query, post_filtered
from localsearch.failures import ShardError, phase_failure, shard_failure, unsupported
from localsearch.hybrid_clause import (
    HybridSpec,
    ShardQueryError,
    check_page_in_results,
    unfused_hybrid_hits,
    validate_hybrid_request,
)
from localsearch.index import IndexState, View
from localsearch.search import Collected, Hit, SearchRequest, check_window, raise_if_all_failed
from searchcore.errors import IllegalArgument, SearchError
from searchcore.fusion import fuse

Key = tuple[int, str]  # (position of the index among the targets, document id)


def collect_hybrid(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> Collected:
    hybrid = _parse(targets, req)
    if req.sort:
        raise unsupported("[sort] with a [hybrid] query")
    pipeline = _pipeline(engine, targets, req)
    lookup = {i: (state, state.view) for i, state in enumerate(targets)}
    legs, matched, failures = _legs(lookup, hybrid, req)
    raise_if_all_failed(targets, failures)
    best_raw = max((s for leg in legs for _, s in leg), default=0.0)  # the node reports 0.0 when nothing matches
    legs = [leg[:hybrid.pagination_depth] for leg in legs]
    if pipeline is None or pipeline.fusion is None:
        # OpenSearch answers an unfused hybrid query with the shard's raw, marker-delimited list
        raw = unfused_hybrid_hits(legs)
        hits = [Hit(lookup[i][0], lookup[i][1], d, float(s)) for (i, d), s in raw]
        return Collected(hits, matched or len(hits), best_raw, failures)
    fused = fuse(legs, pipeline.fusion, tie_key=_java_hash_order(legs, lookup))
    try:
        check_page_in_results(req.from_, len(fused))
    except SearchError as exc:
        raise phase_failure(exc) from exc
    hits = [Hit(lookup[i][0], lookup[i][1], d, float(s)) for (i, d), s in fused]
    # with size 0 nothing is fused: the real node reports the best raw sub-query score
    max_score = max((h.score for h in hits), default=0.0) if req.size > 0 else best_raw
    total = matched if req.track_total_hits is not False else len(hits)
    return Collected(hits, max(total, len(hits)), max_score, failures)


def hybrid_matches(targets: Sequence[IndexState], req: SearchRequest) -> list[Hit]:
    """Every document some sub-query matches (what aggregations see), whatever the page."""
    hybrid = _parse(targets, req)
    seen: dict[Key, Hit] = {}
    for i, state in enumerate(targets):
        view = state.view
        for sub in hybrid.queries:
            for doc_id, score in compile_query(_with_filter(sub, hybrid.filter), view).all(view).items():
                seen.setdefault((i, doc_id), Hit(state, view, doc_id, score))
    return list(seen.values())


def _parse(targets: Sequence[IndexState], req: SearchRequest) -> HybridSpec:
    first = targets[0] if targets else None
    try:
        return validate_hybrid_request(req.query["hybrid"], req.from_, req.size)
    except ShardQueryError as exc:
        raise shard_failure(exc, index=first.name if first else "_all",
                            index_uuid=first.uuid if first else "_na_") from exc


def _pipeline(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> Any:
    first = targets[0] if targets else None
    pipeline_id = req.pipeline or (first.setting("search.default_pipeline") if first else None)
    if not pipeline_id or pipeline_id == "_none":
        return None
    pipeline = engine.pipelines.get(pipeline_id)
    if pipeline is None:
        raise IllegalArgument(f"Pipeline {pipeline_id} is not defined")
    return pipeline


def _legs(lookup: dict[int, tuple[IndexState, View]], hybrid: HybridSpec, req: SearchRequest
          ) -> tuple[list[list[tuple[Key, float]]], int, list[tuple[IndexState, ShardError]]]:
    """Each sub-query's best `pagination_depth` hits over all targets, how many documents some sub-query
    matches (when the total is tracked), and the targets that failed."""
    legs: list[list[tuple[Key, float]]] = [[] for _ in hybrid.queries]
    matched = 0
    failures: list[tuple[IndexState, ShardError]] = []
    depth = max(hybrid.pagination_depth, 1)  # size 0 still finds each sub-query's best score
    for i, (state, view) in lookup.items():
        try:
            check_window(state, req)
            nodes = [compile_query(_with_filter(sub, hybrid.filter), view) for sub in hybrid.queries]
            if req.post_filter is not None:  # each sub-query's hits are filtered before they are fused
                post = compile_query(req.post_filter, view)
                nodes = [post_filtered(node, post) for node in nodes]
        except ShardError as exc:
            failures.append((state, exc))
            continue
        found = [_top_and_matches(node, view, depth) for node in nodes]
        for leg, (top, _, _) in zip(legs, found, strict=True):
            leg += [((i, d), s) for d, s in top if d in view.docs]
        if req.track_total_hits is not False:
            matched += count_union(nodes, found, view)
    for n, leg in enumerate(legs):
        leg.sort(key=lambda kv: (-kv[1], _doc_order(lookup, kv[0])))
        legs[n] = leg[:depth]
    return legs, matched, failures


Found = tuple[list[tuple[str, float]], int, set[str] | None]


def _top_and_matches(node: Node, view: View, depth: int) -> Found:
    """A sub-query's best `depth` hits and how many documents it matches; for a query tantivy cannot run alone
    (k-NN: at most k documents), the matched ids too, found in the same pass."""
    if isinstance(node, Lexical):
        top, count = node.top(view, depth)
        return top, count, None
    scored = node.all(view)
    top = sorted(scored.items(), key=lambda kv: (-kv[1], view.docs[kv[0]].ordinal))[:depth]
    return top, len(scored), set(scored)


def count_union(nodes: list[Node], found: list[Found], view: View) -> int:
    """How many documents at least one sub-query matches, without listing them: tantivy counts the union of the
    lexical sub-queries, and only the others' documents (few: a k-NN query's k) are looked up in it by id."""
    lexical = [node.query for node in nodes if isinstance(node, Lexical)]
    others = set().union(*(ids for _, _, ids in found if ids is not None))
    if not lexical:
        return len(others)
    if len(lexical) == 1:
        union = lexical[0]
        total = next(count for node, (_, count, _) in zip(nodes, found, strict=True) if isinstance(node, Lexical))
    else:
        union = Query.boolean_query([(Occur.Should, query) for query in lexical])
        total = view.lexical.count(Query.const_score_query(union, 1.0), view.searcher)
    if others:
        both = Query.boolean_query([(Occur.Must, union), (Occur.Must, view.lexical.ids(others))])
        total += len(others) - view.lexical.count(Query.const_score_query(both, 1.0), view.searcher)
    return total


def _with_filter(sub: dict[str, Any], hybrid_filter: dict[str, Any] | None) -> dict[str, Any]:
    """The sub-query with the hybrid `filter` pushed down, as HybridQueryBuilder does: a k-NN query takes it as
    its own filter (the k nearest among the filtered documents), any other query is wrapped in a bool."""
    if hybrid_filter is None:
        return sub
    if set(sub) == {"knn"} and isinstance(sub["knn"], dict) and len(sub["knn"]) == 1:
        field, params = next(iter(sub["knn"].items()))
        if isinstance(params, dict):
            params = copy.deepcopy(params)
            existing = params.get("filter")
            params["filter"] = hybrid_filter if not existing else {"bool": {"filter": [existing, hybrid_filter]}}
            return {"knn": {field: params}}
    return {"bool": {"must": [sub], "filter": [hybrid_filter]}}


def _java_hash_order(legs: list[list[tuple[Key, float]]], lookup: dict[int, tuple[IndexState, View]]
                     ) -> Callable[[Key], tuple[int, int, int]]:
    """How neural-search orders documents whose fused scores tie: it sorts (stably) the keys of a Java HashMap
    of Lucene doc ids, so ties come in that map's iteration order: by bucket (doc id modulo the table's
    capacity, which grows 16, 32, 64, ... as entries pass three quarters of it), and within a bucket the
    document seen last (sub-queries in order, each in rank order) first, as the real node shows."""
    appearance: dict[Key, int] = {}
    for leg in legs:
        for key, _ in leg:
            appearance.setdefault(key, len(appearance))
    capacities = {}
    for index in {i for i, _ in appearance}:
        entries = sum(1 for i, _ in appearance if i == index)
        capacity = 16
        while entries > capacity * 3 // 4:
            capacity *= 2
        capacities[index] = capacity

    def order(key: Key) -> tuple[int, int, int]:
        index, doc_id = key
        ordinal = lookup[index][1].docs[doc_id].ordinal
        return index, ordinal & (capacities[index] - 1), -appearance[key]

    return order


def _doc_order(lookup: dict[int, tuple[IndexState, View]], key: Key) -> tuple[int, int]:
    index, doc_id = key
    return index, lookup[index][1].docs[doc_id].ordinal


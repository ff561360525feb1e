"""Run `_search` and `_count` over indices: collect hits (lexical, k-NN or hybrid), aggregate, render."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from localsearch.aggregations import aggregate
from localsearch.dsl import compile_query, post_filtered, single_key
from localsearch.failures import (
    ShardError,
    ShardSearchException,
    all_shards_failed,
)
from localsearch.hits import (
    Collected,
    Hit,
    SearchRequest,
    doc_order,
    raise_if_all_failed,
    render,
    shards_header,
)
from localsearch.hybrid import collect_hybrid, hybrid_matches
from localsearch.index import IndexState, View
from localsearch.search import check_window, parse_request
from localsearch.sorting import (
    check_sort,
    compare,
    parse_search_after,
    sort_hits,
    sort_values,
)
from searchcore.errors import ParsingError


def search(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> dict[str, Any]:
    started = time.monotonic()
    collected = collect(engine, targets, req, req.from_ + req.size)
    page = collected.hits[req.from_:req.from_ + req.size]
    response = render(targets, req, page, collected)
    if req.aggs:
        try:
            response["aggregations"] = aggregate(req.aggs, matched_documents(engine, targets, req))
        except ShardError as exc:
            raise all_shards_failed([(t.name, t.uuid, exc) for t in targets]) from exc
    response["took"] = int((time.monotonic() - started) * 1000)
    return response


def collect(engine: Any, targets: Sequence[IndexState], req: SearchRequest, needed: int) -> Collected:
    """Ordered hits (at least `needed` of them when that many match), the total and the max score."""
    kind, _ = single_key(req.query)
    if kind == "hybrid":
        return collect_hybrid(engine, targets, req)
    out = Collected([], 0, None)
    for state in targets:
        try:
            hits, total, terminated = _collect_shard(state, state.view, req, needed)
        except ShardError as exc:
            out.failures.append((state, exc))
            continue
        out.hits += hits
        out.total += total
        out.terminated_early |= terminated
    raise_if_all_failed(targets, out.failures)
    order = {t.name: i for i, t in enumerate(targets)}
    if req.sort:
        out.hits = sort_hits(out.hits, lambda h: h.sort, req.sort, lambda h: doc_order(h, order))
    else:
        out.hits.sort(key=lambda h: (-h.score, *doc_order(h, order)))
    if req.size > 0 or req.scroll is not None:
        out.max_score = max((h.score for h in out.hits), default=None)
    return out


def _collect_shard(state: IndexState, view: View, req: SearchRequest, needed: int
                   ) -> tuple[list[Hit], int, bool]:
    """One index's part of a search, with the checks its shard makes (they fail this index only)."""
    check_window(state, req)
    if req.search_after is not None:
        if not req.sort:
            raise ShardError("Sort must contain at least one field.")
        if req.from_ > 0:
            raise ShardSearchException("`from` parameter must be set to 0 when `search_after` is used.")
    if req.sort:
        check_sort(req.sort, view)
    node = compile_query(req.query, view)
    if req.post_filter is not None:  # before terminate_after: the shard counts only documents that pass it
        node = post_filtered(node, compile_query(req.post_filter, view))
    terminated = False
    if req.sort or req.min_score is not None or req.scroll is not None or req.terminate_after:
        scored = list(node.all(view).items())
        if req.terminate_after:  # the shard stops collecting after this many documents, in index order
            scored.sort(key=lambda kv: view.docs[kv[0]].ordinal)
            terminated = len(scored) > req.terminate_after
            scored = scored[:req.terminate_after]
        total = len(scored)
    else:
        top, total = node.top(view, max(needed, 1))
        scored = [(d, s) for d, s in top if d in view.docs]
    hits = [Hit(state, view, d, s) for d, s in scored]
    if req.min_score is not None:
        hits = [h for h in hits if h.score >= float(req.min_score)]
        total = len(hits)
    if req.sort:
        for hit in hits:
            hit.sort = sort_values(req.sort, view, hit.id, hit.score)
        if req.search_after is not None:
            after = parse_search_after(req.search_after, req.sort, view)
            hits = [h for h in hits if compare(h.sort, after, req.sort) > 0]
    return hits, total, terminated


def matched_documents(engine: Any, targets: Sequence[IndexState], req: SearchRequest) -> list[Hit]:
    """Every matching document (for aggregations), whatever the page."""
    kind, _ = single_key(req.query)
    if kind == "hybrid":
        return hybrid_matches(targets, req)
    out = []
    for state in targets:
        view = state.view
        out += [Hit(state, view, d, s) for d, s in compile_query(req.query, view).all(view).items()]
    if req.min_score is not None:  # documents below min_score are not collected, by the aggregations either
        out = [h for h in out if h.score >= float(req.min_score)]
    return out


def count(engine: Any, targets: Sequence[IndexState], body: Any, params: dict[str, str]) -> dict[str, Any]:
    body = body or {}
    if not isinstance(body, dict) or set(body) - {"query"}:
        raise ParsingError("request does not support [" + ", ".join(sorted(set(body) - {"query"})) + "]"
                           if isinstance(body, dict) else "request body must be an object")
    req = parse_request({k: v for k, v in body.items() if k == "query"},
                        {k: v for k, v in params.items() if k in ("q", "default_operator")})
    total = 0
    failures: list[tuple[IndexState, ShardError]] = []
    for state in targets:
        try:
            total += len(compile_query(req.query, state.view).all(state.view))
        except ShardError as exc:
            failures.append((state, exc))
    raise_if_all_failed(targets, failures)
    return {"count": total, "_shards": shards_header(len(targets), failures)}

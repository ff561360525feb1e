"""The only module that orchestrates a reranked search: plan -> embed -> retrieve -> rerank -> respond."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from searchcore.bodies import parse_json_body
from searchcore.errors import SearchError
from sidecar.metrics import Metrics
from sidecar.plan import PassThrough, SearchPlan, plan_search, strip_rerank_ext
from sidecar.profiles import ProfileResolver, Resolved
from sidecar.query_text import mapped_field_check
from sidecar.respond import Ranked, ScoreMode, extend, rank, render, stage1_source
from sidecar.retrieve import (
    FORWARDED_PARAMS,
    HIT_KEYS,
    MAX_RESULT_WINDOW,
    SUMMARY_KEYS,
    FirstStage,
    Retriever,
    Stage1Request,
    UpstreamAnswer,
)
from sidecar.settings import Profile, Settings
from sidecar.window_cache import WindowCache, caller_identity, window_key

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What the route sends: a JSON body, or `forward` (pass the request through, maybe with a new body)."""

    status: int = 200
    body: Any = None
    forward: bool = False
    forward_body: bytes | None = None
    rerank_status: str = "passthrough"
    label: str = "_none"
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class CachedWindow:
    first: FirstStage
    ranked: list[Ranked]
    status: str      # reranked, partial, skipped-<reason>: every page of this window says the same
    depth: int       # first-stage candidates fetched; a page past them deepens the window


class RerankPipeline:
    def __init__(self, settings: Settings, retriever: Retriever, profiles: ProfileResolver, *,
                 embed: Callable[[str, str, bool], list[float]], rerank: Callable[..., Any],
                 metrics: Metrics) -> None:
        self.settings = settings
        self.retriever = retriever
        self.profiles = profiles
        self.embed = embed          # (model name, text, normalize) -> vector
        self.rerank = rerank        # (model name, query, texts, doc_keys, deadline) -> RerankResult
        self.metrics = metrics
        self.windows = WindowCache(settings.window_cache_entries, settings.window_cache_ttl_s)

    # ---- entry point -------------------------------------------------------------------------
    def search(self, index: str, raw_body: bytes, params: Mapping[str, str], headers: Mapping[str, str]) -> Outcome:
        started = time.monotonic()
        body = parse_json_body(raw_body)
        resolved = self.profiles.resolve(index, headers)
        if resolved.profile is None:
            status = f"skipped-{resolved.skipped}" if resolved.skipped else "passthrough"
            return self._passthrough(raw_body, body, status, resolved.label)
        profile = resolved.profile
        limits = self.settings.limits
        plan = plan_search(body, params, headers, profile_window=profile.window,
                           max_window=min(profile.max_window, limits.max_window), limits=limits,
                           field_is_mapped=mapped_field_check(resolved.fields) if resolved.fields else None)
        if isinstance(plan, PassThrough):
            return self._passthrough(raw_body, body, "passthrough", resolved.label, plan)
        outcome = Outcome(label=resolved.label)
        # the depth is not in the key: a later page reaching past the window deepens the same ranking
        key = window_key(index, plan.query_text, plan.lexical_query, plan.filters, plan.window,
                         _overrides(plan), plan.upstream_body.get("aggs"), plan.upstream_body.get("aggregations"),
                         {k: v for k, v in plan.upstream_body.items() if k in HIT_KEYS},
                         {k: v for k, v in params.items() if k in FORWARDED_PARAMS},
                         resolved.lexical_only, caller_identity(headers), profile)
        cached = self.windows.get(key)
        if cached is not None and cached.status.startswith("skipped") and plan.from_ == 0:
            cached = None   # a new first page tries the model again; later pages keep to the ranking they began on
        self.metrics.cache.labels("window", "hit" if cached else "miss").inc()
        try:
            if cached is None:
                cached = self._compute(index, plan, profile, resolved, params, headers, outcome)
                self.windows.put(key, cached)
            elif cached.depth < _depth(plan):
                cached = self._deepen(cached, index, plan, profile, resolved, params, headers, outcome)
                self.windows.put(key, cached)
        except UpstreamAnswer as exc:
            if not _result_window_too_large(exc):
                raise
            # the index allows fewer hits than the window needs: the cluster answers the client's own request
            return self._passthrough(raw_body, body, "skipped-result-window", resolved.label)
        outcome.rerank_status = cached.status
        explain = plan.explain
        outcome.body = render(cached.first, cached.ranked, from_=plan.from_, size=plan.size,
                              source_spec=plan.source, total_as_int=params.get("rest_total_hits_as_int") in (
                                  "true", ""), explain=explain, took_ms=int((time.monotonic() - started) * 1000))
        outcome.stages["total"] = time.monotonic() - started
        return outcome

    # ---- stages ------------------------------------------------------------------------------
    def _first_stage(self, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                     params: Mapping[str, str], headers: Mapping[str, str], outcome: Outcome) -> FirstStage:
        t0 = time.monotonic()
        vector = None
        if not resolved.lexical_only:
            normalize = resolved.contract.normalized if resolved.contract else True
            vector = self.embed(profile.bi_encoder, plan.query_text, normalize)
        t1 = time.monotonic()
        outcome.stages["embed"] = t1 - t0
        request = self._stage1_request(index, plan, profile, vector, params)
        mode = self.retriever.mode(plan.overrides.retrieval or profile.retrieval, headers)
        first = self.retriever.retrieve(request, mode, headers)
        outcome.stages["retrieve"] = time.monotonic() - t1
        self.metrics.candidates.observe(len(first.candidates))
        return first

    def _compute(self, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                 params: Mapping[str, str], headers: Mapping[str, str], outcome: Outcome) -> CachedWindow:
        first = self._first_stage(index, plan, profile, resolved, params, headers, outcome)
        t2 = time.monotonic()
        window = first.candidates[: plan.window]
        texts = [candidate_text(c.hit.get("_source") or {}, profile.text_fields, profile.separator) for c in window]
        keys = [f"{c.hit.get('_index')}/{c.hit.get('_id')}" for c in window]
        budget_ms = plan.overrides.budget_ms or profile.budget_ms
        result = self.rerank(profile.reranker, plan.query_text, texts, keys, t2 + budget_ms / 1000.0)
        outcome.stages["rerank"] = time.monotonic() - t2
        status = result.status   # counted per answered search by the route (fail-open included)
        if status.startswith("skipped"):
            ranked = rank(first.candidates, [], [], _score_mode(profile, plan))
        else:
            ranked = rank(first.candidates, list(result.logits), list(result.passage_index),
                          _score_mode(profile, plan))
        return CachedWindow(first, ranked, status, _depth(plan))

    def _deepen(self, cached: CachedWindow, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                params: Mapping[str, str], headers: Mapping[str, str], outcome: Outcome) -> CachedWindow:
        """A page past the cached depth: more first-stage candidates after the ranking already served."""
        deeper = self._first_stage(index, plan, profile, resolved, params, headers, outcome)
        return CachedWindow(cached.first, extend(cached.ranked, deeper.candidates), cached.status, _depth(plan))

    def _stage1_request(self, index: str, plan: SearchPlan, profile: Profile, vector: list[float] | None,
                        params: Mapping[str, str]) -> Stage1Request:
        body = plan.upstream_body
        # what the cluster would count and aggregate for the client's own request
        aggs = body.get("aggs", body.get("aggregations"))
        if aggs is None:   # the total alone: the lexical leg's query (post_filter included) counts the same hits
            summary: dict[str, Any] = {"size": 0, "query": plan.lexical_query}
        else:              # aggregations run on the query, the total counts what passes the post_filter
            summary = {"size": 0, "query": plan.client_query, "aggs": aggs}
            if plan.post_filter is not None:
                summary["post_filter"] = plan.post_filter
        summary.update({k: body[k] for k in SUMMARY_KEYS if k in body})
        o = plan.overrides
        return Stage1Request(
            index=index, lexical_query=plan.lexical_query, filters=plan.filters, vector=vector,
            vector_field=profile.vector_field, depth=_depth(plan),
            fusion=profile.fusion_config(o.fusion, o.fusion_combination, o.fusion_weights, o.fusion_rank_constant),
            source=stage1_source(plan.source, profile.text_fields, profile.vector_field),
            hit_options={k: v for k, v in body.items() if k in HIT_KEYS}, summary_body=summary,
            params={k: v for k, v in params.items() if k in FORWARDED_PARAMS})

    def _passthrough(self, raw_body: bytes, body: Any, status: str, label: str,
                     plan: PassThrough | None = None) -> Outcome:
        forward_body = None
        if plan is not None and plan.body_changed:
            forward_body = json.dumps(plan.body).encode()  # ext.rerank removed: the cluster must not see it
        elif plan is None and isinstance(body, dict):
            stripped = strip_rerank_ext(body)
            if stripped is not body:
                forward_body = json.dumps(stripped).encode()
        return Outcome(forward=True, forward_body=forward_body, rerank_status=status, label=label)


def _result_window_too_large(exc: UpstreamAnswer) -> bool:
    return exc.status == 400 and "Result window is too large" in json.dumps(exc.upstream_body)


def _depth(plan: SearchPlan) -> int:
    """Stage 1 fetches the window, and further when a page reaches past it (first-stage order there)."""
    return min(max(plan.window, plan.from_ + plan.size), MAX_RESULT_WINDOW)


def _overrides(plan: SearchPlan) -> tuple[Any, ...]:
    o = plan.overrides
    return (o.window, o.fusion, o.fusion_combination, o.fusion_weights, o.fusion_rank_constant, o.score_mode,
            o.budget_ms, o.retrieval)


def _score_mode(profile: Profile, plan: SearchPlan) -> ScoreMode:
    return ScoreMode(plan.overrides.score_mode or profile.score_mode, profile.blend_alpha,
                     profile.sigmoid_temperature, profile.sigmoid_bias)


def candidate_text(source: Mapping[str, Any], fields: tuple[str, ...], separator: str) -> str:
    """The profile's text fields from `_source`, in order, joined (lists flattened, dotted paths followed)."""
    parts: list[str] = []
    for path in fields:
        for value in _values_at(source, path.split(".")):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                text = str(value).strip()
                if text:
                    parts.append(text)
    return separator.join(parts)


def _values_at(node: Any, parts: list[str]) -> list[Any]:
    if isinstance(node, list):
        return [v for item in node for v in _values_at(item, parts)]
    if not parts:
        return [node]
    if not isinstance(node, Mapping):
        return []
    if parts[0] in node:
        return _values_at(node[parts[0]], parts[1:])
    joined = ".".join(parts)  # a flattened key like {"a.b": ...}
    return [node[joined]] if joined in node else []


def error_outcome(exc: SearchError) -> Outcome:
    return Outcome(status=exc.status, body=exc.body(), rerank_status="error")

"""Where searches are orchestrated: one search goes plan -> embed -> retrieve -> rerank -> respond, and an
`_msearch` fans its searches out over the same path. Routes only read the request and send the answer."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from searchcore.bodies import BodyNotJson, parse_json_body, parse_ndjson_pairs
from searchcore.errors import IllegalArgument, SearchError
from sidecar.first_stage_request import depth as stage_one_depth
from sidecar.first_stage_request import first_stage_request
from sidecar.hit_text import candidate_text
from sidecar.metrics import DEGRADED_SEPARATOR, Metrics, count_search_outcome
from sidecar.plan import PassThrough, SearchPlan, plan_search, strip_rerank_ext
from sidecar.profile_resolver import ProfileResolver, Resolved
from sidecar.query_text import mapped_field_check
from sidecar.request_form import all_finite
from sidecar.respond import Ranked, ScoreMode, extend, first_stage_source, rank, render
from sidecar.retrieve import (
    FORWARDED_PARAMS,
    HIT_KEYS,
    FirstStageResult,
    Retriever,
    UpstreamRefused,
    index_path,
)
from sidecar.settings import Profile, Settings
from sidecar.shared_cache.windows import SharedWindows, WindowTiers
from sidecar.upstream_flavour import UpstreamFlavour
from sidecar.window_cache import CachedWindow, WindowCache, WindowKey, caller_identity
from sidecar.window_sizing import UNMEASURED_WINDOW

log = logging.getLogger(__name__)
BI_ENCODER_UNAVAILABLE = "bi-encoder-unavailable"   # stage 1 ran on the lexical query alone: X-Rerank-Status says
_WARN_EVERY_S = 60.0
CACHE_UNAVAILABLE = "unavailable"   # X-Rerank-Cache: the shared cache was down; the answer was computed without it


@dataclass
class Outcome:
    """What the route sends: a JSON body, or `forward` (pass the request through, maybe with a new body)."""

    status: int = 200
    body: Any = None
    forward: bool = False
    forward_body: bytes | None = None
    rerank_status: str = "passthrough"
    metrics_index: str = "_none"   # the bounded `index` label of the request metrics
    stages: dict[str, float] = field(default_factory=dict)
    degraded: str | None = None    # why stage 1 ran degraded (BI_ENCODER_UNAVAILABLE), added to the status
    cache: str | None = None       # CACHE_UNAVAILABLE: the shared cache was down (header X-Rerank-Cache)


@dataclass
class MsearchAnswer:
    body: dict[str, Any]            # {"took", "responses"}: one answer per search, in order
    statuses: list[str]             # each search's rerank status, for the X-Rerank-Status header
    stages: dict[str, float]        # seconds per stage, summed over the searches
    forward: bool = False           # NDJSON the sidecar cannot read: the request goes to the cluster as sent


class RerankPipeline:
    def __init__(self, settings: Settings, retriever: Retriever, profiles: ProfileResolver, *,
                 embed: Callable[[str, str, bool], list[float]], rerank: Callable[..., Any],
                 metrics: Metrics, window_for: Callable[[Profile], int] | None = None,
                 shared_windows: SharedWindows | None = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.profiles = profiles
        self.embed = embed          # (model name, text, normalize, caller digest) -> vector
        self.rerank = rerank        # (model name, query, texts, doc_keys, deadline) -> RerankResult
        self.metrics = metrics
        # a profile's default window: configured, or sized to its budget (window_sizing.py)
        self.window_for = window_for or (lambda profile: profile.window or UNMEASURED_WINDOW)
        # this process's windows, and with a shared cache every replica's (shared_cache/windows.py)
        self.windows = WindowTiers(WindowCache(settings.window_cache_entries, settings.window_cache_ttl_s),
                                   shared_windows, metrics)
        self._warned: dict[str, float] = {}

    # ---- entry point -------------------------------------------------------------------------
    def search(self, index: str, raw_body: bytes, params: Mapping[str, str], headers: Mapping[str, str],
               extra_body_keys: frozenset[str] = frozenset()) -> Outcome:
        started = time.monotonic()
        try:
            body = parse_json_body(raw_body)
        except BodyNotJson as exc:
            if exc.fault.too_deep:   # the sidecar's own limit (limits.max_nesting_depth), for any index
                raise
            # not JSON: the cluster refuses it in its own words (Jackson's error types), as it would without us
            return Outcome(forward=True)
        resolved = self.profiles.resolve(index, headers)
        if resolved.profile is None:
            status = f"skipped-{resolved.skipped}" if resolved.skipped else "passthrough"
            return self._passthrough(raw_body, body, status, resolved.metrics_index)
        profile = resolved.profile
        limits = self.settings.limits
        plan = plan_search(body, params, headers, profile_window=self.window_for(profile),
                           max_window=min(profile.max_window, limits.max_window), limits=limits,
                           field_is_mapped=mapped_field_check(resolved.fields) if resolved.fields else None,
                           extra_body_keys=extra_body_keys)
        if isinstance(plan, PassThrough):
            return self._passthrough(raw_body, body, "passthrough", resolved.metrics_index, plan)
        outcome = Outcome(metrics_index=resolved.metrics_index)
        key = WindowKey(
            index=index, query_text=plan.query_text, lexical_query=plan.lexical_query, filters=plan.filters,
            window=plan.window, overrides=_overrides(plan),
            aggregations=plan.upstream_body.get("aggs", plan.upstream_body.get("aggregations")),
            hit_options={k: v for k, v in plan.upstream_body.items() if k in HIT_KEYS},
            forwarded_params={k: v for k, v in params.items() if k in FORWARDED_PARAMS},
            lexical_only=resolved.lexical_only, caller=caller_identity(headers), profile=profile)
        try:
            cached, ranked = self._window(key, index, plan, profile, resolved, params, headers, outcome)
        except UpstreamRefused as exc:
            if not _result_window_too_large(exc):
                raise
            # the index allows fewer hits than the window needs: the cluster answers the client's own request
            return self._passthrough(raw_body, body, "skipped-result-window", resolved.metrics_index)
        outcome.rerank_status = cached.status
        explain = plan.explain
        outcome.body = render(cached.first, ranked, from_=plan.from_, size=plan.size,
                              source_spec=plan.source, total_as_int=params.get("rest_total_hits_as_int") in (
                                  "true", ""), explain=explain, took_ms=int((time.monotonic() - started) * 1000))
        outcome.stages["total"] = time.monotonic() - started
        outcome.cache = self.shared_cache_status()
        return outcome

    def shared_cache_status(self) -> str | None:
        """CACHE_UNAVAILABLE while the shared cache is marked down (any of its caches failed a call just now)."""
        return None if self.windows.shared_available else CACHE_UNAVAILABLE

    def answer(self, index: str, raw_body: bytes, params: Mapping[str, str], headers: Mapping[str, str],
               request_id: str, extra_body_keys: frozenset[str] = frozenset()) -> Outcome:
        """One search that never raises: errors answer OpenSearch-style, and the search is counted in the
        metrics (stage timings, rerank status, fail-open reason). Runs in `msearch`'s threads too."""
        try:
            outcome = self.search(index, raw_body, dict(params), headers, extra_body_keys)
        except SearchError as exc:
            outcome = error_outcome(exc)
        except Exception:  # never a trace: log it, answer OpenSearch-style
            log.exception("request_id=%s search failed", request_id)
            outcome = error_outcome(SearchError("internal error in the sidecar", status=500))
        for stage, seconds in outcome.stages.items():
            if stage != "total":
                self.metrics.stage_seconds.labels(stage).observe(seconds)
        count_search_outcome(self.metrics, outcome.rerank_status)
        return outcome

    def msearch(self, index: str | None, raw_body: bytes, params: Mapping[str, str], headers: Mapping[str, str],
                request_id: str) -> MsearchAnswer:
        """`_msearch`: each search through `answer` on a few threads; those not reranked (no index, pass-through
        profiles) go to the cluster together in one `_msearch` of their own, in their places in the answer."""
        started = time.monotonic()
        try:
            items = parse_ndjson_pairs(raw_body)
        except SearchError:   # the cluster refuses it in its own words (Jackson's error types), or reads it
            return MsearchAnswer({}, ["passthrough"], {}, forward=True)
        if not all_finite(items):   # `1e400`: no JSON the sidecar writes can carry it on; the cluster reads it
            return MsearchAnswer({}, ["passthrough"], {}, forward=True)
        check_msearch_items(items, self.settings.limits.max_msearch_items)
        shared = dict(params)

        def run(i: int) -> Outcome:
            header, body = items[i]
            target = header.get("index", index)
            if isinstance(target, list) and all(isinstance(name, str) for name in target):
                target = ",".join(target)
            if not target or not isinstance(target, str) or has_lone_surrogate(header):
                return Outcome(forward=True)   # no index, or one only the cluster can name: its own answer
            item_params = {**shared, **{k: str(v).lower() if isinstance(v, bool) else str(v)
                                        for k, v in header.items() if k != "index"}}
            return self.answer(target, json.dumps(body).encode(), item_params, headers, request_id)

        with ThreadPoolExecutor(max_workers=self.settings.msearch_concurrency) as pool:
            outcomes = list(pool.map(run, range(len(items))))
        results: list[Any] = [None] * len(items)
        stages: dict[str, float] = {}
        forwarded: list[int] = []
        for i, outcome in enumerate(outcomes):
            for stage, seconds in outcome.stages.items():   # the request's log line: summed over items
                if stage != "total":
                    stages[stage] = stages.get(stage, 0.0) + seconds
            if outcome.forward:
                forwarded.append(i)
            else:
                results[i] = {**(outcome.body if isinstance(outcome.body, dict) else {}), "status": outcome.status}
        if forwarded:
            sent = [(items[i][0], json.loads(outcomes[i].forward_body) if outcomes[i].forward_body else items[i][1])
                    for i in forwarded]
            for i, item in zip(forwarded, self._forward_msearch(index, sent, shared, headers), strict=True):
                results[i] = item
        return MsearchAnswer({"took": int((time.monotonic() - started) * 1000), "responses": results},
                             [o.rerank_status for o in outcomes], stages)

    def _forward_msearch(self, index: str | None, items: list[tuple[dict[str, Any], Any]],
                         params: Mapping[str, str], headers: Mapping[str, str]) -> list[dict[str, Any]]:
        payload = "".join(json.dumps(h) + "\n" + json.dumps(b) + "\n" for h, b in items).encode()
        path = (index_path(index) if index else "") + "/_msearch"
        if params:
            path += "?" + urlencode(dict(params))
        upstream_headers = {**headers, "Content-Type": "application/x-ndjson"}
        status, answer = self.retriever.upstream.json("POST", path, payload, upstream_headers)
        if status == 400 and isinstance(answer, dict) and "error" in answer:
            # a search the cluster refuses to parse fails the whole _msearch there: so it does here (a 401 or 403
            # is the caller's, answered per search as for the reranked ones)
            raise UpstreamRefused(status, answer)
        if status >= 300 or not isinstance(answer, dict) or len(answer.get("responses", [])) != len(items):
            error = answer if isinstance(answer, dict) and "error" in answer else {
                "error": {"root_cause": [], "type": "upstream_exception", "reason": "unexpected _msearch answer"},
                "status": status}
            return [error for _ in items]
        return answer["responses"]

    # ---- the reranked window: cached (in memory, shared), or computed --------------------------
    def _window(self, key: WindowKey, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                params: Mapping[str, str], headers: Mapping[str, str],
                outcome: Outcome) -> tuple[CachedWindow, list[Ranked]]:
        """The window this search's page comes from, and the ranked list to render the page from (its hits there)."""
        cached = self.windows.get(key)
        retry = cached is not None and _degraded(cached.status) and plan.from_ == 0
        if retry:
            cached = None   # a new first page tries the models again; later pages keep to the ranking they began on
        self.metrics.cache.labels("window", "hit" if cached else "miss").inc()
        if cached is None:
            cached = self._compute(index, plan, profile, resolved, params, headers, outcome)
            cached = self.windows.put(key, cached, replace=retry)
        elif cached.depth < stage_one_depth(plan):
            cached = self._deepen(cached, index, plan, profile, resolved, params, headers, outcome)
            cached = self.windows.put(key, cached, replace=True)
        # a window another replica computed holds ids only: this page's hits are fetched by id
        return cached, self.windows.page(cached, plan.from_, plan.size, lambda ids: self.retriever.fetch_hits(
            index, ids, lexical_query=plan.lexical_query, source=first_stage_source(plan.source, profile.text_fields),
            hit_options={k: v for k, v in plan.upstream_body.items() if k in HIT_KEYS},
            params={k: v for k, v in params.items() if k in FORWARDED_PARAMS}, headers=headers))

    # ---- stages ------------------------------------------------------------------------------
    def _first_stage(self, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                     params: Mapping[str, str], headers: Mapping[str, str], outcome: Outcome) -> FirstStageResult:
        t0 = time.monotonic()
        vector = None
        if not resolved.lexical_only:
            normalize = resolved.contract.normalized if resolved.contract else True
            try:
                vector = self.embed(profile.bi_encoder, plan.query_text, normalize, caller_identity(headers))
            except Exception as exc:   # fail open: the lexical leg alone, still reranked, and flagged
                self._warn_bi_encoder(profile.bi_encoder, exc)
                outcome.degraded = BI_ENCODER_UNAVAILABLE
        t1 = time.monotonic()
        outcome.stages["embed"] = t1 - t0
        request = first_stage_request(index, plan, profile, vector, params)
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
        # the caller's digest scopes the score cache as it does the window cache: no entry is shared across callers
        caller = caller_identity(headers)
        keys = [f"{caller}|{c.hit.get('_index')}/{c.hit.get('_id')}" for c in window]
        budget_ms = plan.overrides.budget_ms or profile.budget_ms
        result = self.rerank(profile.reranker, plan.query_text, texts, keys, t2 + budget_ms / 1000.0)
        outcome.stages["rerank"] = time.monotonic() - t2
        status = result.status   # counted per answered search by the route (fail-open included)
        if outcome.degraded:
            status += DEGRADED_SEPARATOR + outcome.degraded
        if status.startswith("skipped"):
            ranked = rank(first.candidates, [], [], _score_mode(profile, plan))
        else:
            ranked = rank(first.candidates, list(result.logits), list(result.passage_index),
                          _score_mode(profile, plan))
        return CachedWindow(first, ranked, status, stage_one_depth(plan))

    def _warn_bi_encoder(self, model: str | None, exc: Exception) -> None:
        """Logged at most once a minute per bi-encoder (with the trace the first time), not once per search."""
        now = time.monotonic()
        key = str(model)
        first = key not in self._warned
        if first or now - self._warned[key] >= _WARN_EVERY_S:
            self._warned[key] = now
            log.warning("bi-encoder %s could not embed the query (%s: %s): searches run on the lexical query alone, "
                        "reranked, flagged %s", model, type(exc).__name__, exc, BI_ENCODER_UNAVAILABLE,
                        exc_info=first)

    def _deepen(self, cached: CachedWindow, index: str, plan: SearchPlan, profile: Profile, resolved: Resolved,
                params: Mapping[str, str], headers: Mapping[str, str], outcome: Outcome) -> CachedWindow:
        """A page past the cached depth: more first-stage candidates after the ranking already served."""
        deeper = self._first_stage(index, plan, profile, resolved, params, headers, outcome)
        status = cached.status
        if outcome.degraded and outcome.degraded not in status.split(DEGRADED_SEPARATOR):
            status += DEGRADED_SEPARATOR + outcome.degraded   # the candidates past the window came from it
        return CachedWindow(cached.first, extend(cached.ranked, deeper.candidates), status, stage_one_depth(plan))

    def _passthrough(self, raw_body: bytes, body: Any, status: str, metrics_index: str,
                     plan: PassThrough | None = None) -> Outcome:
        forward_body = None
        if plan is not None and plan.body_changed:
            forward_body = json.dumps(plan.body).encode()  # ext.rerank removed: the cluster must not see it
        elif plan is None and isinstance(body, dict):
            stripped = strip_rerank_ext(body)
            if stripped is not body:
                forward_body = json.dumps(stripped).encode()
        return Outcome(forward=True, forward_body=forward_body, rerank_status=status, metrics_index=metrics_index)


def _result_window_too_large(exc: UpstreamRefused) -> bool:
    return exc.status == 400 and "Result window is too large" in json.dumps(exc.upstream_body)


def _degraded(status: str) -> bool:
    """Not the ranking the models would give: reranking skipped, or stage 1 without its k-NN leg."""
    return status.startswith("skipped") or DEGRADED_SEPARATOR in status


def _overrides(plan: SearchPlan) -> tuple[Any, ...]:
    o = plan.overrides
    return (o.window, o.fusion, o.fusion_combination, o.fusion_weights, o.fusion_rank_constant, o.score_mode,
            o.budget_ms, o.retrieval)


def _score_mode(profile: Profile, plan: SearchPlan) -> ScoreMode:
    return ScoreMode(plan.overrides.score_mode or profile.score_mode, profile.blend_alpha,
                     profile.sigmoid_temperature, profile.sigmoid_bias)


def parse_msearch(raw: bytes, max_items: int) -> list[tuple[dict[str, Any], Any]]:
    items = parse_ndjson_pairs(raw)
    check_msearch_items(items, max_items)
    return items


def check_msearch_items(items: list[Any], max_items: int) -> None:
    if len(items) > max_items:
        raise IllegalArgument(f"msearch has {len(items)} searches, more than the sidecar's limit of [{max_items}]")


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate (a valid `\\ud800` escape that no UTF-8 holds)."""
    if isinstance(value, str):
        return not value.isascii() and any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return isinstance(value, list) and any(has_lone_surrogate(v) for v in value)


def build_pipeline(settings: Settings, upstream: Any, models: Any, *, metrics: Metrics,
                   rerank: Callable[..., Any] | None = None, flavour: UpstreamFlavour | None = None,
                   shared_store: Any = None) -> RerankPipeline:
    """The search pipeline as the app serves it; relevance/ builds the systems it evaluates with it too.

    `models` embeds and reranks (the sidecar's model service); `rerank` replaces its reranking (an evaluation
    of the first stage alone). The setup credentials read mappings and create pipelines that callers may not.
    """
    setup_headers = basic_auth_headers(settings.setup_username, settings.setup_password)
    retriever = Retriever(upstream, setup_headers, flavour)
    profiles = ProfileResolver(settings, upstream, setup_headers)
    sizing = getattr(models, "sizing", None)
    shared_windows = None
    if shared_store is not None and settings.window_cache_ttl_s > 0 and settings.window_cache_entries > 0:
        shared_windows = SharedWindows(shared_store, prefix=settings.cache_key_prefix,
                                       ttl_s=settings.window_cache_ttl_s)
    return RerankPipeline(settings, retriever, profiles, embed=models.embed, rerank=rerank or models.rerank,
                          metrics=metrics, window_for=sizing.window if sizing is not None else None,
                          shared_windows=shared_windows)


def basic_auth_headers(username: str | None, password: str | None) -> dict[str, str]:
    if not username:
        return {}
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def error_outcome(exc: SearchError) -> Outcome:
    return Outcome(status=exc.status, body=exc.body(), rerank_status="error")

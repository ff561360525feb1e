"""Prometheus metrics (design section 8), correct under gunicorn's several workers (multiprocess mode).

prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported: the serve command sets and wipes that
directory before gunicorn forks, `gunicorn_conf.child_exit` marks dead workers, and `/metrics` collects all
workers' files into a fresh registry on every scrape.

Every label has a bounded set of values: routes, stages, endpoints, reasons and statuses are fixed by the
code; `index` is a configured profile pattern, the name of an index that carries the ingest contract (at
most MAX_INDEX_LABELS of them) or one of the fixed labels `_contract` / `_none`; `model` names a configured
model. Query text and document ids never become labels. docs/operations.md lists every metric.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

PREFIX = "rerank_sidecar"
# latencies from sub-millisecond cache hits to multi-second CPU reranks
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)

# label values created at start, so rates and alerts see a 0 before the first event
FAIL_OPEN_REASONS = ("timeout", "error", "nan", "model-unavailable", "contract-mismatch", "mapping-unavailable",
                     "result-window", "bi-encoder-unavailable")
# a search whose stage 1 ran degraded but was still reranked carries its reason after a "+" in its status:
# `reranked+bi-encoder-unavailable` (the query could not be embedded: the lexical leg alone was reranked)
DEGRADED_SEPARATOR = "+"
RERANK_STATUSES = ("reranked", "partial", "skipped", "passthrough", "error")
CACHES = ("embedding", "score", "window")
CACHE_BACKENDS = ("memory", "redis")
CACHE_OPERATIONS = ("get", "set")
# a shared-cache round trip on a LAN is sub-millisecond; past the timeout (50 ms by default) it counts as failed
CACHE_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


@dataclass(frozen=True)
class Metrics:
    requests: Counter            # every answered request but /-/* and /metrics
    stage_seconds: Histogram     # embed / retrieve / rerank per search, total per _search or _msearch
    upstream_seconds: Histogram  # every call to the cluster, until its answer's headers
    upstream_requests: Counter   # the same calls by outcome (status class, timeout, unavailable)
    upstream_up: Gauge           # 1 when the cluster answered the ping of the last scrape
    candidates: Histogram
    batch_pairs: Histogram       # per model call (cross-request batching feeds the same metric)
    batch_tokens: Histogram      # padded tokens per model call
    model_seconds: Histogram     # duration of one model call
    batch_requests: Histogram    # requests whose pairs shared one model call (cross-request batching)
    cache: Counter               # look-ups per cache, hit or miss, whichever backend answered
    cache_backend: Counter       # look-ups per cache and backend (memory tier, redis), hit, miss or unavailable
    cache_backend_seconds: Histogram   # one round trip to the shared cache, by operation
    cache_backend_unavailable: Counter  # shared-cache calls that failed or were skipped while it was down
    cache_backend_up: Gauge      # 1 while the shared cache answers (the lowest of the live workers')
    fail_open: Counter           # searches not reranked (skipped) or reranked from a degraded stage 1, by reason
    rerank_status: Counter
    in_flight: Gauge
    model_info: Gauge
    model_speed: Gauge           # pairs/s of each cross-encoder, measured at warm-up (window_sizing.py)
    window: Gauge                # the window each profile reranks by default (configured or sized)
    build_info: Gauge


_lock = threading.Lock()
_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process's metric objects (prometheus_client registers each name once per process)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _create()
        return _metrics


def _create() -> Metrics:
    from sidecar import __version__
    metrics = Metrics(
        requests=Counter(f"{PREFIX}_requests_total", "HTTP requests answered, by route, index and status",
                         ["route", "index", "status"]),
        stage_seconds=Histogram(f"{PREFIX}_stage_duration_seconds", "Time spent per stage of a reranked search "
                                "(total: the whole _search or _msearch request)", ["stage"], buckets=LATENCY_BUCKETS),
        upstream_seconds=Histogram(f"{PREFIX}_upstream_duration_seconds",
                                   "Time from sending a request to the cluster to its answer's headers, by endpoint",
                                   ["endpoint"], buckets=LATENCY_BUCKETS),
        upstream_requests=Counter(f"{PREFIX}_upstream_requests_total", "Requests sent to the cluster, by endpoint "
                                  "and outcome (2xx..5xx, timeout, unavailable)", ["endpoint", "outcome"]),
        upstream_up=Gauge(f"{PREFIX}_upstream_up", "1 when the cluster answered the sidecar's ping at the last "
                          "scrape, else 0", multiprocess_mode="livemostrecent"),
        candidates=Histogram(f"{PREFIX}_candidates", "First-stage candidates per reranked search",
                             buckets=COUNT_BUCKETS),
        batch_pairs=Histogram(f"{PREFIX}_batch_pairs", "Query-passage pairs per model call", ["model"],
                              buckets=COUNT_BUCKETS),
        batch_tokens=Histogram(f"{PREFIX}_batch_tokens", "Padded tokens per model call", ["model"],
                               buckets=TOKEN_BUCKETS),
        model_seconds=Histogram(f"{PREFIX}_model_call_duration_seconds", "Duration of one cross-encoder call",
                                ["model"], buckets=LATENCY_BUCKETS),
        batch_requests=Histogram(f"{PREFIX}_batch_requests", "Requests whose pairs shared one model call "
                                 "(cross-request batching)", ["model"], buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32)),
        cache=Counter(f"{PREFIX}_cache_requests_total", "Cache look-ups by cache and result", ["cache", "result"]),
        cache_backend=Counter(f"{PREFIX}_cache_backend_requests_total", "Cache look-ups by cache, backend (memory: "
                              "the process's own tier; redis: the shared one, asked on a memory miss) and result "
                              "(hit, miss, unavailable)", ["cache", "backend", "result"]),
        cache_backend_seconds=Histogram(f"{PREFIX}_cache_backend_duration_seconds", "Duration of one round trip to "
                                        "the shared cache, by operation", ["backend", "operation"],
                                        buckets=CACHE_LATENCY_BUCKETS),
        cache_backend_unavailable=Counter(f"{PREFIX}_cache_backend_unavailable_total", "Shared-cache calls that "
                                          "failed (timeout, refused) or were skipped while the backend was "
                                          "marked down; the answer was computed without it", ["backend"]),
        cache_backend_up=Gauge(f"{PREFIX}_cache_backend_up", "1 while the shared cache answers, 0 while it is "
                               "marked down (the lowest of the live workers')", ["backend"],
                               multiprocess_mode="livemin"),
        fail_open=Counter(f"{PREFIX}_fail_open_total",
                          "Searches answered in first-stage order because reranking was skipped, or reranked from "
                          "a degraded first stage (bi-encoder-unavailable: the lexical leg alone)", ["reason"]),
        rerank_status=Counter(f"{PREFIX}_rerank_status_total", "Outcome of searches the sidecar handled",
                              ["status"]),
        in_flight=Gauge(f"{PREFIX}_in_flight_requests", "Requests being processed", multiprocess_mode="livesum"),
        model_info=Gauge(f"{PREFIX}_model_info", "Models loaded in a live worker (value 1)",
                         ["role", "model", "backend"], multiprocess_mode="livemax"),
        model_speed=Gauge(f"{PREFIX}_model_pairs_per_second", "Cross-encoder speed measured at warm-up: "
                          "(query, passage) pairs per second of typical length through a worker's model threads "
                          "(the slowest live worker)", ["model"], multiprocess_mode="livemin"),
        window=Gauge(f"{PREFIX}_rerank_window", "Documents a search reranks by default, per profile (configured, "
                     "or sized at warm-up to fit budget_ms); the smallest of the live workers'", ["profile"],
                     multiprocess_mode="livemin"),
        build_info=Gauge(f"{PREFIX}_build_info", "The sidecar's version (value 1)", ["version"],
                         multiprocess_mode="livemax"),
    )
    for reason in FAIL_OPEN_REASONS:
        metrics.fail_open.labels(reason)
    for status in RERANK_STATUSES:
        metrics.rerank_status.labels(status)
    for cache in CACHES:
        for result in ("hit", "miss"):
            metrics.cache.labels(cache, result)
            metrics.cache_backend.labels(cache, "memory", result)
    metrics.build_info.labels(__version__).set(1)
    return metrics


def count_search_outcome(metrics: Metrics, status: str) -> None:
    """One search (or _msearch item) answered with `status` (reranked, partial, skipped-<reason>...), perhaps
    with a degraded stage's reason after a "+" (`reranked+bi-encoder-unavailable`)."""
    status, *degraded = status.split(DEGRADED_SEPARATOR)
    for reason in degraded:
        metrics.fail_open.labels(reason).inc()
    if status.startswith("skipped-"):
        metrics.fail_open.labels(status.removeprefix("skipped-")).inc()
        status = "skipped"
    metrics.rerank_status.labels(status).inc()


def render_metrics() -> tuple[bytes, str]:
    """The exposition text: every worker's metrics summed in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)

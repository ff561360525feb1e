"""Prometheus metrics (design section 8), correct under gunicorn's several workers (multiprocess mode).

prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported: the serve command sets and wipes that
directory before gunicorn forks, `gunicorn_conf.child_exit` marks dead workers, and `/metrics` collects all
workers' files into a fresh registry on every scrape.
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


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    stage_seconds: Histogram
    upstream_seconds: Histogram
    candidates: Histogram
    batch_pairs: Histogram
    batch_tokens: Histogram
    batch_requests: Histogram
    cache: Counter
    fail_open: Counter
    rerank_status: Counter
    in_flight: Gauge
    model_info: Gauge


_lock = threading.Lock()
_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process's metric objects (prometheus_client registers each name once per process)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics(
                requests=Counter(f"{PREFIX}_requests_total", "HTTP requests answered, by route, index and status",
                                 ["route", "index", "status"]),
                stage_seconds=Histogram(f"{PREFIX}_stage_duration_seconds",
                                        "Time spent per stage of a reranked search",
                                        ["stage"], buckets=LATENCY_BUCKETS),
                upstream_seconds=Histogram(f"{PREFIX}_upstream_duration_seconds",
                                           "Time waiting on the cluster, by kind of call", ["call"],
                                           buckets=LATENCY_BUCKETS),
                candidates=Histogram(f"{PREFIX}_candidates", "First-stage candidates per reranked search",
                                     buckets=COUNT_BUCKETS),
                batch_pairs=Histogram(f"{PREFIX}_batch_pairs", "Query-passage pairs per model call",
                                      ["model"], buckets=COUNT_BUCKETS),
                batch_tokens=Histogram(f"{PREFIX}_batch_tokens", "Tokens per model call", ["model"],
                                       buckets=TOKEN_BUCKETS),
                batch_requests=Histogram(f"{PREFIX}_batch_requests",
                                         "Requests whose pairs shared one model call (cross-request batching)",
                                         ["model"], buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32)),
                cache=Counter(f"{PREFIX}_cache_requests_total", "Cache look-ups by cache and result",
                              ["cache", "result"]),
                fail_open=Counter(f"{PREFIX}_fail_open_total",
                                  "Searches answered with first-stage results because reranking failed", ["reason"]),
                rerank_status=Counter(f"{PREFIX}_rerank_status_total", "Outcome of searches the sidecar handled",
                                      ["status"]),
                in_flight=Gauge(f"{PREFIX}_in_flight_requests", "Requests being processed",
                                multiprocess_mode="livesum"),
                model_info=Gauge(f"{PREFIX}_model_info", "Models loaded in this process (value 1)",
                                 ["role", "model", "backend"], multiprocess_mode="max"),
            )
        return _metrics


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

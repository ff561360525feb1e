"""Feeds the metrics from the parts that know nothing of Prometheus: cluster calls, model calls, index labels."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.metrics import Metrics

MAX_INDEX_LABELS = 100
# path segments the cluster's REST API starts its endpoints with; anything else is "other"
KNOWN_ENDPOINTS = frozenset({
    "_search", "_msearch", "_count", "_mapping", "_bulk", "_doc", "_update", "_create", "_source", "_mget",
    "_cat", "_cluster", "_nodes", "_aliases", "_alias", "_refresh", "_flush", "_forcemerge", "_settings",
    "_stats", "_plugins", "_security", "_snapshot", "_tasks", "_delete_by_query", "_update_by_query",
    "_reindex", "_field_caps", "_explain", "_validate", "_analyze", "_pit", "_scripts", "_ingest",
    "_index_template", "_template", "_component_template", "_data_stream", "_open", "_close", "_rollover",
    "_termvectors", "_mtermvectors", "_rank_eval", "_opendistro", "_dashboards",
})
_SEARCH_SUBPATHS = frozenset({"pipeline", "scroll", "template", "point_in_time"})


def endpoint_label(path_and_query: str) -> str:
    """A bounded name for a cluster call: `_search`, `_search_pipeline`, `_cat`, `index`, `root`, `other`."""
    segments = [s for s in path_and_query.split("?", 1)[0].split("/") if s]
    if not segments:
        return "root"
    for position, segment in enumerate(segments):
        if segment.startswith("_"):
            if segment not in KNOWN_ENDPOINTS:
                return "other"
            following = segments[position + 1] if position + 1 < len(segments) else ""
            if segment == "_search" and following in _SEARCH_SUBPATHS:
                return f"_search_{following}"
            return segment
    return "index"   # /{index} itself: create, delete, exists, get


def upstream_observer(metrics: Metrics) -> Callable[[str, str, float], None]:
    """What `Upstream` calls after each request: (path, outcome, seconds) into the upstream metrics."""

    def observe(path_and_query: str, outcome: str, seconds: float) -> None:
        endpoint = endpoint_label(path_and_query)
        metrics.upstream_seconds.labels(endpoint).observe(seconds)
        metrics.upstream_requests.labels(endpoint, outcome).inc()

    return observe


class IndexLabels:
    """The `index` label of a search: an index with the ingest contract is named (the first
    MAX_INDEX_LABELS such names per process), a wildcard or list of indices is not."""

    def __init__(self, limit: int = MAX_INDEX_LABELS) -> None:
        self.limit = limit
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def for_contract_index(self, index: str, fallback: str) -> str:
        if not index or any(c in index for c in "*,?") or index.startswith(("-", "_")):
            return fallback
        with self._lock:
            if index in self._names:
                return index
            if len(self._names) < self.limit:
                self._names.add(index)
                return index
        return fallback


class InstrumentedScorer:
    """A scorer whose model calls are observed: pairs, padded tokens and seconds of each call.

    Wrapping at load time measures whatever calls `score_batch`, one request's batches or a
    cross-request batcher's merged ones. `score_pairs` (warm-up) goes to the model unobserved.
    """

    def __init__(self, scorer: Any, metrics: Metrics) -> None:
        self._scorer = scorer
        self._metrics = metrics

    @property
    def wrapped(self) -> Any:
        return self._scorer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scorer, name)

    def score_batch(self, pairs: Sequence[Any], **options: Any) -> Any:
        started = time.monotonic()
        logits = self._scorer.score_batch(pairs, **options)  # a remote scorer takes a deadline
        elapsed = time.monotonic() - started
        model = self._scorer.name
        self._metrics.model_seconds.labels(model).observe(elapsed)
        self._metrics.batch_pairs.labels(model).observe(len(pairs))
        self._metrics.batch_tokens.labels(model).observe(len(pairs) * max((len(p) for p in pairs), default=0))
        return logits

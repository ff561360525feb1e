"""Which engine the upstream is (OpenSearch or Elasticsearch) and its version: asked at start, asked again after
the cluster was unreachable (it may come back as another node)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from searchcore.cluster import ELASTICSEARCH_NODES_PATH, ClusterFlavour, detect_flavour

log = logging.getLogger(__name__)
RETRY_S = 1.0                                   # a failed probe is tried again at most this often
LOST_OUTCOMES = frozenset({"unavailable", "timeout"})   # the upstream observer's outcomes that mean "reconnect"


class UpstreamFlavour:
    """The upstream's flavour, probed lazily and cached until the upstream is lost; None while unknown."""

    def __init__(self, upstream: Any, setup_headers: Mapping[str, str] | None = None) -> None:
        self.upstream = upstream
        self.setup_headers = dict(setup_headers or {})
        self._known: ClusterFlavour | None = None
        self._tried_at = -RETRY_S
        self._lock = threading.Lock()

    def known(self) -> ClusterFlavour | None:
        """What was learned, without asking the cluster."""
        return self._known

    def current(self) -> ClusterFlavour | None:
        """What was learned, or the cluster's answer now (at most one probe per RETRY_S while it fails)."""
        known = self._known
        if known is not None:
            return known
        with self._lock:
            if self._known is None and time.monotonic() - self._tried_at >= RETRY_S:
                self._tried_at = time.monotonic()
                self._known = self._probe()
                if self._known is not None:
                    log.info("upstream %s is %s", getattr(self.upstream, "origin", "?"), self._known.describe())
            return self._known

    def is_elasticsearch(self) -> bool:
        flavour = self.current()
        return flavour is not None and flavour.is_elasticsearch

    def forget(self) -> None:
        self._known = None
        self._tried_at = -RETRY_S

    def observer(self, then: Callable[[str, str, float], None] | None) -> Callable[[str, str, float], None]:
        """An upstream observer that forgets the flavour when the cluster is lost, then calls `then`."""

        def observe(path_and_query: str, outcome: str, seconds: float) -> None:
            if outcome in LOST_OUTCOMES:
                self.forget()
            if then is not None:
                then(path_and_query, outcome, seconds)

        return observe

    def _probe(self) -> ClusterFlavour | None:
        try:
            response = self.upstream.request("GET", "/", body=None, headers=self._headers(), setup=True)
            if response.status_code >= 500:
                return None
            root = _json_or_none(response.content)
            flavour = detect_flavour(root, response.headers)
            if flavour.is_elasticsearch and flavour.version is None:
                status, nodes = self.upstream.json("GET", ELASTICSEARCH_NODES_PATH, None, self._headers(), setup=True)
                flavour = detect_flavour(root, response.headers, nodes=nodes if status == 200 else None)
            return flavour
        except Exception as exc:   # unreachable, or a stand-in that cannot answer: asked again later
            log.debug("upstream flavour probe failed: %s", type(exc).__name__)
            return None

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Accept-Encoding": "identity", **self.setup_headers}


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None

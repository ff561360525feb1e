"""The shared cache's connection: Redis (or Valkey) calls that never fail a search, timed and counted.

A Redis that is down or slow costs one short timeout, then it is marked down for `cache_retry_s`: calls in that
time return nothing at once (a miss), so searches run as with per-process caches, flagged in the metrics, the
log (at most once a minute) and the response header X-Rerank-Cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.metrics import Metrics
from sidecar.settings import Settings, masked_url

log = logging.getLogger(__name__)
WARN_EVERY_S = 60.0
BACKEND = "redis"


class SharedStore:
    """Bytes under string keys with a TTL each, in one Redis; every call degrades to "nothing there"."""

    backend = BACKEND

    def __init__(self, client: Any, metrics: Metrics, *, retry_s: float, where: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.metrics = metrics
        self.retry_s = retry_s
        self.where = where            # the URL without its password, for the log
        self.clock = clock
        self._down_until = 0.0
        self._last_warning = -WARN_EVERY_S
        self._lock = threading.Lock()
        metrics.cache_backend_up.labels(BACKEND).set(1)
        for cache in ("embedding", "score", "window"):
            for result in ("hit", "miss", "unavailable"):
                metrics.cache_backend.labels(cache, BACKEND, result)
        metrics.cache_backend_unavailable.labels(BACKEND)

    @property
    def available(self) -> bool:
        """False while the store is marked down (a call failed less than `retry_s` ago)."""
        return self.clock() >= self._down_until

    # ---- the operations the caches use ---------------------------------------------------------------------
    def get_many(self, cache: str, keys: Sequence[str]) -> list[bytes | None]:
        """The values under `keys` (None where absent); all None while Redis is unavailable."""
        if not keys:
            return []
        found = self._call("get", lambda: self.client.mget(list(keys)))
        if found is None:
            self.metrics.cache_backend.labels(cache, BACKEND, "unavailable").inc(len(keys))
            return [None] * len(keys)
        hits = sum(value is not None for value in found)
        self.metrics.cache_backend.labels(cache, BACKEND, "hit").inc(hits)
        self.metrics.cache_backend.labels(cache, BACKEND, "miss").inc(len(keys) - hits)
        return list(found)

    def get(self, cache: str, key: str) -> bytes | None:
        return self.get_many(cache, [key])[0]

    def set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """Store every (key, value) with its TTL in one round trip (a pipeline); nothing while unavailable."""
        if not items:
            return
        ttl_ms = max(1, int(ttl_s * 1000))

        def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, px=ttl_ms)
            pipe.execute()

        self._call("set", write)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.set_many([(key, value)], ttl_s)

    def add(self, key: str, value: bytes, ttl_s: float) -> bool | None:
        """Store only if absent (SET NX): True when stored, False when another writer was first, None when
        Redis is unavailable. This is how a window computed once becomes the one every replica serves."""
        stored = self._call("set", lambda: self.client.set(key, value, px=max(1, int(ttl_s * 1000)), nx=True))
        if stored is _FAILED:
            return None
        return bool(stored)

    # ---- failure handling ----------------------------------------------------------------------------------
    def _call(self, operation: str, call: Callable[[], Any]) -> Any:
        if not self.available:
            self.metrics.cache_backend_unavailable.labels(BACKEND).inc()
            return _FAILED if operation == "set" else None
        started = self.clock()
        try:
            result = call()
        except Exception as exc:   # redis.RedisError, OSError: whatever it is, the search goes on without it
            self._mark_down(exc)
            return _FAILED if operation == "set" else None
        self.metrics.cache_backend_seconds.labels(BACKEND, operation).observe(self.clock() - started)
        self._mark_up()
        return result

    def _mark_down(self, exc: Exception) -> None:
        now = self.clock()
        with self._lock:
            self._down_until = now + self.retry_s
            warn = now - self._last_warning >= WARN_EVERY_S
            if warn:
                self._last_warning = now
        self.metrics.cache_backend_unavailable.labels(BACKEND).inc()
        self.metrics.cache_backend_up.labels(BACKEND).set(0)
        if warn:   # at most once a minute, however many searches see it
            log.warning("shared cache %s unavailable (%s: %s): caches fall back to this process's memory, answers "
                        "are computed without it and flagged X-Rerank-Cache: unavailable; tried again every %.0f s",
                        self.where, type(exc).__name__, exc, self.retry_s)

    def _mark_up(self) -> None:
        if not self._down_until:   # the usual case: no lock taken
            return
        with self._lock:
            was_down = self._down_until > 0.0
            self._down_until = 0.0
        if was_down:
            self.metrics.cache_backend_up.labels(BACKEND).set(1)
            log.warning("shared cache %s answers again", self.where)


_FAILED = object()   # a write that did not happen (distinct from Redis's own None answer to SET NX)


def open_shared_store(settings: Settings, metrics: Metrics) -> SharedStore | None:
    """The store `cache_backend` names (None for `memory`). Nothing is connected yet: the first call connects, so a
    Redis that is down at start only makes the caches per-process until it answers."""
    if settings.cache_backend != "redis":
        return None
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeout_s = settings.cache_timeout_ms / 1000.0
    client = redis.Redis.from_url(settings.cache_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                  retry=Retry(NoBackoff(), 0), health_check_interval=0)
    return SharedStore(client, metrics, retry_s=settings.cache_retry_s, where=masked_url(settings.cache_url or ""))

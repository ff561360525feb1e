"""The score and query-embedding caches with a shared tier: this process's memory first, then Redis.

A memory hit costs nothing; a memory miss asks Redis (one round trip for a whole window's scores) and keeps what
it finds in memory too; what is computed here goes to both. While Redis is unavailable only the memory tier works.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sidecar.rerank.cache import CachedScore, CacheKey, ScoreCache
from sidecar.shared_cache.encoding import (
    decode_score,
    decode_vector,
    embedding_key,
    encode_score,
    encode_vector,
    score_key,
)
from sidecar.shared_cache.store import SharedStore

log = logging.getLogger(__name__)


class TieredScoreCache(ScoreCache):
    """ScoreCache's interface and memory LRU, with Redis behind it for what this process has not seen."""

    def __init__(self, max_entries: int, store: SharedStore, *, prefix: str, ttl_s: float, metrics: Any) -> None:
        super().__init__(max_entries)
        self.store, self.prefix, self.ttl_s, self.metrics = store, prefix, ttl_s, metrics

    def get_many(self, keys: list[CacheKey]) -> list[CachedScore | None]:
        found = [ScoreCache.get(self, key) for key in keys]
        missing = [i for i, value in enumerate(found) if value is None]
        self._count("memory", len(keys) - len(missing), len(missing))
        shared = self.store.get_many("score", [score_key(self.prefix, keys[i]) for i in missing])
        for i, data in zip(missing, shared, strict=True):
            value = decoded(decode_score, data)
            if value is not None:
                found[i] = value
                ScoreCache.put(self, keys[i], value)   # the next look-up here needs no round trip
        return found

    def put_many(self, items: list[tuple[CacheKey, CachedScore]]) -> None:
        for key, value in items:
            ScoreCache.put(self, key, value)
        self.store.set_many([(score_key(self.prefix, key), encode_score(value)) for key, value in items], self.ttl_s)

    def _count(self, backend: str, hits: int, misses: int) -> None:
        self.metrics.cache_backend.labels("score", backend, "hit").inc(hits)
        self.metrics.cache_backend.labels("score", backend, "miss").inc(misses)


class EmbeddingCache:
    """(bi-encoder, query text, normalize, caller digest) -> vector: a memory LRU, with Redis behind it when one is configured."""

    def __init__(self, max_entries: int, store: SharedStore | None, *, prefix: str, ttl_s: float,
                 metrics: Any) -> None:
        self.max_entries, self.store, self.prefix, self.ttl_s = max_entries, store, prefix, ttl_s
        self.metrics = metrics
        self._entries: OrderedDict[tuple[str, str, bool, str], list[float]] = OrderedDict()

    def get_or_compute(self, model: str, text: str, normalize: bool, caller: str, lock: Any,
                       compute: Callable[[], list[float]]) -> list[float]:
        key = (model, text, normalize, caller)
        with lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
        self.metrics.cache_backend.labels("embedding", "memory", "hit" if vector is not None else "miss").inc()
        if vector is None and self.store is not None:
            vector = decoded(decode_vector, self.store.get("embedding", embedding_key(self.prefix, *key)))
            if vector is not None:
                self._keep(key, vector, lock)
        self.metrics.cache.labels("embedding", "hit" if vector is not None else "miss").inc()
        if vector is not None:
            return vector
        vector = compute()
        self._keep(key, vector, lock)
        if self.store is not None:
            self.store.set(embedding_key(self.prefix, *key), encode_vector(vector), self.ttl_s)
        return vector

    def _keep(self, key: tuple[str, str, bool, str], vector: list[float], lock: Any) -> None:
        with lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def decoded(decode: Callable[[bytes], Any], data: bytes | None) -> Any:
    """The decoded value, or None for nothing there or a value this version cannot read (never an error)."""
    if data is None:
        return None
    try:
        return decode(data)
    except Exception as exc:   # a damaged or foreign value is a miss, and is overwritten when computed again
        log.debug("shared cache value not readable: %s", exc)
        return None

"""A thread-safe LRU cache of document logits, so a repeated (query, document) costs no inference."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import NamedTuple

CacheKey = tuple[str, str, str, str]


class CachedScore(NamedTuple):
    """A document's MaxP logit and the passage that gave it (index and character span)."""

    logit: float
    passage_index: int
    passage_span: tuple[int, int]


def text_digest(text: str) -> str:
    """A short, collision-resistant fingerprint of the text that was scored."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class ScoreCache:
    """(model, query text, document key, hash of scored text) -> logit, bounded by entry count.

    The document text's hash is part of the key, so an edited document is scored again even
    under the same id. `max_entries=0` disables caching.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, CachedScore] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model: str, query: str, doc_key: str, text: str) -> CacheKey:
        return (model, query, doc_key, text_digest(text))

    def get(self, key: CacheKey) -> CachedScore | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def get_many(self, keys: list[CacheKey]) -> list[CachedScore | None]:
        """One look-up per key; a shared cache overrides this to ask its backend once for all of them."""
        return [self.get(key) for key in keys]

    def put_many(self, items: list[tuple[CacheKey, CachedScore]]) -> None:
        """A reranked window's new scores, stored together once it is done (one round trip for a shared cache)."""
        for key, value in items:
            self.put(key, value)

    def put(self, key: CacheKey, value: CachedScore) -> None:
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

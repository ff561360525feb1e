"""Reranked windows shared by every replica: a window computed once is what every replica serves while it lasts.

Redis holds a window's ranking (ids and scores: encoding.CompactWindow) under its WindowKey's digest. The first
replica to compute a window writes it only if none is there (SET NX); a replica that lost that race serves the
winner's. A replica serving a page from a window it did not compute fetches that page's hits by id (no inference),
with the caller's credentials. The process keeps its own full copy (hits included) in the memory window cache
with the generation it was written under, and uses it only while Redis still holds that generation.
"""

from __future__ import annotations

import uuid
from typing import Any

from sidecar.respond import Ranked
from sidecar.retrieve import Candidate, FirstStageResult
from sidecar.shared_cache.encoding import (
    CompactWindow,
    WindowEntry,
    decode_window,
    encode_window,
    window_key,
)
from sidecar.shared_cache.store import SharedStore
from sidecar.shared_cache.tiers import decoded
from sidecar.window_cache import CachedWindow, WindowCache, WindowKey


class StubHit(dict):
    """A hit known only by (_index, _id): a page that shows it fetches the document first (see `fill_page`)."""


class SharedWindows:
    def __init__(self, store: SharedStore, *, prefix: str, ttl_s: float) -> None:
        self.store, self.prefix, self.ttl_s = store, prefix, ttl_s

    @property
    def available(self) -> bool:
        return self.store.available

    def get(self, key: WindowKey) -> CompactWindow | None:
        return decoded(decode_window, self.store.get("window", window_key(self.prefix, key.digest)))

    def publish(self, key: WindowKey, window: CachedWindow, *, replace: bool) -> CompactWindow | None:
        """Share `window` (given a new generation). With `replace` False it is written only if no replica wrote
        one first; then the first one is returned, to be served instead. None: Redis is unavailable."""
        window.generation = uuid.uuid4().hex
        compact = compact_window(window)
        redis_key = window_key(self.prefix, key.digest)
        if replace:
            self.store.set(redis_key, encode_window(compact), self.ttl_s)
            return compact if self.store.available else None
        stored = self.store.add(redis_key, encode_window(compact), self.ttl_s)
        if stored is None:
            return None
        if stored:
            return compact
        return self.get(key) or compact   # it expired in between: ours stands (written again next time)


class WindowTiers:
    """The windows a search may page from: this process's (memory) and, with a shared cache, every replica's.

    With Redis answering, the shared window is the one served; the process's full copy only while it is that
    generation (a copy Redis no longer holds is not served: another replica may have computed a new one). With
    Redis down or not configured, the memory copy is served, as without a shared cache."""

    def __init__(self, memory: WindowCache, shared: SharedWindows | None, metrics: Any) -> None:
        self.memory, self.shared, self.metrics = memory, shared, metrics

    @property
    def shared_available(self) -> bool:
        return self.shared is None or self.shared.available

    def get(self, key: WindowKey) -> CachedWindow | None:
        cached = self.memory.get(key)
        self.metrics.cache_backend.labels("window", "memory", "hit" if cached is not None else "miss").inc()
        if self.shared is None:
            return cached
        shared = self.shared.get(key)
        if not self.shared.available:
            return cached
        if shared is None or cached is None or cached.generation != shared.generation:
            return expand_window(shared) if shared is not None else None
        return cached

    def put(self, key: WindowKey, window: CachedWindow, *, replace: bool) -> CachedWindow:
        """Keep a window this process computed or deepened: shared first (another replica's window, written first,
        wins and is returned instead), then in memory when it holds every hit."""
        if self.shared is not None:
            shared = self.shared.publish(key, window, replace=replace)
            if shared is not None and shared.generation != window.generation:
                return expand_window(shared)
        if not any(isinstance(r.candidate.hit, StubHit) for r in window.ranked):
            self.memory.put(key, window)
        return window

    def page(self, window: CachedWindow, from_: int, size: int, fetch: Any) -> list[Ranked]:
        """The ranked list to render the page `from_`..`from_ + size` from: its hits all there."""
        return window.ranked if self.shared is None else fill_page(window.ranked, from_, size, fetch)


def compact_window(window: CachedWindow) -> CompactWindow:
    first = window.first
    entries = tuple(WindowEntry(str(r.candidate.hit.get("_index")), str(r.candidate.hit.get("_id")), r.score,
                                r.logit, r.passage, r.candidate.score, r.candidate.rank) for r in window.ranked)
    return CompactWindow(window.generation, window.status, window.depth, entries, first.total, first.shards,
                         first.timed_out, first.aggregations, first.mode)


def expand_window(compact: CompactWindow) -> CachedWindow:
    """A CachedWindow whose hits are stubs: enough to page, deepen and count; `fill_page` fetches a page's hits."""
    ranked = [Ranked(Candidate(StubHit(_index=e.index, _id=e.id), e.first_stage_score, e.first_stage_rank), e.score,
                     e.logit, e.passage) for e in compact.entries]
    first = FirstStageResult([r.candidate for r in ranked], compact.total, compact.shards, compact.timed_out,
                             compact.aggregations, compact.mode)
    return CachedWindow(first, ranked, compact.status, compact.depth, compact.generation)


def fill_page(ranked: list[Ranked], from_: int, size: int, fetch: Any) -> list[Ranked]:
    """`ranked` up to the page's end, with the page's stub hits replaced by the documents `fetch` returns
    ({(_index, _id): hit} for a list of ids). A document gone since it was ranked is left out of its page (the
    page is one shorter); the other pages keep their places."""
    page = ranked[from_:from_ + size]
    wanted = [(r.candidate.hit["_index"], r.candidate.hit["_id"]) for r in page if isinstance(r.candidate.hit, StubHit)]
    if not wanted:
        return ranked[:from_ + size]
    found = fetch(wanted)
    filled = []
    for r in page:
        hit = r.candidate.hit
        if isinstance(hit, StubHit):
            real = found.get((hit["_index"], hit["_id"]))
            if real is None:
                continue
            r = Ranked(Candidate(real, r.candidate.score, r.candidate.rank), r.score, r.logit, r.passage)
        filled.append(r)
    return ranked[:from_] + filled

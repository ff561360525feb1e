"""The score cache: keys, LRU eviction by entry count, counters, and concurrent use."""

from __future__ import annotations

import threading

import pytest

from sidecar.rerank.cache import CachedScore, ScoreCache

SCORE = CachedScore(1.5, 0, (0, 10))


def test_key_changes_with_each_part_and_with_the_text():
    base = ScoreCache.key("model", "query", "doc-1", "text")
    assert base == ScoreCache.key("model", "query", "doc-1", "text")
    for other in (ScoreCache.key("other", "query", "doc-1", "text"),
                  ScoreCache.key("model", "other", "doc-1", "text"),
                  ScoreCache.key("model", "query", "doc-2", "text"),
                  ScoreCache.key("model", "query", "doc-1", "text, edited")):
        assert other != base
    assert "text" not in base[3]  # the text is hashed, not held


def test_least_recently_used_entry_is_evicted_first():
    cache = ScoreCache(max_entries=2)
    a, b, c = (ScoreCache.key("m", "q", k, k) for k in "abc")
    cache.put(a, SCORE)
    cache.put(b, SCORE)
    assert cache.get(a) == SCORE  # a is now the most recently used
    cache.put(c, SCORE)
    assert len(cache) == 2
    assert cache.get(b) is None
    assert cache.get(a) == SCORE and cache.get(c) == SCORE
    assert (cache.hits, cache.misses) == (3, 1)


def test_zero_entries_disables_the_cache():
    cache = ScoreCache(max_entries=0)
    key = ScoreCache.key("m", "q", "d", "t")
    cache.put(key, SCORE)
    assert cache.get(key) is None and len(cache) == 0


def test_negative_size_is_rejected():
    with pytest.raises(ValueError, match="max_entries"):
        ScoreCache(max_entries=-1)


def test_concurrent_puts_and_gets_keep_the_bound_and_the_counts():
    cache = ScoreCache(max_entries=50)
    gets_per_thread = 500

    def work(worker: int) -> None:
        for i in range(gets_per_thread):
            key = ScoreCache.key("m", "q", f"{worker}-{i % 80}", "t")
            if cache.get(key) is None:
                cache.put(key, CachedScore(float(i), 0, (0, 1)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50
    assert cache.hits + cache.misses == 8 * gets_per_thread

"""The shared cache's store against a real redis-server: TTLs, write-once windows, and what a Redis that is down
or slow does (a miss, flagged, retried later, logged once), never an error."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from sidecar.metrics import get_metrics
from sidecar.rerank.cache import CachedScore, ScoreCache
from sidecar.settings import Settings
from sidecar.shared_cache.store import SharedStore, open_shared_store
from sidecar.shared_cache.tiers import EmbeddingCache, TieredScoreCache


def _store(url: str, **settings: object) -> SharedStore:
    store = open_shared_store(Settings(cache_backend="redis", cache_url=url, **settings), get_metrics())
    assert store is not None
    return store


def _value(name: str, *labels: str) -> float:
    metric = getattr(get_metrics(), name)
    return metric.labels(*labels)._value.get()


def test_memory_is_the_default_and_opens_no_store():
    assert open_shared_store(Settings(), get_metrics()) is None


def test_values_are_stored_with_their_ttl_and_read_back_in_one_call(redis_server):
    store = _store(redis_server.url)
    store.set_many([("t:a", b"1"), ("t:b", b"2")], ttl_s=30)
    assert store.get_many("score", ["t:a", "t:missing", "t:b"]) == [b"1", None, b"2"]
    ttl_ms = redis_server.client().pttl("t:a")
    assert 0 < ttl_ms <= 30_000


def test_a_window_is_written_once_and_the_first_writer_wins(redis_server):
    store = _store(redis_server.url)
    assert store.add("t:w", b"first", ttl_s=10) is True
    assert store.add("t:w", b"second", ttl_s=10) is False
    assert store.get("window", "t:w") == b"first"


def test_entries_expire(redis_server):
    store = _store(redis_server.url)
    store.set("t:short", b"x", ttl_s=0.05)
    time.sleep(0.2)
    assert store.get("score", "t:short") is None


def test_a_redis_that_is_down_is_a_miss_flagged_and_not_asked_again_until_retry(redis_server, caplog):
    store = _store(redis_server.url, cache_retry_s=0.5)
    store.set("t:k", b"v", ttl_s=10)
    redis_server.kill()
    unavailable_before = _value("cache_backend_unavailable", "redis")
    caplog.set_level(logging.WARNING, logger="sidecar.shared_cache.store")
    started = time.monotonic()
    for _ in range(50):
        assert store.get("score", "t:k") is None
        store.set("t:k", b"v", ttl_s=10)
        assert store.add("t:w", b"v", ttl_s=10) is None
    assert time.monotonic() - started < 2.0   # one failed connect, then skipped: never a timeout per call
    assert not store.available
    assert _value("cache_backend_up", "redis") == 0
    assert _value("cache_backend_unavailable", "redis") - unavailable_before >= 150
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1   # once a minute, not once per call


def test_a_redis_that_comes_back_is_used_again_after_the_retry_interval(redis_server, tmp_path):
    from tests.scaleout_servers import RedisServer
    store = _store(redis_server.url, cache_retry_s=0.2)
    port = redis_server.port
    redis_server.kill()
    assert store.get("score", "t:k") is None and not store.available
    revived = RedisServer(tmp_path / "revived", port=port)
    try:
        time.sleep(0.3)
        store.set("t:k", b"back", ttl_s=10)
        assert store.available
        assert store.get("score", "t:k") == b"back"
        assert _value("cache_backend_up", "redis") == 1
    finally:
        revived.stop()


def test_a_slow_redis_counts_as_unavailable_after_the_socket_timeout(redis_server):
    store = _store(redis_server.url, cache_timeout_ms=50, cache_retry_s=30)
    blocker = threading.Thread(target=lambda: redis.Redis(port=redis_server.port).execute_command("DEBUG", "SLEEP",
                                                                                                   "1"))
    blocker.start()
    time.sleep(0.1)   # the server is now asleep for a second
    started = time.monotonic()
    assert store.get("score", "t:k") is None
    elapsed = time.monotonic() - started
    blocker.join()
    assert elapsed < 0.5
    assert not store.available


def test_the_score_tier_finds_in_redis_what_another_process_scored(redis_server):
    metrics = get_metrics()
    writer = TieredScoreCache(100, _store(redis_server.url), prefix="p", ttl_s=60, metrics=metrics)
    reader = TieredScoreCache(100, _store(redis_server.url), prefix="p", ttl_s=60, metrics=metrics)
    keys = [ScoreCache.key("m", "q", f"docs/d{i}", f"text {i}") for i in range(3)]
    writer.put_many([(keys[0], CachedScore(1.25, 0, (0, 6))), (keys[2], CachedScore(-2.5, 1, (3, 9)))])
    hits_before = _value("cache_backend", "score", "redis", "hit")
    assert reader.get_many(keys) == [CachedScore(1.25, 0, (0, 6)), None, CachedScore(-2.5, 1, (3, 9))]
    assert _value("cache_backend", "score", "redis", "hit") - hits_before == 2
    assert len(reader) == 2   # kept in memory: the next look-up needs no round trip


def test_the_embedding_tier_computes_once_across_processes(redis_server):
    metrics, lock, calls = get_metrics(), threading.Lock(), []

    def compute() -> list[float]:
        calls.append(1)
        return [0.5, -0.25, 0.125]

    first = EmbeddingCache(10, _store(redis_server.url), prefix="p", ttl_s=60, metrics=metrics)
    second = EmbeddingCache(10, _store(redis_server.url), prefix="p", ttl_s=60, metrics=metrics)
    assert first.get_or_compute("minilm", "read a file", True, "alice", lock, compute) == [0.5, -0.25, 0.125]
    assert second.get_or_compute("minilm", "read a file", True, "alice", lock, compute) == [0.5, -0.25, 0.125]
    assert len(calls) == 1   # the second process found the first one's vector
    assert second.get_or_compute("minilm", "read a file", False, "alice", lock, compute) == [0.5, -0.25, 0.125]
    assert second.get_or_compute("minilm", "read a file", True, "bob", lock, compute) == [0.5, -0.25, 0.125]
    assert len(calls) == 3   # normalize=False is another entry, and so is another caller's


@pytest.mark.parametrize("url", ["http://redis:6379", "redis"])
def test_a_cache_url_that_is_not_redis_is_refused_at_start(url):
    from sidecar.settings import ConfigError
    with pytest.raises(ConfigError, match="cache_url"):
        Settings.from_dict({"cache_backend": "redis", "cache_url": url})

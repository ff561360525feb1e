"""Windows shared through a real Redis: the first writer's window is the one served, a process's own full copy only
while Redis holds that generation, and a page of a window computed elsewhere fetches just its own hits."""

from __future__ import annotations

from sidecar.metrics import get_metrics
from sidecar.respond import Ranked
from sidecar.retrieve import Candidate, FirstStageResult
from sidecar.settings import Settings
from sidecar.shared_cache.store import open_shared_store
from sidecar.shared_cache.windows import SharedWindows, StubHit, WindowTiers, fill_page
from sidecar.window_cache import CachedWindow, WindowCache, WindowKey


def _key(caller: str = "alice") -> WindowKey:
    return WindowKey("docs", "read a file", {"match": {"text": "read a file"}}, [], 3, None, None, {}, {}, False,
                     caller, None)


def _window(order: list[str]) -> CachedWindow:
    candidates = [Candidate({"_index": "docs", "_id": doc, "_source": {"title": doc.upper()}}, 0.5 - i / 10, i + 1)
                  for i, doc in enumerate(order)]
    ranked = [Ranked(c, 0.9 - i / 10, 2.0 - i, 0) for i, c in enumerate(candidates)]
    return CachedWindow(FirstStageResult(candidates, {"value": 3, "relation": "eq"}, {}, False, None, "client"),
                        ranked, "reranked", 3)


def _tiers(url: str) -> WindowTiers:
    store = open_shared_store(Settings(cache_backend="redis", cache_url=url), get_metrics())
    return WindowTiers(WindowCache(10, 60), SharedWindows(store, prefix="t", ttl_s=60), get_metrics())


def test_the_first_replica_to_publish_a_window_is_the_one_every_replica_serves(redis_server):
    first, second = _tiers(redis_server.url), _tiers(redis_server.url)
    kept = first.put(_key(), _window(["a", "b", "c"]), replace=False)
    assert [r.candidate.hit["_id"] for r in kept.ranked] == ["a", "b", "c"]
    # the second replica computed the same query at the same time, with another order: the first one's wins
    served = second.put(_key(), _window(["c", "b", "a"]), replace=False)
    assert [r.candidate.hit["_id"] for r in served.ranked] == ["a", "b", "c"]
    assert all(isinstance(r.candidate.hit, StubHit) for r in served.ranked)
    looked_up = second.get(_key())
    assert [(r.candidate.hit["_id"], r.score) for r in looked_up.ranked] == [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    assert first.get(_key()) is kept          # the writer's own full copy: the generation Redis holds
    assert second.get(_key("bob")) is None     # another caller's key


def test_a_window_replaced_elsewhere_is_not_served_from_the_old_memory_copy(redis_server):
    first, second = _tiers(redis_server.url), _tiers(redis_server.url)
    first.put(_key(), _window(["a", "b", "c"]), replace=False)
    second.put(_key(), _window(["b", "a", "c"]), replace=True)   # a first page retried after a fail-open
    assert [r.candidate.hit["_id"] for r in first.get(_key()).ranked] == ["b", "a", "c"]


def test_a_page_fetches_only_its_own_stub_hits_and_leaves_out_a_deleted_document():
    stubs = [Ranked(Candidate(StubHit(_index="docs", _id=doc), 0.1, i + 1), 0.9 - i / 10) for i, doc in
             enumerate("abcdef")]
    asked = []

    def fetch(ids):
        asked.append(ids)
        return {key: {"_index": key[0], "_id": key[1], "_source": {}} for key in ids if key[1] != "d"}

    ranked = fill_page(stubs, 2, 2, fetch)
    assert asked == [[("docs", "c"), ("docs", "d")]]
    assert [r.candidate.hit["_id"] for r in ranked[2:]] == ["c"]     # d was deleted since: the page is one shorter
    assert not isinstance(ranked[2].candidate.hit, StubHit) and ranked[2].score == stubs[2].score

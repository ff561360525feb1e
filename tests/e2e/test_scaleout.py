"""Two sidecars under gunicorn behind a real round-robin balancer (nginx), sharing a real Redis: paging is
consistent across replicas, a page served from another replica's window costs no inference, a Redis killed mid-run
changes no answer (flagged), and two callers never share a cache entry.

Everything runs on loopback ports: localsearch with the e2e corpus, redis-server and nginx from Debian's packages
(make test installs them), each sidecar a `rerank-sidecar serve` process with one worker and the tiny
cross-encoder. Inference is counted with the sidecars' own metrics (model calls per instance).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SidecarServer
from tests.e2e.conftest import QUERY
from tests.scaleout_servers import NginxBalancer, RedisServer

INDEX = "e2e-docs"
PAGE = 4
KEY_ALICE = "alice-key-0123456789abcdef"
KEY_BOB = "bob-key-0123456789abcdef"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class Stack:
    """Redis, two sidecars sharing it, and nginx in front of both."""

    def __init__(self, workdir: Path, upstream: str, reranker: str) -> None:
        self.redis = RedisServer(workdir / "redis")
        config = {"cache_backend": "redis", "cache_url": self.redis.url, "cache_retry_s": 1,
                  "defaults": {"window": 10, "budget_ms": 60000},
                  "auth": {"api_keys": [KEY_ALICE, KEY_BOB], "exempt_paths": ["/-/healthy", "/-/ready", "/metrics"]}}
        self.sidecars = [SidecarServer(upstream, workdir / f"sidecar-{i}", reranker=reranker, config=config,
                                       wait_ready=False) for i in range(2)]
        for sidecar in self.sidecars:
            sidecar.wait_ready()
        self.balancer = NginxBalancer(workdir / "nginx", [f"127.0.0.1:{s.port}" for s in self.sidecars])

    def stop(self) -> None:
        for part in (self.balancer, *self.sidecars, self.redis):
            part.stop()


@pytest.fixture(scope="module")
def stack(localsearch_server, localsearch_corpus, tiny_cross_encoder,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    parts = Stack(tmp_path_factory.mktemp("scaleout"), localsearch_server.url, str(tiny_cross_encoder))
    try:
        yield parts
    finally:
        parts.stop()


def search(url: str, query: str, page: int, key: str = KEY_ALICE) -> requests.Response:
    body = {"query": {"match": {"text": query}}, "from": (page - 1) * PAGE, "size": PAGE}
    response = requests.post(f"{url}/{INDEX}/_search", data=json.dumps(body), timeout=120,
                             headers={"Content-Type": "application/json", "X-Api-Key": key})
    assert response.status_code == 200, response.text[:500]
    return response


def hits(response: requests.Response) -> list[tuple[str, float, str]]:
    return [(h["_id"], h["_score"], h["_source"]["title"]) for h in response.json()["hits"]["hits"]]


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples (in one instance's /metrics) whose labels include `labels`."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def model_calls(url: str) -> float:
    return metric(url, "rerank_sidecar_model_call_duration_seconds_count")


def shared_window_hits(url: str) -> float:
    return metric(url, "rerank_sidecar_cache_backend_requests_total", cache="window", backend="redis", result="hit")


def test_pages_through_the_balancer_equal_pages_from_one_instance(stack):
    query = QUERY + " quickly"
    one, other = stack.sidecars
    expected = [hits(search(one.url, query, page, KEY_BOB)) for page in range(1, 6)]
    calls_before = [model_calls(s.url) for s in stack.sidecars]
    served_by, pages = [], []
    for page in range(1, 6):
        response = search(stack.balancer.url, query, page)
        served_by.append(response.headers["X-Upstream"])
        pages.append(hits(response))
        assert response.headers["X-Rerank-Status"] == "reranked"
        assert "X-Rerank-Cache" not in response.headers
        if page == 1:
            calls_after_first = [model_calls(s.url) for s in stack.sidecars]
    assert pages == expected
    assert set(served_by) == {f"127.0.0.1:{s.port}" for s in stack.sidecars}   # round robin: both replicas served
    ids = [doc for page in pages for doc, _, _ in page]
    assert len(ids) == len(set(ids)) == 5 * PAGE       # pages 3-5 reach past the window of 10: still no repeats
    # the first page was reranked on one replica; pages 2-5, on both replicas, added no model call anywhere
    assert sum(calls_after_first) > sum(calls_before)
    assert [model_calls(s.url) for s in stack.sidecars] == calls_after_first


def test_page_two_on_the_other_instance_does_no_inference(stack):
    query = QUERY + " today"
    one, other = stack.sidecars
    first = search(one.url, query, 1)
    calls, window_hits = model_calls(other.url), shared_window_hits(other.url)
    embeds = metric(other.url, "rerank_sidecar_stage_duration_seconds_count", stage="embed")
    second = search(other.url, query, 2)
    assert model_calls(other.url) == calls
    assert metric(other.url, "rerank_sidecar_stage_duration_seconds_count", stage="embed") == embeds
    assert shared_window_hits(other.url) == window_hits + 1
    assert second.headers["X-Rerank-Status"] == "reranked"
    # the page continues the first one's ranking: lower scores, no document of page 1 again
    assert max(score for _, score, _ in hits(second)) <= min(score for _, score, _ in hits(first))
    assert not {doc for doc, _, _ in hits(first)} & {doc for doc, _, _ in hits(second)}
    assert hits(second) == hits(search(one.url, query, 2))


def test_two_callers_never_share_an_entry(stack):
    query = QUERY + " for me"
    one, other = stack.sidecars
    alice = hits(search(one.url, query, 1, KEY_ALICE))
    calls = model_calls(other.url)
    embeds = metric(other.url, "rerank_sidecar_stage_duration_seconds_count", stage="embed")
    score_hits = metric(other.url, "rerank_sidecar_cache_backend_requests_total", cache="score", backend="redis",
                        result="hit")
    bob = hits(search(other.url, query, 1, KEY_BOB))
    assert bob == alice                                  # the same ranking, computed again for Bob
    assert model_calls(other.url) > calls                # Bob's window was reranked, not taken from Alice's
    assert metric(other.url, "rerank_sidecar_stage_duration_seconds_count", stage="embed") == embeds + 1
    assert metric(other.url, "rerank_sidecar_cache_backend_requests_total", cache="score", backend="redis",
                  result="hit") == score_hits            # none of Alice's scores either
    windows = [k for k in stack.redis.client().scan_iter(match="rerank-sidecar:v1:window:*")]
    before = len(windows)
    search(other.url, query, 2, KEY_BOB)                 # Bob's page 2 is served from Bob's own window
    assert len(list(stack.redis.client().scan_iter(match="rerank-sidecar:v1:window:*"))) == before


def test_killing_redis_mid_run_keeps_every_answer_correct_and_flagged(stack):
    query = QUERY + " with care"
    one, other = stack.sidecars
    expected = [hits(search(one.url, query, page, KEY_BOB)) for page in range(1, 4)]
    assert hits(search(stack.balancer.url, query, 1)) == expected[0]
    port = stack.redis.port
    stack.redis.kill()
    try:
        for page in (2, 3, 1, 2, 3):   # through the balancer: both replicas, Redis gone
            started = time.monotonic()
            response = search(stack.balancer.url, query, page)
            assert time.monotonic() - started < 30
            assert hits(response) == expected[page - 1]
            assert response.headers["X-Rerank-Cache"] == "unavailable"
            assert response.headers["X-Rerank-Status"] == "reranked"
        for sidecar in stack.sidecars:
            assert metric(sidecar.url, "rerank_sidecar_cache_backend_up", backend="redis") == 0
            assert metric(sidecar.url, "rerank_sidecar_cache_backend_unavailable_total", backend="redis") > 0
            warnings = sidecar.log().count("shared cache redis://127.0.0.1")
            assert 1 <= warnings <= 2   # the first failure is logged, the next ones within a minute are not
    finally:
        stack.redis = RedisServer(stack.redis.log_path.parent, port=port)
    time.sleep(1.5)   # cache_retry_s: the sidecars ask Redis again
    response = search(stack.balancer.url, query, 1)
    assert hits(response) == expected[0]
    response = search(stack.balancer.url, query, 1)
    assert "X-Rerank-Cache" not in response.headers

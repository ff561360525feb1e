"""A failing cross-encoder (raises, NaN, wrong shape, too slow, hung, flaky) fails open and says so.

In-process app before the real localsearch. Whatever the model does, a response marked `reranked` is in the
model's order, and any other status is in first-stage order: never a wrong order presented as reranked.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sidecar.rerank import BatchingScorer, load_scorer
from sidecar.settings import Profile, Settings
from tests.e2e.conftest import QUERY

INDEX = "e2e-docs"
QUERIES = ["read a text file one line at a time", "random element of a list", "time zones and dates",
           "compress bytes on disk", "send email through a server", "environment variables of a process"]


@pytest.fixture(scope="module")
def real(tiny_cross_encoder):
    return load_scorer(str(tiny_cross_encoder), backend="torch")


class Faulty:
    """The real model with a fault in `score_batch`."""

    def __init__(self, real, fault: str) -> None:
        self.real, self.fault, self.calls = real, fault, 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def score_batch(self, pairs):
        with self.lock:
            self.calls += 1
            call = self.calls
        logits = np.asarray(self.real.score_batch(pairs), dtype=np.float32)
        if self.fault == "raises" or (self.fault == "flaky" and call % 2 == 0):
            raise RuntimeError("the accelerator fell off the bus")
        if self.fault == "nan":
            logits[len(logits) // 2] = np.nan
        if self.fault == "inf":
            logits[0] = np.inf
        if self.fault == "short":
            return logits[:-1]
        if self.fault == "slow":
            time.sleep(3.0)
        if self.fault == "hung":
            self.release.wait(60)
        return logits


def app_with(localsearch_server, model, budget_ms: float = 60000, batched: bool = True, window: int = 8):
    from sidecar.app import create_app
    settings = Settings(opensearch_url=localsearch_server.url,
                        defaults=Profile(reranker="faulty", window=window, budget_ms=budget_ms),
                        window_cache_ttl_s=0, score_cache_entries=0)
    loader = (lambda name: BatchingScorer(model, workers=1, gather_s=0.002)) if batched else (lambda name: model)
    return create_app(settings, scorer_loader=loader, warm_up=False).test_client()


def search(client, query: str = QUERY):
    return client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": query}}, "size": 8,
                                                  "ext": {"rerank": {"explain": True}}})


def assert_order_matches_status(response, real, query: str) -> str:
    """The invariant: `reranked` means the model's order (its logits, recomputed here); else first-stage."""
    assert response.status_code == 200, response.get_data(as_text=True)
    status = response.headers["X-Rerank-Status"]
    hits = response.get_json()["hits"]["hits"]
    assert hits
    if status == "reranked":
        texts = [f"{h['_source']['title']}\n{h['_source']['text']}" for h in hits]
        logits = real.score_pairs(query, texts)
        assert [h["_rerank"]["logit"] for h in hits] == pytest.approx([float(x) for x in logits], abs=1e-4)
        assert list(logits) == sorted(logits, reverse=True)
    else:
        assert status.startswith("skipped-"), status
        assert [h["_rerank"]["first_stage_rank"] for h in hits] == list(range(1, len(hits) + 1))
        assert all(h["_rerank"]["logit"] is None for h in hits)
    return status


@pytest.mark.parametrize("fault, status", [("raises", "skipped-error"), ("nan", "skipped-nan"),
                                           ("inf", "skipped-nan"), ("short", "skipped-error")])
@pytest.mark.parametrize("batched", [True, False], ids=["batcher", "direct"])
def test_a_broken_model_fails_open(localsearch_server, localsearch_corpus, real, fault, status, batched):
    client = app_with(localsearch_server, Faulty(real, fault), batched=batched)
    response = search(client)
    assert assert_order_matches_status(response, real, QUERY) == status
    assert "accelerator" not in response.get_data(as_text=True)


@pytest.mark.parametrize("fault", ["slow", "hung"])
def test_a_model_slower_than_the_budget_fails_open_at_the_budget(localsearch_server, localsearch_corpus, real, fault):
    model = Faulty(real, fault)
    client = app_with(localsearch_server, model, budget_ms=300)
    started = time.monotonic()
    response = search(client)
    seconds = time.monotonic() - started
    model.release.set()
    assert assert_order_matches_status(response, real, QUERY) == "skipped-timeout"
    assert seconds < 2.0, f"answered after {seconds:.1f}s; the model takes 3 s or forever"


def test_a_flaky_model_under_concurrency_never_mislabels_an_order(localsearch_server, localsearch_corpus, real):
    client = app_with(localsearch_server, Faulty(real, "flaky"))
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda q: (q, search(client, q)), QUERIES * 3))
    statuses = [assert_order_matches_status(response, real, query) for query, response in responses]
    assert "reranked" in statuses and "skipped-error" in statuses   # both happened, each labelled truly

"""A bi-encoder that cannot load or cannot encode degrades the search like a failing cross-encoder does: stage 1
runs on the lexical query alone, the candidates are still reranked, and the status, the metric and the log say so.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from searchcore.contract import IndexContract, index_body
from sidecar.metrics import get_metrics
from sidecar.rerank import load_scorer
from sidecar.settings import Profile, Settings
from tests.e2e.conftest import QUERY, TOPICS
from tests.e2e.test_sidecar import metric_value, search

INDEX = "e2e-docs"
LEXICAL = {"match": {"text": QUERY}}
DEGRADED = "reranked+bi-encoder-unavailable"


def fail_open_count(reason: str) -> float:
    return get_metrics().fail_open.labels(reason)._value.get()


def lexical_ids(url: str, index: str, size: int = 10) -> list[str]:
    answer = requests.post(f"{url}/{index}/_search", json={"query": LEXICAL, "size": size}, timeout=60).json()
    return [h["_id"] for h in answer["hits"]["hits"]]


@pytest.fixture
def app_client(localsearch_server, localsearch_corpus, tiny_cross_encoder):
    from sidecar.app import create_app
    settings = Settings(opensearch_url=localsearch_server.url, defaults=Profile(window=10, budget_ms=60000),
                        window_cache_ttl_s=0)
    scorer = load_scorer(str(tiny_cross_encoder), backend="torch")
    return create_app(settings, scorer_loader=lambda name: scorer, warm_up=False).test_client()


class Unencodable:
    def encode(self, *args, **kwargs):
        raise RuntimeError("the bi-encoder ran out of memory")


@pytest.mark.parametrize("fault", ["encode", "load"])
def test_a_failing_bi_encoder_gives_the_lexical_candidates_reranked(app_client, localsearch_server, monkeypatch,
                                                                    caplog, fault):
    import searchcore.models

    calls = []

    def broken(name, device=None):
        calls.append(name)
        if fault == "load":
            raise OSError("no bi-encoder folder on this machine")
        return Unencodable()

    monkeypatch.setattr(searchcore.models, "load_bi_encoder", broken)
    before = fail_open_count("bi-encoder-unavailable")
    body = {"query": LEXICAL, "size": 10, "ext": {"rerank": {"explain": True}}}
    response = app_client.post(f"/{INDEX}/_search", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-Rerank-Status"] == DEGRADED
    hits = response.get_json()["hits"]["hits"]
    # the candidates are the lexical query's own hits (no k-NN leg), every one scored by the cross-encoder
    assert {h["_id"] for h in hits} == set(lexical_ids(localsearch_server.url, INDEX))
    assert all(h["_rerank"]["logit"] is not None for h in hits)
    logits = [h["_rerank"]["logit"] for h in hits]
    assert logits == sorted(logits, reverse=True)
    assert fail_open_count("bi-encoder-unavailable") == before + 1
    assert "could not embed the query" in caplog.text and "lexical query alone" in caplog.text
    # a new first page tries the bi-encoder again; a load that failed is retried only after a pause
    app_client.post(f"/{INDEX}/_search", json=body)
    assert len(calls) == (1 if fault == "load" else 2)
    assert fail_open_count("bi-encoder-unavailable") == before + 2


def test_msearch_items_carry_the_degraded_status(app_client, monkeypatch):
    import searchcore.models
    monkeypatch.setattr(searchcore.models, "load_bi_encoder", lambda name, device=None: Unencodable())
    line = b'{"index": "e2e-docs"}\n{"query": {"match": {"text": "random element"}}, "size": 3}\n'
    response = app_client.post("/_msearch", data=line * 2, content_type="application/x-ndjson")
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == f"{DEGRADED},{DEGRADED}"
    assert all(r["status"] == 200 and r["hits"]["hits"] for r in response.get_json()["responses"])


@pytest.fixture
def contract_of_a_missing_model(localsearch_server, request):
    """An index ingested elsewhere: its contract names a bi-encoder this machine does not have."""
    client = localsearch_server.client()
    index = f"t-missing-bi-encoder-{request.node.name[-12:].lower().strip('[]')}"
    client.indices.delete(index=index, ignore=[404])
    contract = IndexContract(model="/nonexistent/bi-encoder-made-elsewhere", dimension=384)
    client.indices.create(index=index, body=index_body(contract))
    rng = np.random.default_rng(7)
    for i, (title, text, _, _) in enumerate(TOPICS):
        vector = rng.normal(size=384)
        client.index(index=index, id=f"d{i}", body={"title": title, "text": text,
                                                     "embedding": (vector / np.linalg.norm(vector)).tolist()})
    client.indices.refresh(index=index)
    yield index
    client.indices.delete(index=index, ignore=[404])


def test_a_bi_encoder_that_cannot_load_under_gunicorn(localsearch_server, contract_of_a_missing_model,
                                                      tiny_cross_encoder, start_sidecar):
    index = contract_of_a_missing_model
    server = start_sidecar(localsearch_server.url, reranker=str(tiny_cross_encoder), wait_ready=False)
    deadline = time.monotonic() + 180
    while True:   # warm-up tries the contract's bi-encoder; /-/ready names it
        assert time.monotonic() < deadline and server.process.poll() is None, server.log()[-3000:]
        try:
            ready = requests.get(f"{server.url}/-/ready", timeout=5)
        except requests.RequestException:
            ready = None
        if ready is not None and any(k.startswith("bi-encoder") for k in ready.json()["problems"]):
            break
        time.sleep(0.2)
    response = search(server.url, {"query": LEXICAL, "size": 20, "ext": {"rerank": {"explain": True}}}, index=index)
    assert response.status_code == 200, response.text
    assert response.headers["X-Rerank-Status"] == DEGRADED
    hits = response.json()["hits"]["hits"]   # every candidate (the window holds them all): the lexical hits
    assert {h["_id"] for h in hits} == set(lexical_ids(localsearch_server.url, index, size=20))
    assert all(h["_rerank"]["logit"] is not None for h in hits)
    assert metric_value(server.url, "rerank_sidecar_fail_open_total", reason="bi-encoder-unavailable") == 1
    assert metric_value(server.url, "rerank_sidecar_rerank_status_total", status="reranked") == 1
    log = server.log()
    assert "could not embed the query" in log and f"rerank={DEGRADED}" in log

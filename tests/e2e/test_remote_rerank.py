"""Model serving over HTTP: the TEI-compatible POST /rerank, and a sidecar whose reranker is another sidecar."""

from __future__ import annotations

import math
import time

import pytest
import requests

from tests.e2e.conftest import QUERY
from tests.e2e.test_sidecar import LEXICAL, cross_encoder_logits, metric_value, search

TEXTS = ["Use open() and iterate over the file to read it line by line.", "Tomatoes are a fruit.",
         "readline() reads one line of a text file."]


def rerank(url: str, body: object) -> requests.Response:
    return requests.post(f"{url}/rerank", json=body, timeout=60)


def test_rerank_endpoint_answers_as_text_embeddings_inference(sidecar, tiny_cross_encoder):
    response = rerank(sidecar.url, {"query": QUERY, "texts": TEXTS, "raw_scores": True})
    assert response.status_code == 200, response.text
    ranks = response.json()
    assert sorted(r["index"] for r in ranks) == [0, 1, 2]
    scores = [r["score"] for r in ranks]
    assert scores == sorted(scores, reverse=True)  # best first, as TEI answers
    logits = cross_encoder_logits(tiny_cross_encoder, QUERY, TEXTS)
    for rank in ranks:
        assert rank["score"] == pytest.approx(logits[rank["index"]], abs=1e-4)
        assert "text" not in rank

    squashed = rerank(sidecar.url, {"query": QUERY, "texts": TEXTS, "return_text": True}).json()
    for rank in squashed:  # default: sigmoid scores, as TEI without raw_scores
        assert rank["score"] == pytest.approx(1 / (1 + math.exp(-logits[rank["index"]])), abs=1e-5)
        assert rank["text"] == TEXTS[rank["index"]]


@pytest.mark.parametrize(("body", "status", "error_type"), [
    ({"query": QUERY, "texts": []}, 400, "Empty"),
    ({"query": QUERY}, 422, "Validation"),
    ({"texts": TEXTS}, 422, "Validation"),
    ({"query": QUERY, "texts": [1, 2]}, 422, "Validation"),
    ({"query": QUERY, "texts": TEXTS, "top_k": 3}, 422, "Validation"),
    ({"query": QUERY, "texts": ["word " * 600]}, 413, "Validation"),  # too long and truncate is off
])
def test_rerank_endpoint_errors_are_teis(sidecar, body, status, error_type):
    response = rerank(sidecar.url, body)
    assert response.status_code == status, response.text
    assert response.json()["error_type"] == error_type and response.json()["error"]


def test_rerank_endpoint_truncates_when_asked(sidecar):
    response = rerank(sidecar.url, {"query": QUERY, "texts": ["word " * 600, "short"], "truncate": True})
    assert response.status_code == 200 and len(response.json()) == 2
    malformed = requests.post(f"{sidecar.url}/rerank", data=b"{not json", timeout=30)
    assert malformed.status_code == 422 and malformed.json()["error_type"] == "Validation"


def test_a_sidecar_reranks_through_another_sidecars_model(backend, corpus_index, sidecar,
                                                          tiny_cross_encoder, start_sidecar):
    config = {"defaults": {"window": 10, "budget_ms": 60000}}
    model_server = start_sidecar(backend.url, reranker=str(tiny_cross_encoder), config=config)
    front = start_sidecar(backend.url, reranker="tiny-remote", config={
        **config, "models": {"tiny-remote": {"backend": "remote", "url": model_server.url,
                                             "tokenizer": str(tiny_cross_encoder), "max_client_batch": 4}}})
    body = {"query": LEXICAL, "size": 10, "ext": {"rerank": {"score_mode": "raw"}}}
    local = search(sidecar.url, body).json()["hits"]["hits"]
    calls_before = metric_value(model_server.url, "rerank_sidecar_requests_total", route="rerank", status="200")
    remote = search(front.url, body)
    assert remote.status_code == 200 and remote.headers["X-Rerank-Status"] == "reranked"
    hits = remote.json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == [h["_id"] for h in local]
    for mine, theirs in zip(hits, local, strict=True):
        assert mine["_score"] == pytest.approx(theirs["_score"], abs=1e-4)
    # ten documents in chunks of at most four texts: the model server answered three /rerank calls
    calls = metric_value(model_server.url, "rerank_sidecar_requests_total", route="rerank", status="200")
    assert calls - calls_before == 3

    model_server.stop()  # the model server goes away: new searches fail open, first-stage order, flagged
    degraded = search(front.url, {"query": {"match": {"text": "write text into a file"}}, "size": 10,
                                  "ext": {"rerank": {"explain": True}}})
    assert degraded.status_code == 200
    assert degraded.headers["X-Rerank-Status"] == "skipped-error"
    ranks = [h["_rerank"]["first_stage_rank"] for h in degraded.json()["hits"]["hits"]]
    assert ranks == sorted(ranks)


KEY = "k3y-for-the-model-server-0123456789"


def test_a_sidecar_reranks_through_another_sidecars_v1_rerank_with_an_api_key(backend, corpus_index, sidecar,
                                                                               tiny_cross_encoder, start_sidecar):
    """The `cohere` backend against the sidecar's own Cohere/Jina-style /v1/rerank, over HTTP, behind its auth."""
    config = {"defaults": {"window": 10, "budget_ms": 60000}}
    model_server = start_sidecar(backend.url, reranker=str(tiny_cross_encoder),
                                 config={**config, "auth": {"api_keys": [KEY], "exempt_paths": [
                                     "/-/healthy", "/-/ready", "/metrics"]}})

    def front_with(api_key: str, **kwargs: object):
        return start_sidecar(backend.url, reranker="tiny-cohere", config={**config, "models": {"tiny-cohere": {
            "backend": "cohere", "url": model_server.url, "api_key": api_key, "tokenizer": str(tiny_cross_encoder),
            "max_batch": 4}}}, **kwargs)

    body = {"query": LEXICAL, "size": 10, "ext": {"rerank": {"score_mode": "raw", "explain": True}}}
    local = search(sidecar.url, body).json()["hits"]["hits"]
    front = front_with(KEY)
    calls_before = metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank", status="200")
    remote = search(front.url, body)
    assert remote.status_code == 200 and remote.headers["X-Rerank-Status"] == "reranked"
    hits = remote.json()["hits"]["hits"]
    # the answers come sorted by score, not in the order sent: mapped back by index, every score where it belongs
    assert [h["_id"] for h in hits] == [h["_id"] for h in local]
    for mine, theirs in zip(hits, local, strict=True):
        assert mine["_score"] == pytest.approx(theirs["_score"], abs=1e-4)   # logit -> probability -> logit
    calls = metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank", status="200")
    assert calls - calls_before == 3   # ten documents in chunks of at most four

    # the model server answers 401: the warm-up fails (the sidecar says so and stays unready), searches fail open
    refused = front_with("not-the-model-servers-key-000000", wait_ready=False)
    deadline = time.monotonic() + 180
    while "reranker tiny-cohere" not in ready_problems(refused.url):
        assert time.monotonic() < deadline and refused.process.poll() is None, refused.log()[-3000:]
        time.sleep(0.2)
    degraded = search(refused.url, body)
    assert degraded.status_code == 200 and degraded.headers["X-Rerank-Status"] == "skipped-error"
    ranks = [h["_rerank"]["first_stage_rank"] for h in degraded.json()["hits"]["hits"]]
    assert ranks == sorted(ranks)
    assert metric_value(model_server.url, "rerank_sidecar_requests_total", route="unauthenticated", status="401") >= 1


def ready_problems(url: str) -> dict:
    try:
        return requests.get(f"{url}/-/ready", timeout=5).json().get("problems", {})
    except (requests.RequestException, ValueError):
        return {}   # not listening yet

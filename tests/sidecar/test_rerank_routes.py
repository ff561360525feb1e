"""The model-serving routes in process: the Cohere/Jina-style POST /v1/rerank, its checks, limits and auth."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from sidecar.rerank import load_scorer
from sidecar.rerank_routes import short_json_float
from sidecar.settings import Settings
from tests.standins import stand_in

KEY = "k3y-for-the-sidecar-0123456789"
QUERY = "read a text file one line at a time"
DOCUMENTS = ["Use open() and iterate over the file to read it line by line.", "Tomatoes are a fruit.",
             "readline() reads one line of a text file.", "zoneinfo gives IANA time zones."]


@pytest.fixture
def serving(tiny_cross_encoder):
    """A sidecar app (in process, before a stand-in cluster) whose default cross-encoder is the tiny one."""
    from sidecar.app import create_app

    scorer = load_scorer(str(tiny_cross_encoder), backend="torch", device="cpu")

    def build(**settings):
        settings = {"opensearch_url": cluster.url, "reranker": "tiny", "limits": {"max_passages_per_request": 5},
                    **settings}
        return create_app(Settings.from_dict(settings), scorer_loader=lambda name: scorer,
                          warm_up=False).test_client()

    with stand_in() as cluster:
        build.cluster, build.scorer = cluster, scorer
        yield build


def test_v1_rerank_answers_as_cohere_and_jina(serving):
    client = serving()
    response = client.post("/v1/rerank", json={"model": "any", "query": QUERY, "documents": DOCUMENTS})
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["model"] == "tiny"
    logits = serving.scorer.score_pairs(QUERY, DOCUMENTS)
    results = answer["results"]
    assert [r["index"] for r in results] == list(np.argsort(-logits, kind="stable"))
    for result in results:   # a probability, as those APIs give: the logit's sigmoid
        assert result["relevance_score"] == pytest.approx(1 / (1 + math.exp(-logits[result["index"]])), abs=1e-6)
        assert "document" not in result

    cut = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS, "top_n": 2,
                                          "return_documents": True}).get_json()["results"]
    assert [r["index"] for r in cut] == [r["index"] for r in results[:2]]
    assert [r["document"]["text"] for r in cut] == [DOCUMENTS[r["index"]] for r in cut]
    more = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS, "top_n": 99}).get_json()
    assert len(more["results"]) == len(DOCUMENTS)
    assert not serving.cluster.seen, "the model-serving route went upstream"


@pytest.mark.parametrize("score", [0.48253420504407630, 0.034644656412345678, 1.2345678901234567e-05,
                                   0.9999999999999999, 2.5e-300, 1.0, 0.0, 0.5])
def test_scores_fit_in_the_18_characters_ml_commons_reads_as_a_double(score):
    """json-smart (ml-commons) reads a longer number as a BigDecimal, and the Cohere post-process then fails."""
    written = json.dumps(short_json_float(score))
    assert len(written) <= 18, written
    assert float(written) == pytest.approx(score, rel=1e-12, abs=0)   # at least 12 significant digits kept
    assert "." in written or "e" in written   # an integer would be read as an Integer, which fails the same way


def test_v1_rerank_writes_every_score_in_18_characters_at_most(serving):
    """What the sidecar's own /v1/rerank writes, byte for byte, for the same documents."""
    response = serving().post("/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert response.status_code == 200, response.get_data(as_text=True)
    raw = response.get_data(as_text=True)
    scores = re.findall(r'"relevance_score": ([^,}]+)', raw)
    assert len(scores) == len(DOCUMENTS)
    assert max(len(score) for score in scores) <= 18, scores


@pytest.mark.parametrize(("body", "reason"), [
    ({"documents": DOCUMENTS}, r"\[query\] is required"),
    ({"query": "", "documents": DOCUMENTS}, r"\[query\] is required"),
    ({"query": QUERY}, r"\[documents\] is required: a list of strings"),
    ({"query": QUERY, "documents": "one string"}, r"\[documents\] is required: a list of strings"),
    ({"query": QUERY, "documents": [{"text": "an object"}]}, r"\[documents\] is required: a list of strings"),
    ({"query": QUERY, "documents": []}, r"\[documents\] cannot be empty"),
    ({"query": QUERY, "documents": ["d"] * 6}, r"holds 6 documents; the limit is 5 \(limits.max_passages_per_request\)"),
    ({"query": QUERY, "documents": DOCUMENTS, "top_n": 0}, r"\[top_n\] must be a positive integer, got \[0\]"),
    ({"query": QUERY, "documents": DOCUMENTS, "top_n": -1}, r"\[top_n\] must be a positive integer"),
    ({"query": QUERY, "documents": DOCUMENTS, "top_n": "2"}, r"\[top_n\] must be a positive integer"),
    ({"query": QUERY, "documents": DOCUMENTS, "top_n": 1.5}, r"\[top_n\] must be a positive integer"),
    ({"query": QUERY, "documents": DOCUMENTS, "top_n": True}, r"\[top_n\] must be a positive integer"),
    ({"query": QUERY, "documents": DOCUMENTS, "rank_fields": ["text"]}, r"unknown field \[rank_fields\]"),
    ({"query": QUERY, "documents": DOCUMENTS, "return_documents": "yes"}, r"\[return_documents\] must be"),
    (["a list"], r"must be a JSON object"),
])
def test_v1_rerank_refuses_bad_input_in_opensearchs_error_format(serving, body, reason):
    response = serving().post("/v1/rerank", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["status"] == 400 and error["error"]["type"] == "illegal_argument_exception"
    assert error["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    assert re.search(reason, error["error"]["reason"]), error


def test_v1_rerank_malformed_and_oversized_bodies(serving):
    client = serving(limits={"max_body_bytes": 200})
    malformed = client.post("/v1/rerank", data=b"{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.get_json()["error"]["type"] == "parsing_exception"
    big = client.post("/v1/rerank", json={"query": QUERY, "documents": ["word " * 100]})
    assert big.status_code == 413 and big.get_json()["error"]["type"] == "content_too_long_exception"


def test_v1_rerank_model_unavailable_is_a_503(tiny_cross_encoder):
    from sidecar.app import create_app

    def missing(name):
        raise FileNotFoundError(name)

    with stand_in() as cluster:
        client = create_app(Settings.from_dict({"opensearch_url": cluster.url}), scorer_loader=missing,
                            warm_up=False).test_client()
        response = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert response.status_code == 503
    assert response.get_json()["error"]["type"] == "model_unavailable_exception"


def test_v1_rerank_takes_the_sidecars_api_key_as_a_bearer_token(serving):
    client = serving(auth={"api_keys": [KEY]})
    body = {"query": QUERY, "documents": DOCUMENTS}
    for headers in ({}, {"Authorization": "Bearer " + KEY[:-1]}, {"Authorization": "Basic " + KEY}):
        refused = client.post("/v1/rerank", json=body, headers=headers)
        assert refused.status_code == 401 and refused.get_json()["error"]["type"] == "security_exception"
    assert client.post("/v1/rerank", json=body, headers={"Authorization": "Bearer " + KEY}).status_code == 200
    assert client.post("/v1/rerank", json=body, headers={"X-Api-Key": KEY}).status_code == 200
    tei = client.post("/rerank", json={"query": QUERY, "texts": DOCUMENTS}, headers={"Authorization": "Bearer " + KEY})
    assert tei.status_code == 200
    # elsewhere a bearer token is the cluster's business, never the sidecar's key
    assert client.get("/_cat/indices", headers={"Authorization": "Bearer " + KEY}).status_code == 401
    assert not serving.cluster.seen


def test_without_the_rerank_endpoint_the_path_goes_to_the_cluster(serving):
    client = serving(rerank_endpoint=False, auth={"api_keys": [KEY]})
    body = {"query": QUERY, "documents": DOCUMENTS}
    assert client.post("/v1/rerank", json=body, headers={"Authorization": "Bearer " + KEY}).status_code == 401
    client.post("/v1/rerank", json=body, headers={"X-Api-Key": KEY})
    assert [call["path"] for call in serving.cluster.seen] == ["/v1/rerank"]

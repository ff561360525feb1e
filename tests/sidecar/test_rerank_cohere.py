"""The `cohere` backend against stand-in /v1/rerank servers on loopback: body, API key, answers mapped back by index."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from werkzeug.wrappers import Request, Response

from sidecar.rerank import load_scorer, rerank_documents
from sidecar.rerank.loading import clear_loaded
from tests.standins import stand_in

KEY = "cohere-style-key-0123456789"
QUERY = "read a text file one line at a time"
TEXTS = ["open() and a for loop read a file line by line.", "Tomatoes are a fruit.", "readline() reads one line.",
         "zoneinfo gives time zones.", "csv.reader reads rows."]


@pytest.fixture(autouse=True)
def fresh_scorers():
    clear_loaded()
    yield
    clear_loaded()


def probability(text: str) -> float:
    """A made-up relevance for a text, the same on every call."""
    return (sum(map(ord, text)) % 97 + 1) / 99


def cohere_like(cut_to: int | None = None, status: int = 200):
    """A /v1/rerank server: results sorted by score, cut to the request's top_n (or to `cut_to`)."""

    def answer(request: Request) -> Response:
        if status != 200:
            return Response(json.dumps({"message": "invalid api token"}), status=status)
        body = json.loads(request.get_data())
        results = sorted(({"index": i, "relevance_score": probability(d)} for i, d in enumerate(body["documents"])),
                         key=lambda r: -r["relevance_score"])
        results = results[:cut_to or body.get("top_n") or len(results)]
        return Response(json.dumps({"id": "x", "results": results, "meta": {"billed_units": {"search_units": 1}}}),
                        content_type="application/json")

    return answer


def scorer_for(url: str, tiny_cross_encoder, **options):
    return load_scorer("rerank-english-v3.0", backend="cohere", url=url, tokenizer=str(tiny_cross_encoder),
                       **options)


def test_the_request_is_cohere_s_and_sorted_answers_map_back_by_index(tiny_cross_encoder):
    with stand_in(cohere_like()) as server:
        scorer = scorer_for(server.url, tiny_cross_encoder, api_key=KEY, max_batch=2)
        logits = scorer.score_pairs(QUERY, TEXTS)
    # a probability comes back as its logit: the sidecar's sigmoid gives the server's score again
    for text, logit in zip(TEXTS, logits, strict=True):
        assert 1 / (1 + math.exp(-float(logit))) == pytest.approx(probability(text), abs=1e-6)
    assert [call["path"] for call in server.seen] == ["/v1/rerank"] * 3   # five texts, two per call
    sent = [json.loads(call["body"]) for call in server.seen]
    assert sorted(d for body in sent for d in body["documents"]) == sorted(TEXTS)
    for body, call in zip(sent, server.seen, strict=True):
        assert body["model"] == "rerank-english-v3.0" and body["query"] == QUERY
        assert body["top_n"] == len(body["documents"])   # every document asked for: none cut away
        assert call["headers"]["Authorization"] == f"Bearer {KEY}"
    assert scorer.capabilities.remote and scorer.capabilities.batches_itself and scorer.backend == "cohere"
    assert KEY not in repr(scorer)


def test_model_option_names_the_apis_model_and_no_key_sends_no_header(tiny_cross_encoder):
    with stand_in(cohere_like()) as server:
        scorer_for(server.url + "/", tiny_cross_encoder, model="jina-reranker-v2").score_pairs(QUERY, TEXTS[:2])
    assert json.loads(server.seen[0]["body"])["model"] == "jina-reranker-v2"
    assert "Authorization" not in server.seen[0]["headers"]


def test_logit_scores_are_taken_as_they_come(tiny_cross_encoder):
    with stand_in(cohere_like()) as server:
        logits = scorer_for(server.url, tiny_cross_encoder, scores="logit").score_pairs(QUERY, TEXTS)
    np.testing.assert_allclose(logits, [probability(t) for t in TEXTS], rtol=1e-6)


@pytest.mark.parametrize(("answer", "calls"), [
    (cohere_like(status=401), 1),   # a refused key is not retried
    (cohere_like(status=503), 3),   # a server in trouble is, `retries` times
    (cohere_like(cut_to=2), 1),     # a server that cut the answer short: unscored documents are not guessed
    (lambda request: Response(json.dumps({"results": [{"index": i, "relevance_score": 3.5} for i in range(5)]})),
     1),                            # not a probability: a server that answers logits needs `scores: logit`
    (lambda request: Response(b"[]"), 1),
])
def test_failures_fail_the_search_open(tiny_cross_encoder, answer, calls):
    with stand_in(answer) as server:
        scorer = scorer_for(server.url, tiny_cross_encoder, api_key=KEY)
        result = rerank_documents(scorer, QUERY, TEXTS, deadline=None, cache=None)
    assert result.status == "skipped-error" and result.logits == [None] * len(TEXTS)
    assert len(server.seen) == calls


@pytest.mark.parametrize(("options", "message"), [
    ({}, r"models.m.url is required with backend cohere"),
    ({"url": "http://x", "max_batch": 0}, r"models.m.max_batch must be >= 1"),
    ({"url": "http://x", "scores": "percent"}, r"models.m.scores must be one of \['probability', 'logit'\]"),
    ({"url": "http://x", "max_client_batch": 8}, r"models.m.max_client_batch is not an option of backend cohere"),
])
def test_options_are_checked_by_the_backend(options, message):
    from sidecar.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match=message):
        Settings.from_dict({"models": {"m": {"backend": "cohere", **options}}})


def test_the_api_key_is_masked_in_the_settings():
    from sidecar.settings import Settings

    settings = Settings.from_dict({"models": {"m": {"backend": "cohere", "url": "http://x", "api_key": KEY,
                                                    "model": "rerank-v3.5"}}})
    spec = settings.model_spec("m")
    assert spec.options["api_key"] == KEY and spec.options["max_batch"] == 100
    assert KEY not in repr(settings) and "'api_key': '***'" in repr(spec)


def test_probabilities_near_0_and_1_keep_their_logits(tiny_cross_encoder):
    logits = [-15.0, 0.0, 8.0, 20.0]
    logit_of = dict(zip(TEXTS, logits, strict=False))

    def answer(request: Request) -> Response:
        documents = json.loads(request.get_data())["documents"]
        results = [{"index": i, "relevance_score": 1 / (1 + math.exp(-logit_of[d]))} for i, d in enumerate(documents)]
        return Response(json.dumps({"results": results[::-1]}), content_type="application/json")

    with stand_in(answer) as server:
        got = scorer_for(server.url, tiny_cross_encoder).score_pairs(QUERY, TEXTS[:4])
    np.testing.assert_allclose(got, logits, atol=1e-3)

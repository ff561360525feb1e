"""Every limit in `settings.Limits` is enforced where requests come in (in-process app, real localsearch)."""

from __future__ import annotations

import json

import pytest

from sidecar.settings import ConfigError, Limits, Profile, Settings
from tests.e2e.conftest import QUERY

INDEX = "e2e-docs"
SEARCH = {"query": {"match": {"text": QUERY}}, "size": 10}


@pytest.fixture(scope="module")
def make_app(localsearch_server, localsearch_corpus, tiny_cross_encoder):
    from sidecar.app import create_app

    def make(**limits: int):
        settings = Settings(opensearch_url=localsearch_server.url, limits=Limits(**limits),
                            defaults=Profile(reranker=str(tiny_cross_encoder), window=10, budget_ms=60000))
        return create_app(settings, warm_up=False).test_client()

    return make


def assert_error(response, status: int, error_type: str, *words: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == status and body["error"]["type"] == error_type
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
    for word in words:
        assert word in body["error"]["reason"]


def test_body_size(make_app):
    client = make_app(max_body_bytes=300)
    big = {**SEARCH, "ext": {"rerank": {"query_text": "x " * 200}}}
    assert_error(client.post(f"/{INDEX}/_search", json=big), 413, "content_too_long_exception", "[300]")
    # no Content-Length (a chunked upload): read up to the limit, not whole
    raw = json.dumps(big).encode()
    response = client.post(f"/{INDEX}/_search", input_stream=__import__("io").BytesIO(raw),
                           environ_overrides={"wsgi.input_terminated": True}, content_type="application/json")
    assert_error(response, 413, "content_too_long_exception")
    lines = (json.dumps({"index": INDEX}) + "\n" + json.dumps(big) + "\n").encode()
    assert_error(client.post("/_msearch", data=lines, content_type="application/x-ndjson"), 413,
                 "content_too_long_exception")
    tei = client.post("/rerank", json={"query": "q", "texts": ["t" * 400]})
    assert tei.status_code == 413 and tei.get_json()["error_type"] == "Validation"
    assert client.post(f"/{INDEX}/_search", json=SEARCH).status_code == 200   # under the limit


def test_window(make_app):
    client = make_app(max_window=5)
    too_wide = {**SEARCH, "ext": {"rerank": {"window": 6}}}
    assert_error(client.post(f"/{INDEX}/_search", json=too_wide), 400, "illegal_argument_exception",
                 "ext.rerank.window", "5")
    # the profile's own window (10) is cut to the limit too
    answer = client.post(f"/{INDEX}/_search", json={**SEARCH, "ext": {"rerank": {"window": 5, "explain": True}}})
    assert answer.status_code == 200
    assert sum(h["_rerank"]["logit"] is not None for h in answer.get_json()["hits"]["hits"]) <= 5


def test_passages_per_request(make_app):
    client = make_app(max_passages_per_request=3)
    response = client.post(f"/{INDEX}/_search", json={**SEARCH, "ext": {"rerank": {"explain": True}}})
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "partial"
    hits = response.get_json()["hits"]["hits"]
    scored = [h for h in hits if h["_rerank"]["logit"] is not None]
    assert len(scored) == 3   # the three best first-stage documents, one passage each
    assert sorted(h["_rerank"]["first_stage_rank"] for h in scored) == [1, 2, 3]
    rest = [h["_rerank"]["first_stage_rank"] for h in hits if h["_rerank"]["logit"] is None]
    assert rest == sorted(rest)   # the others keep their first-stage order, below


def test_msearch_items(make_app):
    client = make_app(max_msearch_items=2)
    three = "".join(json.dumps(x) + "\n" for _ in range(3) for x in ({"index": INDEX}, SEARCH))
    assert_error(client.post("/_msearch", data=three, content_type="application/x-ndjson"), 400,
                 "illegal_argument_exception", "3 searches", "[2]")
    two = "".join(json.dumps(x) + "\n" for _ in range(2) for x in ({"index": INDEX}, SEARCH))
    answer = client.post("/_msearch", data=two, content_type="application/x-ndjson")
    assert answer.status_code == 200 and [r["status"] for r in answer.get_json()["responses"]] == [200, 200]


def test_nesting_depth(make_app):
    client = make_app(max_nesting_depth=12)
    query: dict = {"match": {"text": QUERY}}
    for _ in range(12):
        query = {"bool": {"must": [query]}}
    assert_error(client.post(f"/{INDEX}/_search", json={"query": query}), 400, "parsing_exception", "[12]")
    # far past any limit: no recursion error, a parsing error, for any index
    deep = b'{"query":' + b'{"bool":{"must":[' * 5000 + b"{}" + b"]}}" * 5000 + b"}"
    for index in (INDEX, "e2e-plain"):
        assert_error(client.post(f"/{index}/_search", data=deep, content_type="application/json"), 400,
                     "parsing_exception")


def test_query_text_length(make_app):
    client = make_app(max_query_chars=20)
    assert_error(client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": "word " * 10}}}), 400,
                 "illegal_argument_exception", "too long")


@pytest.mark.parametrize("key", ["max_body_bytes", "max_window", "max_msearch_items", "max_passages_per_request",
                                 "max_nesting_depth", "max_query_chars"])
def test_limits_must_be_positive(key):
    with pytest.raises(ConfigError, match=f"limits.{key} must be >= 1"):
        Settings.from_dict({"limits": {key: 0}})
    with pytest.raises(ConfigError, match="limits.max_in_flight must be >= 0"):
        Settings.from_dict({"limits": {"max_in_flight": -1}})
    assert Settings.from_dict({"limits": {"max_in_flight": 0}}).limits.max_in_flight == 0

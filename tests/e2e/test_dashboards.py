"""OpenSearch Dashboards pointed at the sidecar, and callers' credentials: checked at a recording upstream.

The upstream here is localsearch wrapped in a WSGI middleware that records every request the sidecar sends
(and plays the cluster's security: one token is refused with 401), served on a loopback port.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from localsearch.engine import Engine
from localsearch.http import LocalsearchApp
from tests.e2e.conftest import ingest

INDEX = "dash-docs"
GOOD = "Basic " + base64.b64encode(b"analyst:secret").decode()
BAD = "Basic " + base64.b64encode(b"intruder:guess").decode()
HIGHLIGHT = {"pre_tags": ["@opensearch-dashboards-highlighted-field@"],
             "post_tags": ["@/opensearch-dashboards-highlighted-field@"], "fields": {"*": {}},
             "fragment_size": 2147483647}


class RecordingUpstream:
    def __init__(self, app: LocalsearchApp) -> None:
        self.app = app
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data(cache=True)
        environ["wsgi.input"] = io.BytesIO(body)  # the engine reads the body again
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        with self.lock:
            self.requests.append({"method": request.method, "path": request.path, "args": dict(request.args),
                                  "headers": dict(request.headers), "body": body})
        if request.headers.get("Authorization") == BAD:
            denied = {"error": {"root_cause": [{"type": "security_exception", "reason": "no permissions"}],
                                "type": "security_exception", "reason": "no permissions"}, "status": 401}
            return Response(json.dumps(denied), status=401, content_type="application/json")(environ, start_response)
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, corpus_file) -> Iterator[tuple[RecordingUpstream, str]]:
    engine = Engine(tmp_path_factory.mktemp("recording-engine"))
    upstream = RecordingUpstream(LocalsearchApp(engine))
    server = make_server("127.0.0.1", 0, upstream, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    ingest(corpus_file, INDEX, url)
    try:
        yield upstream, url
    finally:
        server.shutdown()
        engine.close()


@pytest.fixture(scope="module")
def dashboards_sidecar(recording, tiny_cross_encoder, tmp_path_factory):
    from tests.conftest import SidecarServer
    server = SidecarServer(recording[1], tmp_path_factory.mktemp("dash-sidecar"), reranker=str(tiny_cross_encoder),
                           config={"defaults": {"window": 20}})
    yield server
    server.stop()


def discover_body(sort: list, free_text: str) -> dict:
    """The body Discover sends (OpenSearch Dashboards 2.x), with DQL free text as a lenient multi_match filter."""
    return {
        "sort": sort, "size": 50, "version": True,
        "aggs": {"2": {"date_histogram": {"field": "published", "calendar_interval": "1y", "time_zone": "UTC",
                                          "min_doc_count": 1}}},
        "stored_fields": ["*"], "script_fields": {}, "docvalue_fields": [{"field": "published", "format": "date_time"}],
        "_source": {"excludes": []},
        "query": {"bool": {"must": [], "filter": [
            {"multi_match": {"type": "best_fields", "query": free_text, "lenient": True}},
            {"range": {"published": {"gte": "2000-01-01T00:00:00.000Z", "lte": "2030-01-01T00:00:00.000Z",
                                     "format": "strict_date_optional_time"}}}], "should": [], "must_not": []}},
        "highlight": HIGHLIGHT,
    }


PARAMS = {"rest_total_hits_as_int": "true", "ignore_unavailable": "true", "preference": "1700000000000",
          "track_total_hits": "true"}


def test_discover_time_sorted_search_is_answered_as_the_cluster_would(dashboards_sidecar, recording):
    body = discover_body([{"published": {"order": "desc", "unmapped_type": "boolean"}}], "file")
    via = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", params=PARAMS, json=body, timeout=60)
    direct = requests.post(f"{recording[1]}/{INDEX}/_search", params=PARAMS, json=body, timeout=60)
    assert via.headers["X-Rerank-Status"] == "passthrough"
    assert {k: v for k, v in via.json().items() if k != "took"} == {k: v for k, v in direct.json().items()
                                                                     if k != "took"}


def test_discover_score_sorted_free_text_is_reranked_with_everything_intact(dashboards_sidecar, recording):
    body = discover_body([{"_score": {"order": "desc"}}], "file text")
    via = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", params=PARAMS, json=body, timeout=60)
    direct = requests.post(f"{recording[1]}/{INDEX}/_search", params=PARAMS, json=body, timeout=60).json()
    assert via.status_code == 200, via.text
    assert via.headers["X-Rerank-Status"] == "reranked"
    answer = via.json()
    assert isinstance(answer["hits"]["total"], int)                      # rest_total_hits_as_int
    assert {h["_id"] for h in answer["hits"]["hits"]} == {h["_id"] for h in direct["hits"]["hits"]}  # same set
    assert answer["aggregations"] == direct["aggregations"]
    by_id = {h["_id"]: h for h in direct["hits"]["hits"]}
    for hit in answer["hits"]["hits"]:
        assert hit.get("highlight") == by_id[hit["_id"]].get("highlight")
        assert hit["fields"] == by_id[hit["_id"]]["fields"]
        assert hit["_version"] == by_id[hit["_id"]]["_version"]
    assert any("@opensearch-dashboards-highlighted-field@" in json.dumps(h.get("highlight", {}))
               for h in answer["hits"]["hits"])


def test_discover_msearch_form(dashboards_sidecar, recording):
    lines = [{"index": INDEX, "ignore_unavailable": True, "preference": 1700000000000},
             discover_body([{"_score": {"order": "desc"}}], "compress bytes"),
             {"index": INDEX, "ignore_unavailable": True},
             discover_body([{"published": {"order": "desc", "unmapped_type": "boolean"}}], "compress bytes")]
    payload = "".join(json.dumps(line) + "\n" for line in lines)
    via = requests.post(f"{dashboards_sidecar.url}/_msearch", params={"rest_total_hits_as_int": "true"},
                        data=payload, headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    assert via.status_code == 200, via.text
    reranked, sorted_item = via.json()["responses"]
    assert via.headers["X-Rerank-Status"] == "reranked,passthrough"
    assert reranked["status"] == 200 and isinstance(reranked["hits"]["total"], int)
    assert "aggregations" in reranked and "aggregations" in sorted_item


def _recorded_since(recording, start: int) -> list[dict]:
    with recording[0].lock:
        return recording[0].requests[start:]


def test_caller_credentials_reach_the_cluster_unchanged(dashboards_sidecar, recording):
    start = len(recording[0].requests)
    body = {"query": {"match": {"text": "random element"}}, "ext": {"rerank": {"window": 5}}}
    response = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", json=body,
                             headers={"Authorization": GOOD, "X-Opaque-Id": "trace-me"}, timeout=60)
    assert response.status_code == 200 and response.headers["X-Rerank-Status"] == "reranked"
    sent = _recorded_since(recording, start)
    assert sent, "the sidecar made no upstream call"
    for call in sent:
        assert call["headers"].get("Authorization") == GOOD
        assert call["headers"].get("X-Opaque-Id") == "trace-me"
        assert b'"rerank"' not in call["body"]  # ext.rerank never reaches the cluster


def test_rejected_credentials_get_the_clusters_401(dashboards_sidecar):
    for body in ({"query": {"match": {"text": "random element"}}}, {"query": {"match_all": {}}}):
        response = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", json=body,
                                 headers={"Authorization": BAD}, timeout=60)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "security_exception"


def test_one_callers_window_is_not_served_to_another(dashboards_sidecar, recording):
    body = {"query": {"match": {"text": "identifier unique"}}, "size": 3}
    first = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", json=body,
                          headers={"Authorization": GOOD}, timeout=60)
    assert first.status_code == 200
    second = requests.post(f"{dashboards_sidecar.url}/{INDEX}/_search", json=body,
                           headers={"Authorization": BAD}, timeout=60)
    assert second.status_code == 401  # the cached window of the first caller is not reused


def test_msearch_items_carry_each_callers_credentials(dashboards_sidecar, recording):
    start = len(recording[0].requests)
    lines = [{"index": INDEX}, {"query": {"match": {"text": "hashing bytes digests"}}},
             {"index": INDEX}, {"query": {"match": {"text": "hashing"}}, "sort": [{"year": "asc"}]}]
    response = requests.post(f"{dashboards_sidecar.url}/_msearch", data="".join(json.dumps(x) + "\n" for x in lines),
                             headers={"Authorization": GOOD, "Content-Type": "application/x-ndjson"}, timeout=60)
    assert response.status_code == 200 and response.headers["X-Rerank-Status"] == "reranked,passthrough"
    sent = _recorded_since(recording, start)
    assert len(sent) >= 2
    assert all(call["headers"].get("Authorization") == GOOD for call in sent)
    denied = requests.post(f"{dashboards_sidecar.url}/_msearch", data="".join(json.dumps(x) + "\n" for x in lines),
                           headers={"Authorization": BAD, "Content-Type": "application/x-ndjson"}, timeout=60)
    assert [item["status"] for item in denied.json()["responses"]] == [401, 401]
    assert all(item["error"]["type"] == "security_exception" for item in denied.json()["responses"])


@pytest.fixture
def in_process(recording, tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.settings import Profile, Settings

    def make(**settings):
        return create_app(Settings(opensearch_url=recording[1], defaults=Profile(reranker=str(tiny_cross_encoder),
                                                                                 window=5, budget_ms=60000), **settings),
                          warm_up=False).test_client()

    return make


def test_a_caller_the_cluster_refuses_does_not_turn_reranking_off_for_others(in_process):
    client = in_process()   # a fresh process: nothing cached yet
    body = {"query": {"match": {"text": "regular expressions pattern"}}, "size": 3}
    refused = client.post(f"/{INDEX}/_search", json=body, headers={"Authorization": BAD})
    assert refused.status_code == 401
    allowed = client.post(f"/{INDEX}/_search", json=body, headers={"Authorization": GOOD})
    assert allowed.status_code == 200 and allowed.headers["X-Rerank-Status"] == "reranked"


def test_setup_credentials_are_never_used_for_a_callers_search(in_process, recording):
    admin = "Basic " + base64.b64encode(b"admin:setup-secret").decode()
    client = in_process(setup_username="admin", setup_password="setup-secret", zero_config=True)
    for caller in (GOOD, None):
        start = len(recording[0].requests)
        headers = {"Authorization": caller} if caller else {}
        response = client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": f"threads join {caller}"}},
                                                           "ext": {"rerank": {"retrieval": "server"}}}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        for call in _recorded_since(recording, start):
            # setup tasks: creating the pipeline, and asking which engine this is (`GET /`, `_nodes/_local`)
            if call["path"].startswith(("/_search/pipeline/", "/_nodes/_local")) or call["path"] == "/":
                assert call["headers"].get("Authorization") == admin
                assert call["method"] == "GET" or call["path"].startswith("/_search/pipeline/")
            else:
                assert call["headers"].get("Authorization") == caller, call["path"]

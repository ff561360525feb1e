"""Kibana in front of the sidecar in front of the Elasticsearch node: Discover's async searches, PIT paging and
Kibana's housekeeping, in the shapes Kibana sends (tests/e2e/kibana_requests.py).

The node (the integ-test zip) has no async-search module: `_async_search` is answered there with a 400 "no handler
found". So a reranked submission is checked against the node's `_search` of the same body, and a submission the
sidecar does not rerank is checked to reach the node as sent (the node's own answer comes back byte for byte).
Stage 1 is lexical here (the index has text fields only): the k-NN leg on Elasticsearch is another branch's work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from elasticsearch import Elasticsearch, helpers

from tests.conftest import SidecarServer
from tests.e2e.conftest import TOPICS
from tests.e2e.kibana_requests import (
    ASYNC_GET_PARAMS,
    ASYNC_STATUS_PARAMS,
    ASYNC_SUBMIT_PARAMS,
    ASYNC_SUBMIT_PARAMS_IN_A_SESSION,
    SCORE_SORT,
    discover_body,
    histogram_body,
    housekeeping,
    pit_page,
    time_sort,
)

pytestmark = pytest.mark.elasticsearch
QUERY = "read a text file line by line"


@pytest.fixture(scope="module")
def es(es_node) -> Elasticsearch:
    return es_node.client(request_timeout=60)


@pytest.fixture(scope="module")
def index(es: Elasticsearch) -> Iterator[str]:
    name = f"kb16-{uuid.uuid4().hex[:10]}"
    es.indices.create(index=name, mappings={"properties": {
        "title": {"type": "text"}, "text": {"type": "text"}, "category": {"type": "keyword"},
        "published": {"type": "date"}}})
    try:
        docs = ({"_index": name, "_id": f"d{i}", "title": title, "text": text, "category": category,
                 "published": f"{year}-0{1 + i % 9}-15"} for i, (title, text, category, year) in enumerate(TOPICS))
        assert helpers.bulk(es, docs, refresh=True) == (len(TOPICS), [])
        yield name
    finally:
        es.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture(scope="module")
def sidecar(es_node, index: str, tiny_cross_encoder: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SidecarServer]:
    """Two gunicorn workers: a kept result is read back by whichever worker a poll reaches."""
    config = {"defaults": {"window": 20, "budget_ms": 60000},
              "profiles": [{"index": "kb16-*", "bi_encoder": "all-MiniLM-L6-v2", "text_fields": ["title", "text"]}]}
    server = SidecarServer(es_node.url, tmp_path_factory.mktemp(f"kb16-sidecar-{es_node.name}"),
                           reranker=str(tiny_cross_encoder), config=config, workers=2)
    try:
        yield server
    finally:
        server.stop()


def _without_took(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "took"}


def _search_params(params: dict[str, str]) -> dict[str, str]:
    """What the node's `_search` takes of an async submission's parameters."""
    return {k: v for k, v in params.items() if k not in ("wait_for_completion_timeout", "keep_on_completion",
                                                          "keep_alive", "batched_reduce_size")}


def test_a_score_sorted_discover_search_is_answered_complete_and_reranked(es_node, sidecar, index):
    body = discover_body(QUERY, sort=SCORE_SORT)
    answer = requests.post(f"{sidecar.url}/{index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Rerank-Status"] == "reranked"
    envelope = answer.json()
    assert list(envelope) == ["is_partial", "is_running", "start_time_in_millis", "expiration_time_in_millis",
                              "completion_time_in_millis", "response"]   # no id: keep_on_completion=false
    assert envelope["is_partial"] is False and envelope["is_running"] is False
    assert envelope["start_time_in_millis"] <= envelope["completion_time_in_millis"]
    assert envelope["expiration_time_in_millis"] == envelope["start_time_in_millis"] + 60_000   # keep_alive=60000ms
    direct = requests.post(f"{es_node.url}/{index}/_search", params=_search_params(ASYNC_SUBMIT_PARAMS),
                           json=body, timeout=60).json()
    response = envelope["response"]
    assert response["hits"]["total"] == direct["hits"]["total"]
    by_id = {hit["_id"]: hit for hit in direct["hits"]["hits"]}
    assert {hit["_id"] for hit in response["hits"]["hits"]} == set(by_id)   # the same documents, reranked
    for hit in response["hits"]["hits"]:
        assert "_source" not in hit                        # `_source: false`: the fields API carries the values
        assert hit["fields"] == by_id[hit["_id"]]["fields"]
        assert hit["highlight"] == by_id[hit["_id"]]["highlight"]
        assert hit["_version"] == by_id[hit["_id"]]["_version"]
    assert any("@kibana-highlighted-field@" in str(hit["highlight"]) for hit in response["hits"]["hits"])


def test_a_kept_result_is_polled_checked_and_deleted_by_id(sidecar, index):
    body = discover_body("compress bytes on disk", sort=SCORE_SORT)
    submitted = requests.post(f"{sidecar.url}/{index}/_async_search", params=ASYNC_SUBMIT_PARAMS_IN_A_SESSION,
                              json=body, timeout=120)
    assert submitted.status_code == 200 and submitted.headers["X-Rerank-Status"] == "reranked"
    envelope = submitted.json()
    async_id = envelope["id"]
    for _ in range(6):   # two workers: whichever one answers reads the same kept result
        polled = requests.get(f"{sidecar.url}/_async_search/{async_id}", params=ASYNC_GET_PARAMS, timeout=30)
        assert polled.status_code == 200, polled.text
        assert polled.json()["response"] == envelope["response"] and polled.json()["id"] == async_id
        assert polled.json()["expiration_time_in_millis"] >= envelope["expiration_time_in_millis"]   # kept alive
    status = requests.get(f"{sidecar.url}/_async_search/status/{async_id}", params=ASYNC_STATUS_PARAMS, timeout=30)
    assert status.status_code == 200
    assert status.json()["completion_status"] == 200 and status.json()["is_running"] is False
    assert status.json()["_shards"] == envelope["response"]["_shards"]
    other_caller = requests.get(f"{sidecar.url}/_async_search/{async_id}", timeout=30,
                                headers={"Authorization": "Basic b3RoZXI6dXNlcg=="})
    assert other_caller.status_code == 404   # one caller's results are never another's
    deleted = requests.delete(f"{sidecar.url}/_async_search/{async_id}", timeout=30)
    assert deleted.status_code == 200 and deleted.json() == {"acknowledged": True}
    gone = requests.get(f"{sidecar.url}/_async_search/{async_id}", timeout=30)
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "resource_not_found_exception"


@pytest.mark.parametrize("body", [discover_body(QUERY, sort=time_sort()), histogram_body(QUERY),
                                  discover_body(None, sort=SCORE_SORT)],
                         ids=["time-sorted", "histogram-size-0", "no-text"])
def test_submissions_not_reranked_reach_the_node_as_sent(es_node, sidecar, index, body):
    via = requests.post(f"{sidecar.url}/{index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body, timeout=60)
    direct = requests.post(f"{es_node.url}/{index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body,
                           timeout=60)
    assert via.headers["X-Rerank-Status"] == "passthrough"
    assert (via.status_code, via.content) == (direct.status_code, direct.content)   # the node's own "no handler"


@pytest.mark.parametrize("method,path", [("GET", "/_async_search/{id}"), ("GET", "/_async_search/status/{id}"),
                                         ("DELETE", "/_async_search/{id}")])
def test_ids_the_sidecar_did_not_make_go_to_the_node(es_node, sidecar, method, path):
    target = path.format(id="FmRldmVsb3BlcnMtYXJlLXRlc3RpbmcAAAAAAAAAAA==")   # the cluster's kind of id
    via = requests.request(method, sidecar.url + target, timeout=30)
    direct = requests.request(method, es_node.url + target, timeout=30)
    assert (via.status_code, via.content) == (direct.status_code, direct.content)


def test_point_in_time_paging_through_the_sidecar_matches_the_node(es_node, sidecar, index):
    opened = requests.post(f"{sidecar.url}/{index}/_pit", params={"keep_alive": "1m"}, timeout=30)
    assert opened.status_code == 200, opened.text
    pit_id = opened.json()["id"]
    try:
        pages = {}
        for name, url in (("via", sidecar.url), ("direct", es_node.url)):
            seen, after = [], None
            while True:
                answer = requests.post(f"{url}/_search", json=pit_page(pit_id, size=3, search_after=after), timeout=30)
                assert answer.status_code == 200, answer.text
                hits = answer.json()["hits"]["hits"]
                if not hits:
                    break
                seen.append([(hit["_id"], hit["sort"], hit["fields"]) for hit in hits])
                after = hits[-1]["sort"]
            pages[name] = seen
        assert pages["via"] == pages["direct"] and len(pages["via"]) >= 2
    finally:
        closed = requests.delete(f"{sidecar.url}/_pit", json={"id": pit_id}, timeout=30)
    assert closed.status_code == 200 and closed.json()["succeeded"] is True


def test_search_after_on_an_index_is_the_nodes_answer(es_node, sidecar, index):
    """A body the sidecar would rerank but for `search_after`: later pages must follow the cluster's order."""
    body = {"query": {"match": {"text": "file"}}, "sort": [{"_score": "desc"}], "size": 2}
    first = requests.post(f"{es_node.url}/{index}/_search", json=body, timeout=30).json()
    body["search_after"] = [first["hits"]["hits"][-1]["_score"]]   # no `sort` values come back for _score alone
    via = requests.post(f"{sidecar.url}/{index}/_search", json=body, timeout=30)
    direct = requests.post(f"{es_node.url}/{index}/_search", json=body, timeout=30)
    assert via.headers["X-Rerank-Status"] == "passthrough"
    assert _without_took(via.json()) == _without_took(direct.json())


def test_kibana_housekeeping_is_passed_through_byte_for_byte(es_node, sidecar, index):
    for method, path, params, body in housekeeping(index):
        via = requests.request(method, sidecar.url + path, params=params, json=body, timeout=30)
        direct = requests.request(method, es_node.url + path, params=params, json=body, timeout=30)
        assert (via.status_code, via.content) == (direct.status_code, direct.content), path
        assert via.headers.get("Content-Type") == direct.headers.get("Content-Type"), path
        assert via.headers.get("X-Elastic-Product") == direct.headers.get("X-Elastic-Product"), path


@pytest.fixture
def saved_objects_index(es: Elasticsearch) -> Iterator[str]:
    name = f".kibana_kb16_{uuid.uuid4().hex[:10]}"   # a .kibana* index of this test's own
    yield name
    es.indices.delete(index=name, ignore_unavailable=True)


def test_saved_objects_traffic_is_passed_through(es_node, sidecar, saved_objects_index):
    name = saved_objects_index
    config = {"type": "config", "config": {"buildNum": 90000, "defaultIndex": "logs"}, "references": [],
              "updated_at": "2026-01-01T00:00:00.000Z"}
    written = requests.put(f"{sidecar.url}/{name}/_doc/config:9.0.0", params={"refresh": "wait_for"}, json=config,
                           timeout=30)
    assert written.status_code == 201, written.text
    for method, path, params, body in [
            ("GET", f"/{name}/_doc/config:9.0.0", {}, None),
            ("POST", f"/{name}/_search", {"rest_total_hits_as_int": "true"},
             {"seq_no_primary_term": True, "query": {"bool": {"filter": [{"term": {"type": "config"}}]}}})]:
        via = requests.request(method, sidecar.url + path, params=params, json=body, timeout=30)
        direct = requests.request(method, es_node.url + path, params=params, json=body, timeout=30)
        assert via.status_code == direct.status_code == 200
        assert _without_took(via.json()) == _without_took(direct.json())


def test_the_official_client_submits_polls_and_deletes_through_the_sidecar(es_node, sidecar, index):
    """elasticsearch-py refuses a 2xx answer without `X-Elastic-Product: Elasticsearch` (Kibana's
    elasticsearch-js transport does the same): the sidecar's own async-search answers carry it."""
    client = es_node.client(sidecar.url)
    body = discover_body("time zones between regions", sort=SCORE_SORT)
    submitted = client.async_search.submit(index=index, keep_on_completion=True, keep_alive="1m",
                                           wait_for_completion_timeout="200ms", **body)
    assert submitted.meta.headers["X-Rerank-Status"] == "reranked"
    assert submitted["is_running"] is False and submitted["response"]["hits"]["hits"]
    assert client.async_search.get(id=submitted["id"])["response"] == submitted["response"]
    assert client.async_search.status(id=submitted["id"])["completion_status"] == 200
    assert client.async_search.delete(id=submitted["id"])["acknowledged"] is True

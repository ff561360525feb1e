"""Elasticsearch's async search in front of localsearch and the OpenSearch node: neither has `_async_search`, but a
reranked submission is the sidecar's to answer, so it works the same in front of any cluster; the rest is the
cluster's own answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import Backend, SidecarServer
from tests.e2e.conftest import QUERY, ingest
from tests.e2e.kibana_requests import (
    ASYNC_SUBMIT_PARAMS,
    ASYNC_SUBMIT_PARAMS_IN_A_SESSION,
    HIGHLIGHT,
    SCORE_SORT,
)


@pytest.fixture(scope="module")
def corpus_index(backend: Backend, corpus_file: Path) -> Iterator[str]:
    """The ingest job's index under a name of this module's own (the nodes are shared: e2e-docs is not ours)."""
    name = f"kb16-{uuid.uuid4().hex[:10]}"
    ingest(corpus_file, name, backend.url)
    try:
        yield name
    finally:
        backend.client().indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture(scope="module")
def sidecar(backend: Backend, corpus_index: str, tiny_cross_encoder: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarServer]:
    server = SidecarServer(backend.url, tmp_path_factory.mktemp(f"kb16-{backend.name}"),
                           reranker=str(tiny_cross_encoder), config={"defaults": {"window": 10, "budget_ms": 60000}})
    try:
        yield server
    finally:
        server.stop()


def score_sorted_body(text: str, sort: list | None = None) -> dict:
    """Discover's score-sorted request in the part OpenSearch reads too (no runtime_mappings, no fields API)."""
    return {"sort": sort or SCORE_SORT, "size": 10, "track_total_hits": True, "highlight": HIGHLIGHT,
            "_source": {"excludes": []},
            "query": {"bool": {"must": [{"multi_match": {"type": "best_fields", "query": text, "lenient": True}}],
                               "filter": [], "should": [], "must_not": []}}}


def test_a_reranked_submission_is_the_sidecars_own_search_in_the_envelope(sidecar, corpus_index):
    body = score_sorted_body(QUERY)
    submitted = requests.post(f"{sidecar.url}/{corpus_index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body,
                              timeout=120)
    assert submitted.status_code == 200, submitted.text
    assert submitted.headers["X-Rerank-Status"] == "reranked"
    envelope = submitted.json()
    assert "id" not in envelope and envelope["is_running"] is False and envelope["is_partial"] is False
    searched = requests.post(f"{sidecar.url}/{corpus_index}/_search", json=body, timeout=120,
                             params={"ignore_unavailable": "true"})
    assert searched.headers["X-Rerank-Status"] == "reranked"
    assert envelope["response"]["hits"] == searched.json()["hits"]   # the same ranking, page and highlights


def test_a_kept_result_is_read_back_in_front_of_any_cluster(sidecar, corpus_index):
    submitted = requests.post(f"{sidecar.url}/{corpus_index}/_async_search", params=ASYNC_SUBMIT_PARAMS_IN_A_SESSION,
                              json=score_sorted_body("compress files on disk"), timeout=120).json()
    polled = requests.get(f"{sidecar.url}/_async_search/{submitted['id']}", timeout=30)
    assert polled.status_code == 200 and polled.json()["response"] == submitted["response"]
    assert requests.delete(f"{sidecar.url}/_async_search/{submitted['id']}", timeout=30).json() == {
        "acknowledged": True}


def test_a_submission_not_reranked_gets_the_clusters_own_answer(sidecar, corpus_index, backend):
    body = score_sorted_body(QUERY, sort=[{"year": {"order": "desc"}}])
    via = requests.post(f"{sidecar.url}/{corpus_index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body,
                        timeout=60)
    direct = requests.post(f"{backend.url}/{corpus_index}/_async_search", params=ASYNC_SUBMIT_PARAMS, json=body,
                           timeout=60)
    assert via.headers["X-Rerank-Status"] == "passthrough"
    assert via.status_code == direct.status_code >= 400   # no _async_search there
    assert via.content == direct.content

"""The Elasticsearch reference nodes that `make test` starts (9.x, and 8.x when the run was given one) answer the
official client: the ground the Elasticsearch upstream is built on (dense_vector with HNSW, top-level kNN and the
`knn` query, the product header clients check, the media types each major accepts)."""

from __future__ import annotations

import uuid

import pytest
import requests
from elasticsearch import BadRequestError, Elasticsearch, helpers

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def es(es_node) -> Elasticsearch:
    return es_node.client(request_timeout=60)


def test_the_node_is_elasticsearch_8_or_later_and_says_so_in_every_answer(es_node):
    answer = requests.get(f"{es_node.url}/_nodes/_local", timeout=10)
    assert answer.headers["X-Elastic-Product"] == "Elasticsearch"
    (node,) = answer.json()["nodes"].values()
    assert int(node["version"].split(".")[0]) >= 8


def test_dense_vector_knn_and_bm25_through_the_official_client(es):
    index = f"node-canary-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, mappings={
        "properties": {"text": {"type": "text"},
                       "vector": {"type": "dense_vector", "dims": 3, "index": True, "similarity": "cosine"}}})
    try:
        docs = [("a", "red apples", [1.0, 0.0, 0.0]), ("b", "green apples", [0.0, 1.0, 0.0]),
                ("c", "blue sky", [0.0, 0.0, 1.0])]
        ok, errors = helpers.bulk(es, ({"_index": index, "_id": i, "text": t, "vector": v} for i, t, v in docs),
                                  refresh=True)
        assert (ok, errors) == (3, [])
        lexical = es.search(index=index, query={"match": {"text": "apples"}})
        assert {hit["_id"] for hit in lexical["hits"]["hits"]} == {"a", "b"}
        assert lexical["hits"]["total"] == {"value": 2, "relation": "eq"}
        nearest = es.search(index=index, knn={"field": "vector", "query_vector": [0.1, 0.0, 0.9], "k": 2,
                                              "num_candidates": 10})
        assert [hit["_id"] for hit in nearest["hits"]["hits"]] == ["c", "a"]
    finally:
        es.indices.delete(index=index)


def test_the_node_accepts_its_own_major_and_the_one_before_and_refuses_a_newer_clients_media_type(es_node):
    """What the sidecar follows: a client one major newer than the node (the 9.x client, unchanged, to an 8.x
    node) is refused with 400 media_type_header_exception; the node's own major and the one before are read."""
    for major, status in ((es_node.major, 200), (es_node.major - 1, 200), (es_node.major + 1, 400)):
        media = f"application/vnd.elasticsearch+json; compatible-with={major}"
        answer = requests.post(f"{es_node.url}/_count", json={"query": {"match_all": {}}}, timeout=10,
                               headers={"Accept": media, "Content-Type": media})
        assert answer.status_code == status, (major, answer.text)
        if status == 200:
            assert answer.headers["Content-Type"] == f"application/vnd.elasticsearch+json;compatible-with={major}"
        else:
            assert answer.json()["error"]["type"] == "media_type_header_exception"


def test_the_installed_client_unchanged_reaches_only_a_node_of_its_own_major_or_newer(es_node):
    unchanged = Elasticsearch(es_node.url, request_timeout=60)
    if es_node.major >= 9:
        assert unchanged.cluster.health()["status"] in ("green", "yellow")
    else:
        with pytest.raises(BadRequestError) as refused:
            unchanged.cluster.health()
        assert refused.value.body["error"]["type"] == "media_type_header_exception"


def test_the_knn_query_with_k_and_a_filter(es):
    """The sidecar's k-NN leg: the `knn` query (`field`, `query_vector`, `k`, `num_candidates`, `filter`)."""
    index = f"node-knn-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, mappings={"properties": {
        "tag": {"type": "keyword"},
        "vector": {"type": "dense_vector", "dims": 2, "index": True, "similarity": "cosine",
                   "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100}}}})
    try:
        docs = [("a", "x", [1.0, 0.0]), ("b", "y", [0.9, 0.1]), ("c", "x", [0.0, 1.0])]
        helpers.bulk(es, ({"_index": index, "_id": i, "tag": t, "vector": v} for i, t, v in docs), refresh=True)
        answer = es.search(index=index, query={"knn": {
            "field": "vector", "query_vector": [1.0, 0.0], "k": 2, "num_candidates": 100,
            "filter": {"bool": {"filter": [{"term": {"tag": "x"}}]}}}})
        assert [hit["_id"] for hit in answer["hits"]["hits"]] == ["a", "c"]
        assert answer["hits"]["hits"][0]["_score"] == pytest.approx(1.0)   # (1 + cos) / 2
        mapping = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]["vector"]
        assert mapping["index_options"] == {"type": "hnsw", "m": 16, "ef_construction": 100}
    finally:
        es.indices.delete(index=index)

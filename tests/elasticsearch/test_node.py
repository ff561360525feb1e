"""The Elasticsearch reference node that `make test` starts answers the official client: the ground the
Elasticsearch upstream is built on (dense_vector with HNSW, top-level kNN, the product header clients check)."""

from __future__ import annotations

import uuid

import pytest
import requests
from elasticsearch import Elasticsearch, helpers

from tests.conftest import elasticsearch_url

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def es() -> Elasticsearch:
    return Elasticsearch(elasticsearch_url(), request_timeout=60)


def test_the_node_is_elasticsearch_8_or_later_and_says_so_in_every_answer(es):
    answer = requests.get(f"{elasticsearch_url()}/_nodes/_local", timeout=10)
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

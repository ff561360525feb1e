"""A hybrid query's `hits.total` counts every document some sub-query matches (after the post_filter), counted
without listing them: held against the union of each sub-query's own matches, searched one by one."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localsearch.connection import local_client

WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()
TAGS = ("red", "green", "blue")
PIPELINE = "total-minmax"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = local_client(tmp_path_factory.mktemp("hybrid-total"))
    client.transport.perform_request("PUT", f"/_search/pipeline/{PIPELINE}", body={"phase_results_processors": [
        {"normalization-processor": {"normalization": {"technique": "min_max"},
                                     "combination": {"technique": "arithmetic_mean"}}}]})
    rng = random.Random(7)
    for name in ("total-a", "total-b"):
        client.indices.create(index=name, body={"settings": {"index": {"knn": True}}, "mappings": {"properties": {
            "t": {"type": "text"}, "tag": {"type": "keyword"}, "n": {"type": "integer"},
            "v": {"type": "knn_vector", "dimension": 3,
                  "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"}}}}})
        for i in range(120):
            doc = {"t": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))), "tag": rng.choice(TAGS),
                   "n": rng.randint(0, 50), "v": [round(rng.uniform(-1, 1), 3) for _ in range(3)]}
            client.index(index=name, id=str(i), body=doc)
        client.indices.refresh(index=name)
    return client


subqueries = st.one_of(
    st.builds(lambda w: {"match": {"t": w}}, st.sampled_from(WORDS + ["zebra", "alpha beta"])),
    st.builds(lambda tag: {"term": {"tag": tag}}, st.sampled_from(TAGS)),
    st.builds(lambda lo: {"range": {"n": {"gte": lo}}}, st.integers(0, 60)),
    st.builds(lambda k, seed: {"knn": {"v": {"vector": [round(random.Random(seed).uniform(-1, 1), 3)] * 3,
                                             "k": k}}}, st.integers(1, 40), st.integers(0, 100)),
    st.just({"bool": {"should": [{"match": {"t": "gamma"}},
                                 {"knn": {"v": {"vector": [0.1, 0.2, 0.3], "k": 5}}}]}}),
)
filters = st.one_of(st.none(), st.builds(lambda tag: {"term": {"tag": tag}}, st.sampled_from(TAGS)),
                    st.builds(lambda lo: {"range": {"n": {"lte": lo}}}, st.integers(0, 50)))


def matching_ids(client, index: str, query: dict, post_filter: dict | None) -> set[tuple[str, str]]:
    body = {"query": query, "size": 1000, "_source": False, **({"post_filter": post_filter} if post_filter else {})}
    return {(h["_index"], h["_id"]) for h in client.search(index=index, body=body)["hits"]["hits"]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queries=st.lists(subqueries, min_size=1, max_size=3), post_filter=filters,
       index=st.sampled_from(["total-a", "total-a,total-b"]), fused=st.booleans())
def test_hybrid_total_is_the_union_of_the_sub_queries(client, queries, post_filter, index, fused):
    expected = set().union(*(matching_ids(client, index, q, post_filter) for q in queries))
    body = {"query": {"hybrid": {"queries": queries}}, "size": 5, "_source": False,
            **({"post_filter": post_filter} if post_filter else {})}
    params = {"search_pipeline": PIPELINE} if fused else {}
    answer = client.search(index=index, body=body, params=params)
    assert answer["hits"]["total"] == {"value": len(expected), "relation": "eq"}
    found = {(h["_index"], h["_id"]) for h in answer["hits"]["hits"]}
    assert found <= expected

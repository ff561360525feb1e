"""k-NN and the neural-search `hybrid` query, differential: the same neighbours, the same fused scores.

The corpus is small, so lucene's HNSW visits every vector and its answers are exact: both engines must find the
same k nearest and score them with the plugin's formulas (KNN_REL). Fused hybrid scores are compared within
FUSED_ABS as well (see harness.py).
"""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchcore.fusion import TECHNIQUES, FusionConfig, pipeline_body, pipeline_name
from tests.differential.corpus import DIMENSION, PIPELINES, TAGS, WORDS
from tests.differential.harness import (
    FUSED_ABS,
    KNN_REL,
    assert_same_aggregations,
    assert_same_answer,
    assert_same_error,
    assert_same_hits,
    describe,
    scores_close,
)

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VECTOR = [0.2, -0.4, 0.6, 0.1]
VECTOR_FIELDS = ("v_l2", "v_cos", "v_ip")

vectors = st.lists(st.floats(-1, 1, allow_nan=False, width=32).map(lambda x: round(x, 3)),
                   min_size=DIMENSION, max_size=DIMENSION).filter(lambda v: any(v))
filters = st.one_of(st.none(), st.builds(lambda t: {"term": {"tag": t}}, st.sampled_from(TAGS)),
                    st.builds(lambda lo: {"range": {"n": {"gte": lo}}}, st.integers(0, 100)),
                    st.just({"bool": {"must_not": [{"term": {"flag": True}}]}}))


def knn(field: str, vector: list[float], k: int, knn_filter: dict | None = None, **extra: object) -> dict:
    params = {"vector": vector, "k": k, **extra}
    if knn_filter is not None:
        params["filter"] = knn_filter
    return {"knn": {field: params}}


CASES = {
    "k 5": {"query": knn("v_l2", VECTOR, 5)},
    "k below size": {"query": knn("v_cos", VECTOR, 3), "size": 10},
    "k above size": {"query": knn("v_ip", VECTOR, 20), "size": 5},
    "k past the corpus": {"query": knn("v_l2", VECTOR, 500), "size": 100},
    "filter": {"query": knn("v_l2", VECTOR, 5, {"term": {"tag": "red"}})},
    "filter matching nothing": {"query": knn("v_l2", VECTOR, 5, {"term": {"tag": "violet"}})},
    "boost": {"query": knn("v_cos", VECTOR, 5, boost=2.0)},
    "in bool must with a filter": {"query": {"bool": {"must": [knn("v_l2", VECTOR, 10)],
                                                      "filter": [{"term": {"flag": False}}]}}},
    "in bool should with text": {"query": {"bool": {"should": [knn("v_l2", VECTOR, 10),
                                                               {"match": {"body": "vector"}}]}}},
    "wrong dimension": {"query": knn("v_l2", [0.1, 0.2], 5)},
    "not a vector field": {"query": knn("title", VECTOR, 5)},
    "no such field": {"query": knn("v_nothing", VECTOR, 5)},
    "no k": {"query": {"knn": {"v_l2": {"vector": VECTOR}}}},
    "k zero": {"query": knn("v_l2", VECTOR, 0)},
    "zero vector, cosine": {"query": knn("v_cos", [0.0] * DIMENSION, 5)},
    "post_filter": {"query": knn("v_l2", VECTOR, 10), "post_filter": {"term": {"tag": "red"}}},
    "post_filter and filter": {"query": knn("v_l2", VECTOR, 10, {"term": {"flag": False}}),
                               "post_filter": {"range": {"n": {"gte": 40}}}},
}


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_knn(pair, corpus, body):
    assert_same_answer(*pair.search(corpus, body), rel=KNN_REL)


@SETTINGS
@given(field=st.sampled_from(VECTOR_FIELDS), vector=vectors, k=st.integers(1, 30), size=st.integers(1, 30),
       knn_filter=filters)
def test_generated_knn(pair, corpus, field, vector, k, size, knn_filter):
    local, reference = pair.search(corpus, {"query": knn(field, vector, k, knn_filter), "size": size,
                                            "_source": False})
    assert_same_hits(local, reference, rel=KNN_REL, sources=False)


# ---- hybrid ------------------------------------------------------------------------------------------------

def hybrid(text: str, vector: list[float], k: int = 10, **extra: object) -> dict:
    return {"hybrid": {"queries": [{"match": {"body": text}}, knn("v_l2", vector, k)], **extra}}


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize(("body", "label"), [
    ({"query": hybrid("vector search", VECTOR)}, "default page"),
    ({"query": hybrid("vector search", VECTOR), "size": 4}, "size"),
    ({"query": hybrid("rank", VECTOR, pagination_depth=30), "from": 5, "size": 5}, "second page"),
    ({"query": hybrid("rank", VECTOR, filter={"term": {"tag": "blue"}})}, "hybrid filter"),
    ({"query": hybrid("zebra", VECTOR)}, "one leg empty"),
    ({"query": {"hybrid": {"queries": [{"match": {"body": "zebra"}}, {"term": {"tag": "violet"}}]}}},
     "nothing matches"),
    ({"query": hybrid("model", VECTOR), "size": 0}, "size 0"),
    ({"query": hybrid("model", VECTOR), "track_total_hits": False}, "no total"),
    ({"query": hybrid("rank", VECTOR), "post_filter": {"term": {"tag": "red"}}}, "post_filter"),
    ({"query": hybrid("rank", VECTOR, filter={"term": {"flag": True}}), "post_filter": {"range": {"n": {"gte": 30}}}},
     "post_filter and hybrid filter"),
    ({"query": hybrid("rank", VECTOR, pagination_depth=30), "post_filter": {"exists": {"field": "n"}}, "from": 4,
      "size": 4}, "post_filter, second page"),
    ({"query": hybrid("model", VECTOR), "post_filter": {"term": {"tag": "green"}}, "size": 0},
     "post_filter, size 0"),
    ({"query": hybrid("model", VECTOR), "post_filter": {"term": {"tag": "violet"}}}, "post_filter matching nothing"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hybrid(pair, corpus, pipelines, pipeline, body, label):
    local, reference = pair.search(corpus, body, {"search_pipeline": pipelines[pipeline]})
    assert_same_answer(local, reference, abs_tol=FUSED_ABS)


@pytest.mark.parametrize(("normalization", "combination"), TECHNIQUES, ids=lambda v: v)
def test_the_sidecars_pipeline_for_every_technique(pair, corpus, normalization, combination):
    """Each pair searchcore.fusion lists, as the sidecar asks the cluster for it (weights, rank constant 7)."""
    fusion = FusionConfig(normalization, combination, (0.35, 0.65), rank_constant=7)
    pipeline_id = f"diff-{pipeline_name(fusion)}-{uuid.uuid4().hex[:8]}"
    pair.ok("PUT", f"/_search/pipeline/{pipeline_id}", pipeline_body(fusion))
    try:
        body = {"query": hybrid("rank model", VECTOR, pagination_depth=30), "size": 20}
        local, reference = pair.search(corpus, body, {"search_pipeline": pipeline_id})
        assert_same_answer(local, reference, abs_tol=FUSED_ABS)
    finally:
        pair.send("DELETE", f"/_search/pipeline/{pipeline_id}")


def test_hybrid_aggregations_count_every_sub_query_match(pair, corpus, pipelines):
    body = {"query": hybrid("filter", VECTOR), "size": 3, "aggs": {"tags": {"terms": {"field": "tag"}}}}
    local, reference = pair.search(corpus, body, {"search_pipeline": pipelines["minmax-mean"]})
    assert_same_hits(local, reference, abs_tol=FUSED_ABS)
    assert_same_aggregations(local, reference)


def test_hybrid_post_filter_narrows_the_neighbours_found(pair, corpus, pipelines):
    """A post_filter drops k-NN neighbours after they are found (fewer than k remain); the hybrid query's own
    filter finds the k nearest among the documents it passes."""
    answers = {}
    for key in ("post_filter", "filter"):
        query = hybrid("zebra", VECTOR, k=10, **({"filter": {"term": {"tag": "red"}}} if key == "filter" else {}))
        body = {"query": query, "size": 20, "_source": False,
                **({"post_filter": {"term": {"tag": "red"}}} if key == "post_filter" else {})}
        local, reference = pair.search(corpus, body, {"search_pipeline": pipelines["rrf"]})
        assert_same_hits(local, reference, abs_tol=FUSED_ABS, sources=False)
        answers[key] = local.ids
    assert len(answers["filter"]) == 10 > len(answers["post_filter"]) > 0
    assert set(answers["post_filter"]) < set(answers["filter"])


def test_hybrid_post_filter_leaves_the_aggregations(pair, corpus, pipelines):
    body = {"query": hybrid("filter", VECTOR), "post_filter": {"term": {"tag": "blue"}}, "size": 5,
            "aggs": {"tags": {"terms": {"field": "tag"}}}}
    local, reference = pair.search(corpus, body, {"search_pipeline": pipelines["l2-geometric"]})
    assert_same_hits(local, reference, abs_tol=FUSED_ABS)
    assert_same_aggregations(local, reference)
    buckets = {b["key"]: b["doc_count"] for b in local.body["aggregations"]["tags"]["buckets"]}
    assert local.body["hits"]["total"]["value"] == buckets["blue"] < sum(buckets.values())


@pytest.mark.parametrize("post_filter", [None, {"term": {"tag": "amber"}}], ids=["", "post_filter"])
def test_hybrid_without_a_pipeline_returns_the_raw_list(pair, corpus, post_filter):
    """No normalization processor: the shard's raw list, sub-query lists between marker hits (which repeat the
    first document, with magic scores)."""
    body = {"query": hybrid("vector", VECTOR, k=3), "size": 20, "_source": False}
    local, reference = pair.search(corpus, {**body, **({"post_filter": post_filter} if post_filter else {})})
    assert local.status == reference.status == 200, describe(local, reference)
    assert local.body["hits"]["total"] == reference.body["hits"]["total"]
    assert local.ids == reference.ids, describe(local, reference)
    assert all(scores_close(a["_score"], b["_score"], 1e-6) for a, b in zip(local.hits, reference.hits, strict=True))


@pytest.mark.parametrize(("body", "params"), [
    ({"query": hybrid("rank", VECTOR), "from": 5}, "minmax-mean"),
    ({"query": hybrid("rank", VECTOR, pagination_depth=5), "from": 20}, "minmax-mean"),
    ({"query": hybrid("rank", VECTOR, pagination_depth=0)}, "minmax-mean"),
    ({"query": {"hybrid": {"queries": []}}}, "minmax-mean"),
    ({"query": hybrid("rank", VECTOR)}, None),
], ids=["from without pagination_depth", "from past the fused results", "pagination_depth 0", "no sub-queries",
        "unknown pipeline"])
def test_hybrid_errors(pair, corpus, pipelines, body, params):
    pipeline = pipelines[params] if params else "diff-no-such-pipeline"
    assert_same_error(*pair.search(corpus, body, {"search_pipeline": pipeline}))


@SETTINGS
@given(pipeline=st.sampled_from(sorted(PIPELINES)), text=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
       seed=st.integers(0, 10_000), k=st.integers(1, 25), size=st.integers(1, 20), hybrid_filter=filters,
       post_filter=filters)
def test_generated_hybrid(pair, corpus, pipelines, pipeline, text, seed, k, size, hybrid_filter, post_filter):
    vector = [round(random.Random(seed).uniform(-1, 1), 3) for _ in range(DIMENSION)]
    extra = {"filter": hybrid_filter} if hybrid_filter else {}
    body = {"query": hybrid(" ".join(text), vector, k, **extra), "size": size, "_source": False,
            **({"post_filter": post_filter} if post_filter else {})}
    local, reference = pair.search(corpus, body, {"search_pipeline": pipelines[pipeline]})
    assert_same_hits(local, reference, abs_tol=FUSED_ABS, sources=False)


def test_pipelines_read_back_the_same(pair, pipelines):
    for pipeline_id in pipelines.values():
        local, reference = pair.send("GET", f"/_search/pipeline/{pipeline_id}")
        assert local.status == reference.status == 200
        assert local.body == reference.body


@pytest.mark.parametrize("body", [
    {"phase_results_processors": [{"normalization-processor": {"normalization": {"technique": "bogus"}}}]},
    {"phase_results_processors": [{"normalization-processor": {"combination": {
        "technique": "arithmetic_mean", "parameters": {"weights": [0.5, 0.6]}}}}]},
    {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf",
                                                                               "rank_constant": 0}}}]},
    {"phase_results_processors": [{"no-such-processor": {}}]},
    {"bogus": 1},
], ids=["unknown technique", "weights not summing to 1", "rank_constant 0", "unknown processor", "unknown key"])
def test_pipeline_errors(pair, body):
    assert_same_error(*pair.send("PUT", "/_search/pipeline/diff-refused-pipeline", body))


@pytest.fixture(scope="module")
def tie_index(pair):
    """Seventy documents with one keyword term each per field: constant scores, so fused scores tie."""
    name = f"diff-ties-{random.Random().getrandbits(32):08x}"
    pair.ok("PUT", f"/{name}", {"mappings": {"properties": {"t": {"type": "keyword"}, "u": {"type": "keyword"}}}})
    lines: list[object] = []
    for i in range(70):
        lines += [{"index": {"_index": name, "_id": str(i)}}, {"t": f"t{i}", "u": f"u{i}"}]
    pair.ok("POST", "/_bulk", lines, {"refresh": "true"}, ndjson=True)
    yield name
    pair.send("DELETE", f"/{name}")


@pytest.mark.parametrize(("first", "second"), [
    ([32, 48], [16]), ([16], [32, 48]), ([1, 17, 33], [49]), ([3], [17]), ([10], [26]), ([5], [60]),
    (list(range(0, 40, 3)), list(range(1, 40, 5))),
], ids=lambda v: "-".join(map(str, v)))
def test_fused_ties_come_in_the_real_nodes_order(pair, pipelines, tie_index, first, second):
    """neural-search sorts tied documents in the iteration order of a Java HashMap of doc ids."""
    body = {"query": {"hybrid": {"queries": [{"terms": {"t": [f"t{i}" for i in first]}},
                                             {"terms": {"u": [f"u{i}" for i in second]}}]}},
            "size": 50, "_source": False}
    local, reference = pair.search(tie_index, body, {"search_pipeline": pipelines["minmax-mean"]})
    assert_same_hits(local, reference, abs_tol=FUSED_ABS, sources=False)
    assert local.ids == reference.ids, describe(local, reference)

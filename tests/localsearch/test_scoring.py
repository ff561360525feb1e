"""Scores as OpenSearch gives them: BM25, k-NN per space type, and hybrid fusion, checked by hand."""

from __future__ import annotations

import math

import pytest
from opensearchpy import RequestError

from tests.fusion_reference import NORMALIZE, combine, rrf

K1, B = 1.2, 0.75
DOCS = {
    "d1": "the quick brown fox",
    "d2": "the lazy dog",
    "d3": "quick quick dog jumps high",
    "d4": "a slow brown cow sleeps",
}


def bm25(tf: int, dl: int, avgdl: float, n: int, total: int) -> float:
    """Lucene 9's BM25 (what OpenSearch uses): no (k1 + 1) factor in the numerator."""
    idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
    return idf * tf / (tf + K1 * (1 - B + B * dl / avgdl))


@pytest.fixture
def corpus(localsearch_server, index_name):
    client = localsearch_server.client()
    client.indices.create(index=index_name, body={
        "settings": {"index": {"knn": True}},
        "mappings": {"properties": {
            "body": {"type": "text"}, "title": {"type": "text"},
            "vec": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "space_type": "l2"}}}}})
    vectors = {"d1": [1.0, 0.0], "d2": [0.0, 1.0], "d3": [1.0, 1.0], "d4": [3.0, 0.0]}
    for doc_id, text in DOCS.items():
        client.index(index=index_name, id=doc_id, body={"body": text, "title": doc_id, "vec": vectors[doc_id]})
    client.indices.refresh(index=index_name)
    return client, index_name


def scores(response):
    return {h["_id"]: h["_score"] for h in response["hits"]["hits"]}


def test_bm25_matches_hand_computation(corpus):
    client, index = corpus
    got = scores(client.search(index=index, body={"query": {"match": {"body": "quick dog"}}}))
    avgdl = (4 + 3 + 5 + 5) / 4
    idf_n = 2  # "quick" and "dog" each occur in two of the four documents
    expected = {
        "d3": bm25(2, 5, avgdl, idf_n, 4) + bm25(1, 5, avgdl, idf_n, 4),
        "d1": bm25(1, 4, avgdl, idf_n, 4),
        "d2": bm25(1, 3, avgdl, idf_n, 4),
    }
    assert set(got) == set(expected)
    for doc_id, value in expected.items():
        assert got[doc_id] == pytest.approx(value, rel=1e-5)
    assert list(got) == ["d3", "d2", "d1"]  # the shorter d2 beats d1 on an equally rare term


def test_match_operator_and_requires_every_term(corpus):
    client, index = corpus
    got = scores(client.search(index=index, body={"query": {"match": {"body": {"query": "quick dog",
                                                                               "operator": "and"}}}}))
    assert list(got) == ["d3"]


def test_multi_match_best_fields_takes_the_best_field(corpus):
    client, index = corpus
    body_only = scores(client.search(index=index, body={"query": {"match": {"body": "brown"}}}))
    title_only = scores(client.search(index=index, body={"query": {"match": {"title": "d1"}}}))
    got = scores(client.search(index=index, body={"query": {"multi_match": {
        "query": "brown d1", "fields": ["body", "title"], "tie_breaker": 0.5}}}))
    # d1 matches "brown" in body and "d1" in title: max + 0.5 * other
    best, other = max(body_only["d1"], title_only["d1"]), min(body_only["d1"], title_only["d1"])
    assert got["d1"] == pytest.approx(best + 0.5 * other, rel=1e-5)
    assert got["d4"] == pytest.approx(body_only["d4"], rel=1e-5)


@pytest.mark.parametrize("space", ["l2", "cosinesimil", "innerproduct"])
def test_knn_scores_follow_the_space_formula(localsearch_server, index_name, space):
    client = localsearch_server.client()
    client.indices.create(index=index_name, body={"settings": {"index": {"knn": True}}, "mappings": {"properties": {
        "v": {"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "engine": "faiss",
                                                               "space_type": space}}}}})
    vectors = {"a": [1.0, 2.0, 3.0], "b": [-1.0, 0.5, 0.0], "c": [0.0, -3.0, 1.0]}
    for doc_id, vector in vectors.items():
        client.index(index=index_name, id=doc_id, body={"v": vector})
    client.indices.refresh(index=index_name)
    query = [0.5, -1.0, 2.0]
    got = scores(client.search(index=index_name, body={"query": {"knn": {"v": {"vector": query, "k": 3}}}}))

    def expected(v):
        dot = sum(x * y for x, y in zip(v, query, strict=True))
        if space == "l2":
            return 1 / (1 + sum((x - y) ** 2 for x, y in zip(v, query, strict=True)))
        if space == "cosinesimil":
            norms = math.sqrt(sum(x * x for x in v)) * math.sqrt(sum(y * y for y in query))
            return (1 + dot / norms) / 2
        return dot + 1 if dot >= 0 else 1 / (1 - dot)

    assert set(got) == set(vectors)
    for doc_id, vector in vectors.items():
        assert got[doc_id] == pytest.approx(expected(vector), rel=1e-5)
    assert list(got) == sorted(vectors, key=lambda d: -expected(vectors[d]))


def test_knn_filter_restricts_candidates(corpus):
    client, index = corpus
    got = scores(client.search(index=index, body={"query": {"knn": {"vec": {
        "vector": [1.0, 0.0], "k": 2, "filter": {"match": {"body": "the"}}}}}}))
    assert set(got) == {"d1", "d2"}
    assert got["d1"] == pytest.approx(1.0) and got["d2"] == pytest.approx(1 / 3)


# ---- hybrid -------------------------------------------------------------------------------------

LEXICAL = {"match": {"body": "quick brown"}}
VECTOR = {"knn": {"vec": {"vector": [1.0, 0.0], "k": 3}}}


@pytest.fixture
def legs(corpus):
    client, index = corpus
    lexical = scores(client.search(index=index, body={"query": LEXICAL}))
    vector = scores(client.search(index=index, body={"query": VECTOR}))
    assert set(lexical) ^ set(vector), "the example needs a document that only one leg finds"
    return lexical, vector


@pytest.mark.parametrize("normalization", ["min_max", "l2", "z_score"])
@pytest.mark.parametrize("combination", ["arithmetic_mean", "geometric_mean", "harmonic_mean"])
def test_hybrid_normalization_matches_hand_computation(corpus, legs, normalization, combination):
    client, index = corpus
    weights = [0.3, 0.7]
    pipeline = f"{index}-{normalization}-{combination}"
    body = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": normalization},
        "combination": {"technique": combination, "parameters": {"weights": weights}}}}]}
    if normalization == "z_score" and combination != "arithmetic_mean":
        # OpenSearch pairs z_score with arithmetic_mean only
        with pytest.raises(RequestError) as err:
            client.transport.perform_request("PUT", f"/_search/pipeline/{pipeline}", body=body)
        assert err.value.error == "illegal_argument_exception"
        return
    client.transport.perform_request("PUT", f"/_search/pipeline/{pipeline}", body=body)
    got = scores(client.search(index=index, params={"search_pipeline": pipeline}, body={
        "size": 10, "query": {"hybrid": {"queries": [LEXICAL, VECTOR]}}}))
    normalize = NORMALIZE[normalization]
    expected = combine([normalize(legs[0]), normalize(legs[1])], combination, weights)
    assert set(got) == set(expected)
    for doc_id, value in expected.items():
        assert got[doc_id] == pytest.approx(value, rel=1e-4), doc_id
    order = list(got)  # best first; ties may come in either order
    assert all(expected[a] >= expected[b] - 1e-6 for a, b in zip(order, order[1:], strict=False))


def test_hybrid_rrf_matches_hand_computation(corpus, legs):
    client, index = corpus
    pipeline = f"{index}-rrf"
    client.transport.perform_request("PUT", f"/_search/pipeline/{pipeline}", body={
        "phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf",
                                                                                 "rank_constant": 10}}}]})
    got = scores(client.search(index=index, params={"search_pipeline": pipeline}, body={
        "query": {"hybrid": {"queries": [LEXICAL, VECTOR]}}}))
    expected = rrf([list(leg) for leg in legs], rank_constant=10)
    assert set(got) == set(expected)
    for doc_id, value in expected.items():
        assert got[doc_id] == pytest.approx(value, rel=1e-5)


def test_hybrid_default_pipeline_and_pagination_depth(corpus, legs):
    client, index = corpus
    client.transport.perform_request("PUT", f"/_search/pipeline/{index}-default", body={
        "phase_results_processors": [{"normalization-processor": {}}]})
    client.indices.put_settings(index=index, body={"index": {"search.default_pipeline": f"{index}-default"}})
    full = client.search(index=index, body={"size": 10, "query": {"hybrid": {"queries": [LEXICAL, VECTOR]}}})
    page = client.search(index=index, body={"from": 1, "size": 1, "query": {"hybrid": {
        "queries": [LEXICAL, VECTOR], "pagination_depth": 10}}})
    assert [h["_id"] for h in page["hits"]["hits"]] == [h["_id"] for h in full["hits"]["hits"]][1:2]
    with pytest.raises(RequestError) as err:
        client.search(index=index, body={"from": 1, "size": 1, "query": {"hybrid": {"queries": [LEXICAL, VECTOR]}}})
    assert "pagination_depth" in str(err.value.info)

"""The sidecar end to end: gunicorn in front of a real localsearch server, driven with opensearch-py."""

from __future__ import annotations

import math
import re
import uuid

import pytest
import requests
from opensearchpy import OpenSearch, TransportError

from tests.e2e.conftest import QUERY
from tests.fusion_reference import NORMALIZE, combine, rrf

INDEX = "e2e-docs"
LEXICAL = {"match": {"text": QUERY}}


def search(url: str, body: dict, headers: dict | None = None, index: str = INDEX, params: dict | None = None):
    response = requests.post(f"{url}/{index}/_search", json=body, headers=headers or {}, params=params, timeout=120)
    return response


def cross_encoder_logits(model_path, query: str, texts: list[str]) -> list[float]:
    import torch
    from sentence_transformers import CrossEncoder
    model = CrossEncoder(str(model_path))
    return [float(x) for x in model.predict([(query, t) for t in texts], activation_fn=torch.nn.Identity())]


def metric_value(url: str, name: str, **labels: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_reranked_search_orders_by_the_cross_encoder(sidecar, tiny_cross_encoder):
    response = search(sidecar.url, {"query": LEXICAL, "size": 10, "ext": {"rerank": {"explain": True}}})
    assert response.status_code == 200, response.text
    assert response.headers["X-Rerank-Status"] == "reranked"
    hits = response.json()["hits"]["hits"]
    assert len(hits) == 10
    texts = [f"{h['_source']['title']}\n{h['_source']['text']}" for h in hits]
    logits = cross_encoder_logits(tiny_cross_encoder, QUERY, texts)
    for hit, logit in zip(hits, logits, strict=True):
        assert hit["_rerank"]["logit"] == pytest.approx(logit, abs=1e-4)
        assert hit["_score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5)
        assert 0 < hit["_score"] < 1
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert response.json()["hits"]["max_score"] == scores[0]


def test_pages_are_consistent_and_reuse_the_window(sidecar):
    body = {"query": {"match": {"text": "files and text"}}}
    full = search(sidecar.url, {**body, "size": 9}).json()["hits"]["hits"]
    hits_before = metric_value(sidecar.url, "rerank_sidecar_cache_requests_total", cache="window", result="hit")
    pages = [search(sidecar.url, {**body, "from": f, "size": 3}).json()["hits"]["hits"] for f in (0, 3, 6)]
    assert [h["_id"] for page in pages for h in page] == [h["_id"] for h in full]
    assert [h["_score"] for page in pages for h in page] == [h["_score"] for h in full]
    hits_after = metric_value(sidecar.url, "rerank_sidecar_cache_requests_total", cache="window", result="hit")
    assert hits_after - hits_before >= 2  # pages 2 and 3 cost no inference


def test_page_past_the_window_continues_in_first_stage_order(sidecar):
    body = {"query": {"match": {"text": "a the of to"}}}
    everything = search(sidecar.url, {**body, "size": 15, "ext": {"rerank": {"explain": True}}}).json()["hits"]["hits"]
    assert len(everything) > 10
    tail = everything[10:]  # the window is 10
    assert [h["_rerank"]["first_stage_rank"] for h in tail] == sorted(h["_rerank"]["first_stage_rank"] for h in tail)
    scores = [h["_score"] for h in everything]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False))  # monotonic across the window edge


def test_source_filtering_applies_after_reranking(sidecar):
    response = search(sidecar.url, {"query": LEXICAL, "_source": ["title"], "size": 3})
    assert response.headers["X-Rerank-Status"] == "reranked"
    for hit in response.json()["hits"]["hits"]:
        assert set(hit["_source"]) == {"title"}
    response = search(sidecar.url, {"query": LEXICAL, "_source": False, "size": 3})
    assert all("_source" not in h for h in response.json()["hits"]["hits"])


def test_aggregations_come_from_the_cluster_on_the_original_query(sidecar, backend):
    body = {"query": LEXICAL, "size": 3, "aggs": {"by_category": {"terms": {"field": "category.keyword"}}}}
    via_sidecar = search(sidecar.url, body)
    direct = search(backend.url, body)
    assert via_sidecar.headers["X-Rerank-Status"] == "reranked"
    assert via_sidecar.json()["aggregations"] == direct.json()["aggregations"]


@pytest.mark.parametrize("opt_out", ["header", "ext"])
def test_opt_out_passes_through(sidecar, backend, opt_out):
    body = {"query": LEXICAL, "size": 5}
    if opt_out == "header":
        response = search(sidecar.url, body, headers={"X-Rerank": "off"})
    else:
        response = search(sidecar.url, {**body, "ext": {"rerank": {"enabled": False}}})
    direct = search(backend.url, body)
    assert response.headers["X-Rerank-Status"] == "passthrough"
    assert {k: v for k, v in response.json().items() if k != "took"} == {
        k: v for k, v in direct.json().items() if k != "took"}


def test_sorted_search_passes_through_untouched(sidecar, backend):
    body = {"query": LEXICAL, "sort": [{"year": "desc"}], "size": 4}
    via_sidecar = search(sidecar.url, body)
    direct = search(backend.url, body)
    assert via_sidecar.headers["X-Rerank-Status"] == "passthrough"
    assert via_sidecar.json()["hits"] == direct.json()["hits"]


def test_index_without_contract_passes_through(sidecar):
    response = search(sidecar.url, {"query": {"match": {"text": "read"}}}, index="e2e-plain")
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "passthrough"
    assert response.json()["hits"]["hits"][0]["_id"] == "p1"


def test_msearch_mixes_reranked_and_passthrough_items(sidecar, backend):
    client = OpenSearch(sidecar.url, timeout=120)
    body = [{"index": INDEX}, {"query": LEXICAL, "size": 3},
            {"index": INDEX}, {"query": LEXICAL, "sort": [{"year": "asc"}], "size": 3},
            {"index": "e2e-plain"}, {"query": {"match_all": {}}},
            {"index": "missing-index"}, {"query": {"match_all": {}}}]
    responses = client.msearch(body=body)["responses"]
    assert [r["status"] for r in responses] == [200, 200, 200, 404]
    reranked = search(sidecar.url, {"query": LEXICAL, "size": 3}).json()["hits"]["hits"]
    assert [h["_id"] for h in responses[0]["hits"]["hits"]] == [h["_id"] for h in reranked]
    direct_sorted = search(backend.url, {"query": LEXICAL, "sort": [{"year": "asc"}], "size": 3}).json()
    assert responses[1]["hits"]["hits"] == direct_sorted["hits"]["hits"]
    assert responses[3]["error"]["type"] == "index_not_found_exception"


def _legs(url: str, window: int) -> tuple[dict[str, float], dict[str, float]]:
    from sentence_transformers import SentenceTransformer

    from searchcore.models import resolve_model
    vector = SentenceTransformer(resolve_model("all-MiniLM-L6-v2")).encode(QUERY, normalize_embeddings=True).tolist()
    lexical = search(url, {"query": LEXICAL, "size": window}).json()["hits"]["hits"]
    knn = search(url, {"query": {"knn": {"embedding": {"vector": vector, "k": window}}},
                                          "size": window}).json()["hits"]["hits"]
    return {h["_id"]: h["_score"] for h in lexical}, {h["_id"]: h["_score"] for h in knn}


@pytest.mark.parametrize("retrieval", ["client", "server"])
@pytest.mark.parametrize("fusion", ["min_max", "l2", "z_score", "rrf"])
def test_first_stage_fusion_matches_hand_computation(sidecar, backend, retrieval, fusion):
    window = 10
    lexical, vector = _legs(backend.url, window)
    if fusion == "rrf":
        expected = rrf([list(lexical), list(vector)])
    else:
        expected = combine([NORMALIZE[fusion](lexical), NORMALIZE[fusion](vector)], "arithmetic_mean", [0.5, 0.5])
    response = search(sidecar.url, {"query": LEXICAL, "size": window, "ext": {"rerank": {
        "explain": True, "fusion": fusion, "retrieval": retrieval}}})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    boundary = sorted(expected.values(), reverse=True)[window - 1]   # ties at the boundary: the cluster's pick
    above = {d for d, score in expected.items() if score > boundary * (1 + 1e-6)}
    assert len(hits) == window
    assert above <= {h["_id"] for h in hits}
    assert all(expected[h["_id"]] >= boundary * (1 - 1e-6) for h in hits)
    for hit in hits:
        assert hit["_rerank"]["first_stage_score"] == pytest.approx(expected[hit["_id"]], rel=1e-4)
    # the window is the fused top `window`, score for score (a tie at the edge may pick either document)
    assert sorted((h["_rerank"]["first_stage_score"] for h in hits), reverse=True) == pytest.approx(
        sorted(expected.values(), reverse=True)[:window], rel=1e-4)


def test_budget_of_one_millisecond_fails_open(sidecar, backend):
    """The whole window (10) on one page: what was scored in the budget comes first, by score, and the rest
    follows in first-stage order below it; with nothing scored, the first stage's order and scores stand."""
    query = f"numbers list {uuid.uuid4().hex[:8]}"   # never scored before: no score cache to answer from
    response = search(sidecar.url, {"query": {"match": {"text": query}}, "size": 10,
                                    "ext": {"rerank": {"budget_ms": 1, "explain": True}}})
    assert response.status_code == 200
    status = response.headers["X-Rerank-Status"]
    assert status in ("partial", "skipped-timeout")
    hits = response.json()["hits"]["hits"]
    assert len(hits) == 10
    scored = [h for h in hits if h["_rerank"]["logit"] is not None]
    unscored = hits[len(scored):]
    assert hits[:len(scored)] == scored, "a scored hit below an unscored one"
    assert all(h["_rerank"]["logit"] is None for h in unscored)
    assert [h["_rerank"]["first_stage_rank"] for h in unscored] == sorted(
        h["_rerank"]["first_stage_rank"] for h in unscored)
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    if status == "skipped-timeout":   # nothing reranked: first-stage order and scores, never shown as reranked
        assert not scored
        assert [h["_rerank"]["first_stage_rank"] for h in hits] == list(range(1, 11))
        assert scores == [h["_rerank"]["first_stage_score"] for h in hits]
    else:                             # partial: some of the window scored in time, not all of it
        assert 0 < len(scored) < 10, [h["_rerank"] for h in hits]
        assert scores[len(scored)] < scores[len(scored) - 1] and len(set(scores[len(scored):])) == len(unscored)


def test_broken_model_fails_open(localsearch_server, localsearch_corpus, nan_cross_encoder, start_sidecar):
    server = start_sidecar(localsearch_server.url, reranker=str(nan_cross_encoder), config={"defaults": {"window": 5}})
    response = search(server.url, {"query": LEXICAL, "size": 5, "ext": {"rerank": {"explain": True}}})
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "skipped-nan"
    hits = response.json()["hits"]["hits"]
    assert [h["_rerank"]["first_stage_rank"] for h in hits] == list(range(1, 6))
    assert all(h["_rerank"]["logit"] is None for h in hits)
    assert metric_value(server.url, "rerank_sidecar_fail_open_total", reason="nan") >= 1


def test_upstream_down_gives_502_and_ready_tells(start_localsearch, start_sidecar, corpus_file, tiny_cross_encoder,
                                                 tmp_path):
    from tests.e2e.conftest import ingest
    upstream = start_localsearch(tmp_path / "own-data")
    ingest(corpus_file, INDEX, upstream.url)
    server = start_sidecar(upstream.url, reranker=str(tiny_cross_encoder))
    assert search(server.url, {"query": LEXICAL}).status_code == 200
    upstream.kill()
    response = search(server.url, {"query": {"match": {"text": "a query not seen before"}}, "size": 3})
    assert response.status_code == 502
    assert response.json()["error"]["type"] and response.json()["status"] == 502
    passthrough = requests.get(f"{server.url}/_cat/indices", timeout=30)
    assert passthrough.status_code == 502
    assert requests.get(f"{server.url}/-/ready", timeout=30).status_code == 503
    assert requests.get(f"{server.url}/-/healthy", timeout=30).status_code == 200
    # the cluster comes back (same data, same port): the sidecar recovers by itself, no restart
    start_localsearch(tmp_path / "own-data", port=upstream.port)
    assert requests.get(f"{server.url}/-/ready", timeout=30).status_code == 200
    again = search(server.url, {"query": {"match": {"text": "another query not seen before"}}, "size": 3})
    assert again.status_code == 200 and again.headers["X-Rerank-Status"] == "reranked"
    assert requests.get(f"{server.url}/_cat/indices", timeout=30).status_code == 200


def test_bad_requests_get_opensearch_errors(sidecar, backend):
    for data in (b'{"query": {', b'{"query": {"match": {"text": "x"}}} x', b'{"\\ud800": 1}'):
        bad = requests.post(f"{sidecar.url}/{INDEX}/_search", data=data, timeout=30,
                            headers={"Content-Type": "application/json"})
        direct = requests.post(f"{backend.url}/{INDEX}/_search", data=data, timeout=30,
                               headers={"Content-Type": "application/json"})
        assert bad.status_code == direct.status_code == 400, (data, bad.text, direct.text)
        assert bad.json()["error"]["type"] == direct.json()["error"]["type"], (data, bad.text, direct.text)
        assert bad.json()["error"]["type"] in ("json_parse_exception", "json_e_o_f_exception")
    unknown = search(sidecar.url, {"query": LEXICAL, "ext": {"rerank": {"bogus": 1}}})
    assert unknown.status_code == 400 and "bogus" in unknown.json()["error"]["reason"]
    too_big = search(sidecar.url, {"query": LEXICAL, "ext": {"rerank": {"window": 100000}}})
    assert too_big.status_code == 400 and too_big.json()["status"] == 400
    empty = search(sidecar.url, {"query": LEXICAL, "ext": {"rerank": {"query_text": "   "}}})
    assert empty.status_code == 400
    for response in (bad, unknown, too_big, empty):
        assert "Traceback" not in response.text


def test_opensearch_client_apis_pass_through(sidecar, backend):
    client = OpenSearch(sidecar.url, timeout=60)
    client.indices.create(index="e2e-admin", body={"mappings": {"properties": {"n": {"type": "integer"}}}})
    client.index(index="e2e-admin", id="1", body={"n": 1}, refresh=True)
    client.bulk(body='{"index": {"_index": "e2e-admin", "_id": "2"}}\n{"n": 2}\n', refresh=True)
    assert client.get(index="e2e-admin", id="2")["_source"] == {"n": 2}
    assert client.count(index="e2e-admin")["count"] == 2
    assert client.cat.indices(index="e2e-admin", format="json")[0]["docs.count"] == "2"
    with pytest.raises(TransportError) as err:
        client.indices.create(index="e2e-admin")
    assert err.value.status_code == 400 and err.value.error == "resource_already_exists_exception"
    client.indices.delete(index="e2e-admin")
    assert not backend.client().indices.exists(index="e2e-admin")


def test_metrics_count_requests(sidecar):
    # an index with the ingest contract is named in the label (a bounded set: see sidecar/instrument.py)
    before = metric_value(sidecar.url, "rerank_sidecar_requests_total", route="search", index=INDEX, status="200")
    for _ in range(3):
        search(sidecar.url, {"query": LEXICAL, "size": 2})
    after = metric_value(sidecar.url, "rerank_sidecar_requests_total", route="search", index=INDEX, status="200")
    assert after - before == 3
    assert metric_value(sidecar.url, "rerank_sidecar_stage_duration_seconds_count", stage="rerank") >= 1


def test_model_that_raises_fails_open(localsearch_server, localsearch_corpus, tiny_cross_encoder):
    """In-process app with a scorer whose model call raises: first-stage order, flagged, no trace."""
    from sidecar.app import create_app
    from sidecar.rerank import load_scorer
    from sidecar.settings import Profile, Settings

    real = load_scorer(str(tiny_cross_encoder))

    class Raising:
        def __getattr__(self, name):
            return getattr(real, name)

        def score_batch(self, pairs):
            raise RuntimeError("the accelerator fell off the bus")

    settings = Settings(opensearch_url=localsearch_server.url, defaults=Profile(reranker="raising", window=5))
    app = create_app(settings, scorer_loader=lambda name: Raising(), warm_up=False)
    response = app.test_client().post(f"/{INDEX}/_search", json={"query": LEXICAL, "size": 5,
                                                                 "ext": {"rerank": {"explain": True}}})
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "skipped-error"
    hits = response.get_json()["hits"]["hits"]
    assert [h["_rerank"]["first_stage_rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert "accelerator" not in response.get_data(as_text=True)


def test_metrics_sum_every_worker(localsearch_server, localsearch_corpus, tiny_cross_encoder, start_sidecar):
    server = start_sidecar(localsearch_server.url, reranker=str(tiny_cross_encoder), workers=2)
    for _ in range(12):
        with requests.Session() as fresh:  # a new connection each time: gunicorn spreads them over workers
            assert fresh.get(f"{server.url}/_cat/indices", timeout=30).status_code == 200
    assert metric_value(server.url, "rerank_sidecar_requests_total", route="passthrough", status="200") == 12


def test_a_contract_mismatch_is_reported_but_keeps_the_sidecar_ready(localsearch_server, localsearch_corpus,
                                                                     tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.settings import Settings

    settings = Settings.from_dict({"opensearch_url": localsearch_server.url, "reranker": str(tiny_cross_encoder),
                                   "profiles": [{"index": INDEX, "bi_encoder": "acme/another-bi-encoder"}]})
    client = create_app(settings, warm_up=False).test_client()
    response = client.post(f"/{INDEX}/_search", json={"query": LEXICAL, "size": 3})
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "skipped-contract-mismatch"
    ready = client.get("/-/ready")
    assert ready.status_code == 200 and ready.get_json()["ready"] is True
    assert "acme/another-bi-encoder" in ready.get_json()["index_problems"][INDEX]

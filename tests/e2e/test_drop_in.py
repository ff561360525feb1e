"""The proxy where the cluster's URL was: the same request sent straight to the engine and through the sidecar.

Each test runs in front of localsearch and of the real OpenSearch node (the `backend` fixture). Where the
sidecar's answer must be the cluster's (totals, errors, empty results), the cluster's own answer is the
expectation; where the sidecar cannot rerank, it degrades, and says so in X-Rerank-Status, a metric, the log
and /-/ready.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import requests

from tests.conftest import SidecarServer
from tests.e2e.conftest import QUERY
from tests.e2e.test_sidecar import metric_value, search
from tests.faults import FaultProxy

INDEX = "e2e-docs"
BROAD = {"match": {"text": "a the of to and"}}   # matches most of the corpus: more hits than the window of 10


def direct_and_proxied(backend, sidecar, body, params=None, index=INDEX):
    return search(backend.url, body, params=params, index=index), search(sidecar.url, body, params=params, index=index)


@pytest.mark.parametrize("retrieval", ["client", "server"])
def test_total_is_the_clusters_own_whatever_the_page(backend, sidecar, retrieval):
    rerank = {"ext": {"rerank": {"retrieval": retrieval}}}
    for query in ({"match": {"text": QUERY}}, BROAD):
        expected = search(backend.url, {"query": query}).json()["hits"]["total"]
        assert expected["value"] > 0
        for page in ({"size": 3}, {"size": 10}, {"size": 15}, {"size": 20}, {"from": 12, "size": 5}):
            response = search(sidecar.url, {"query": query, **page, **rerank})
            assert response.headers["X-Rerank-Status"] == "reranked", response.text
            assert response.json()["hits"]["total"] == expected, (query, page)


@pytest.mark.parametrize("retrieval", ["client", "server"])
@pytest.mark.parametrize("options, params", [
    ({"track_total_hits": False}, None),
    ({"track_total_hits": 4}, None),
    ({"track_total_hits": True}, {"rest_total_hits_as_int": "true"}),
    ({"post_filter": {"term": {"category.keyword": "data"}}}, None),
    ({"aggs": {"by_category": {"terms": {"field": "category.keyword"}}},
      "post_filter": {"range": {"year": {"gte": 2010}}}}, None),
], ids=["untracked", "tracked-to-4", "as-int", "post-filter", "aggs-and-post-filter"])
def test_total_and_aggregations_follow_the_clients_options(backend, sidecar, retrieval, options, params):
    body = {"query": BROAD, "size": 5, **options}
    direct = search(backend.url, body, params=params).json()
    proxied = search(sidecar.url, {**body, "ext": {"rerank": {"retrieval": retrieval}}}, params=params)
    assert proxied.headers["X-Rerank-Status"] == "reranked"
    answer = proxied.json()
    assert ("total" in answer["hits"]) == ("total" in direct["hits"])
    assert answer["hits"].get("total") == direct["hits"].get("total")
    assert answer.get("aggregations") == direct.get("aggregations")
    if "post_filter" in options:   # every hit passes the post_filter (k-NN neighbours included), as on the cluster
        passing = ids_of(backend, {"query": {"bool": {"filter": [options["post_filter"]]}}, "size": 100})
        assert {h["_id"] for h in answer["hits"]["hits"]} <= set(passing)


def ids_of(backend, body) -> list[str]:
    return [h["_id"] for h in search(backend.url, body).json()["hits"]["hits"]]


@pytest.mark.parametrize("page", [{"size": 100000}, {"from": 9995, "size": 10}, {"from": 10000, "size": 1}])
def test_a_page_past_the_result_window_is_the_clusters_answer(backend, sidecar, page):
    body = {"query": {"match": {"text": QUERY}}, **page}
    direct, proxied = direct_and_proxied(backend, sidecar, body)
    assert direct.status_code == 400
    assert proxied.status_code == 400
    assert proxied.json()["error"]["type"] == direct.json()["error"]["type"]
    assert proxied.json()["error"]["root_cause"][0]["reason"] == direct.json()["error"]["root_cause"][0]["reason"]
    assert proxied.headers["X-Rerank-Status"] == "passthrough"


def test_a_query_on_a_field_the_index_lacks_finds_what_the_cluster_finds(backend, sidecar):
    body = {"query": {"match": {"no_such_field": QUERY}}, "size": 10}
    direct, proxied = direct_and_proxied(backend, sidecar, body)
    assert direct.json()["hits"]["hits"] == []
    assert proxied.status_code == 200
    assert proxied.json()["hits"]["hits"] == []
    assert proxied.json()["hits"]["total"] == direct.json()["hits"]["total"]
    assert proxied.headers["X-Rerank-Status"] == "passthrough"


def test_only_the_text_of_clauses_on_mapped_fields_steers_the_rerank(backend, sidecar):
    """A lost clause (a misspelt field) beside a real one: reranked by the real one's words alone."""
    real_clause = {"match": {"text": "random element"}}
    mixed = {"bool": {"should": [{"match": {"txet": "time zones and dates"}}, real_clause]}}
    explicit = {"query": mixed, "size": 10, "ext": {"rerank": {"query_text": "random element", "explain": True}}}
    via_fields = search(sidecar.url, {"query": mixed, "size": 10, "ext": {"rerank": {"explain": True}}})
    assert via_fields.headers["X-Rerank-Status"] == "reranked"
    expected = search(sidecar.url, explicit).json()["hits"]["hits"]
    got = via_fields.json()["hits"]["hits"]
    assert [(h["_id"], h["_rerank"]["logit"]) for h in got] == [(h["_id"], h["_rerank"]["logit"]) for h in expected]
    assert via_fields.json()["hits"]["total"] == search(backend.url, {"query": mixed}).json()["hits"]["total"]


def test_pages_across_the_window_edge_are_one_ranking(sidecar):
    body = {"query": BROAD, "ext": {"rerank": {"explain": True, "query_text": "pages across the edge"}}}
    first = search(sidecar.url, {**body, "size": 10}).json()["hits"]["hits"]
    second = search(sidecar.url, {**body, "from": 10, "size": 5}).json()["hits"]["hits"]   # deepens the window
    third = search(sidecar.url, {**body, "from": 15, "size": 5}).json()["hits"]["hits"]
    whole = search(sidecar.url, {**body, "size": 20}).json()["hits"]["hits"]
    pages = first + second + third
    assert len({h["_id"] for h in pages}) == len(pages) > 10
    assert [(h["_id"], h["_score"]) for h in pages] == [(h["_id"], h["_score"]) for h in whole[:len(pages)]]
    scores = [h["_score"] for h in pages]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False))


def test_a_pipeline_deleted_on_the_cluster_is_created_again(backend, sidecar):
    body = {"query": {"match": {"text": "hashing bytes"}}, "size": 5, "ext": {"rerank": {"retrieval": "server"}}}
    assert search(sidecar.url, body).headers["X-Rerank-Status"] == "reranked"
    client = backend.client()
    names = [name for name in client.search_pipeline.get() if name.startswith("rerank-sidecar-")]
    assert names
    for name in names:
        client.search_pipeline.delete(id=name)
    again = search(sidecar.url, {**body, "query": {"match": {"text": "hashing digests"}}})
    assert again.status_code == 200, again.text
    assert again.headers["X-Rerank-Status"] == "reranked"
    assert set(names) & set(client.search_pipeline.get())


def test_a_profile_on_an_index_without_vectors_serves_its_searches(backend, corpus_index, tiny_cross_encoder,
                                                                  start_sidecar):
    server = start_sidecar(backend.url, reranker=str(tiny_cross_encoder), config={
        "defaults": {"window": 10, "budget_ms": 60000},
        "profiles": [{"index": "e2e-plain", "bi_encoder": "all-MiniLM-L6-v2", "text_fields": ["title", "text"]}]})
    body = {"query": {"match": {"text": "read a file"}}, "size": 10}
    direct, proxied = direct_and_proxied(backend, server, body, index="e2e-plain")
    assert proxied.status_code == 200, proxied.text
    assert proxied.headers["X-Rerank-Status"] == "reranked"
    assert {h["_id"] for h in proxied.json()["hits"]["hits"]} == {h["_id"] for h in direct.json()["hits"]["hits"]}
    assert proxied.json()["hits"]["total"] == direct.json()["hits"]["total"]
    ready = requests.get(f"{server.url}/-/ready", timeout=30)
    assert ready.status_code == 200
    assert "no knn_vector field [embedding]" in ready.json()["index_problems"]["e2e-plain"]
    # the vectorized index beside it is served with both legs, and is no problem
    assert search(server.url, {"query": {"match": {"text": QUERY}}}).headers["X-Rerank-Status"] == "reranked"
    assert INDEX not in requests.get(f"{server.url}/-/ready", timeout=30).json()["index_problems"]


# ---- fail-open pages ----------------------------------------------------------------------------------------
class SlowWhenAsked:
    """The real model, slower than any budget while `slow` is set."""

    def __init__(self, real) -> None:
        self.real = real
        self.slow = threading.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def score_batch(self, pairs):
        if self.slow.is_set():
            time.sleep(1.0)
        return np.asarray(self.real.score_batch(pairs), dtype=np.float32)


def test_pages_after_a_fail_open_keep_the_first_pages_ranking(backend, corpus_index, tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.rerank import BatchingScorer, load_scorer
    from sidecar.settings import Profile, Settings

    model = SlowWhenAsked(load_scorer(str(tiny_cross_encoder), backend="torch"))
    settings = Settings(opensearch_url=backend.url, score_cache_entries=0,
                        defaults=Profile(reranker="slow", window=10, budget_ms=200))
    # the batcher is what holds a request to its budget while the model is still busy
    client = create_app(settings, scorer_loader=lambda name: BatchingScorer(model, workers=1, gather_s=0.002),
                        warm_up=False).test_client()
    body = {"query": BROAD, "ext": {"rerank": {"explain": True}}}

    model.slow.set()
    first = client.post(f"/{INDEX}/_search", json={**body, "size": 4})
    assert first.headers["X-Rerank-Status"] == "skipped-timeout"
    model.slow.clear()   # the model is fast again: the later pages still come from the first page's ranking
    second = client.post(f"/{INDEX}/_search", json={**body, "from": 4, "size": 4})
    assert second.headers["X-Rerank-Status"] == "skipped-timeout"
    pages = first.get_json()["hits"]["hits"] + second.get_json()["hits"]["hits"]
    assert [h["_rerank"]["first_stage_rank"] for h in pages] == list(range(1, 9))
    scores = [h["_score"] for h in pages]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False))
    # a new first page tries the model again, and its own later pages follow it
    again = client.post(f"/{INDEX}/_search", json={**body, "size": 4})
    assert again.headers["X-Rerank-Status"] == "reranked"
    after = client.post(f"/{INDEX}/_search", json={**body, "from": 4, "size": 4})
    assert after.headers["X-Rerank-Status"] == "reranked"
    reranked = again.get_json()["hits"]["hits"] + after.get_json()["hits"]["hits"]
    assert len({h["_id"] for h in reranked}) == 8


# ---- a mapping the sidecar cannot read ------------------------------------------------------------------------
@pytest.fixture
def mapping_faults(backend, corpus_index, tiny_cross_encoder, tmp_path):
    proxy = FaultProxy(backend.url)
    server = SidecarServer(proxy.url, tmp_path / "sidecar", reranker=str(tiny_cross_encoder), config={
        "upstream_timeout_s": 2.0, "defaults": {"window": 10, "budget_ms": 60000}})
    yield proxy, server
    server.stop()
    proxy.close()


def test_a_mapping_the_cluster_will_not_give_is_flagged_not_hidden(backend, mapping_faults):
    proxy, server = mapping_faults
    body = {"query": {"match": {"text": QUERY}}, "size": 5}
    direct = search(backend.url, body).json()
    for mode in ("json-401", "json-403", "json-503", "stall"):
        proxy.set(mode, applies_to=lambda path: path.split("?")[0].endswith("/_mapping"))
        before = metric_value(server.url, "rerank_sidecar_fail_open_total", reason="mapping-unavailable")
        response = search(server.url, body)
        assert response.status_code == 200, (mode, response.text)
        assert response.headers["X-Rerank-Status"] == "skipped-mapping-unavailable", mode
        assert [h["_id"] for h in response.json()["hits"]["hits"]] == [h["_id"] for h in direct["hits"]["hits"]]
        after = metric_value(server.url, "rerank_sidecar_fail_open_total", reason="mapping-unavailable")
        assert after - before == 1, mode
        problems = requests.get(f"{server.url}/-/ready", timeout=30).json()["index_problems"]
        assert "could not be read" in problems[INDEX], mode
    assert "WARNING" in server.log() and "could not be read" in server.log()
    proxy.set("pass")
    recovered = search(server.url, body)
    assert recovered.headers["X-Rerank-Status"] == "reranked"
    assert INDEX not in requests.get(f"{server.url}/-/ready", timeout=30).json()["index_problems"]


# ---- client-side fusion equals the cluster's own -------------------------------------------------------------
@pytest.mark.parametrize("normalization", ["min_max", "l2", "z_score", "rrf"])
def test_client_fusion_equals_the_clusters_for_every_technique(backend, corpus_index, tiny_cross_encoder,
                                                               normalization):
    """Both legs fused here (`client`) and by the cluster's own hybrid query and the sidecar's pipeline (`server`):
    the same first-stage scores, to float tolerance, for every combination searchcore.fusion lists with the
    normalization, with weights (the profile's, or the request's with a rank constant of its own for rrf)."""
    from searchcore.fusion import TECHNIQUES, pipeline_name
    from sidecar.app import create_app
    from sidecar.settings import Settings

    settings = Settings.from_dict({"opensearch_url": backend.url, "reranker": str(tiny_cross_encoder),
                                   "defaults": {"window": 10, "budget_ms": 60000, "fusion_weights": [0.3, 0.7],
                                                "fusion_rank_constant": 20}})
    app = create_app(settings, warm_up=False)
    client, cluster = app.test_client(), backend.client()
    before, used = set(cluster.search_pipeline.get()), set()
    try:
        for combination in [c for n, c in TECHNIQUES if n == normalization]:
            overrides = {"fusion": normalization, "fusion_combination": combination}
            if normalization == "rrf" and combination != "rrf":
                overrides.update(fusion_weights=[0.6, 0.4], fusion_rank_constant=5)
            profile = settings.defaults
            fusion = profile.fusion_config(normalization, combination, overrides.get("fusion_weights"),
                                           overrides.get("fusion_rank_constant"))
            assert (fusion.normalization, fusion.combination) == (normalization, combination)
            used.add(pipeline_name(fusion))
            first_stage = {}
            for retrieval in ("client", "server"):
                response = client.post(f"/{INDEX}/_search", json={"query": BROAD, "size": 10, "ext": {"rerank": {
                    **overrides, "retrieval": retrieval, "explain": True}}})
                assert response.status_code == 200, response.get_data(as_text=True)
                hits = response.get_json()["hits"]["hits"]
                first_stage[retrieval] = {h["_id"]: h["_rerank"]["first_stage_score"] for h in hits}
            assert pipeline_name(fusion) in cluster.search_pipeline.get(), "server mode ran on its own pipeline"
            mine, theirs = first_stage["client"], first_stage["server"]
            assert len(mine) == len(theirs) == 10
            for doc in mine.keys() & theirs.keys():
                assert mine[doc] == pytest.approx(theirs[doc], rel=1e-5), (combination, doc)
            # documents tied at the window's edge may differ: each engine breaks ties its own way
            for one, other in ((mine, theirs), (theirs, mine)):
                for doc in one.keys() - other.keys():
                    assert one[doc] == pytest.approx(min(other.values()), rel=1e-5), (combination, doc)
    finally:
        for name in used - before:   # the node is shared: only what this test made
            cluster.search_pipeline.delete(id=name, ignore=[404])


# ---- OpenSearch Dashboards' Discover, on each engine ------------------------------------------------------------
def without_took(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "took"}


def test_discover_time_sorted_search_is_the_clusters_answer(backend, sidecar):
    from tests.e2e.test_dashboards import PARAMS, discover_body
    body = discover_body([{"published": {"order": "desc", "unmapped_type": "boolean"}}], "file")
    direct, proxied = direct_and_proxied(backend, sidecar, body, params=PARAMS)
    assert proxied.headers["X-Rerank-Status"] == "passthrough"
    assert without_took(proxied.json()) == without_took(direct.json())


def test_discover_free_text_is_reranked_with_everything_intact(backend, sidecar):
    from tests.e2e.test_dashboards import PARAMS, discover_body
    body = discover_body([{"_score": {"order": "desc"}}], "file text")
    direct, proxied = direct_and_proxied(backend, sidecar, body, params=PARAMS)
    assert proxied.status_code == 200, proxied.text
    assert proxied.headers["X-Rerank-Status"] == "reranked"
    answer, expected = proxied.json(), direct.json()
    assert answer["hits"]["total"] == expected["hits"]["total"] and isinstance(answer["hits"]["total"], int)
    assert {h["_id"] for h in answer["hits"]["hits"]} == {h["_id"] for h in expected["hits"]["hits"]}  # same set
    assert answer["aggregations"] == expected["aggregations"]
    by_id = {h["_id"]: h for h in expected["hits"]["hits"]}
    for hit in answer["hits"]["hits"]:
        assert hit.get("highlight") == by_id[hit["_id"]].get("highlight")
        assert hit.get("fields") == by_id[hit["_id"]].get("fields")
        assert hit["_version"] == by_id[hit["_id"]]["_version"]
    assert any("@opensearch-dashboards-highlighted-field@" in str(h.get("highlight")) for h in answer["hits"]["hits"])


def test_discover_msearch_form(backend, sidecar):
    import json

    from tests.e2e.test_dashboards import discover_body
    lines = [{"index": INDEX, "ignore_unavailable": True, "preference": 1700000000000},
             discover_body([{"_score": {"order": "desc"}}], "compress bytes"),
             {"index": INDEX, "ignore_unavailable": True},
             discover_body([{"published": {"order": "desc", "unmapped_type": "boolean"}}], "compress bytes")]
    payload = "".join(json.dumps(line) + "\n" for line in lines)
    answers = [requests.post(f"{url}/_msearch", params={"rest_total_hits_as_int": "true"}, data=payload,
                             headers={"Content-Type": "application/x-ndjson"}, timeout=60) for url in
               (backend.url, sidecar.url)]
    direct, proxied = (a.json()["responses"] for a in answers)
    assert answers[1].headers["X-Rerank-Status"] == "reranked,passthrough"
    assert [r["status"] for r in proxied] == [r["status"] for r in direct] == [200, 200]
    assert proxied[0]["hits"]["total"] == direct[0]["hits"]["total"]
    assert {h["_id"] for h in proxied[0]["hits"]["hits"]} == {h["_id"] for h in direct[0]["hits"]["hits"]}
    assert proxied[0]["aggregations"] == direct[0]["aggregations"]
    assert without_took(proxied[1]) == without_took(direct[1])


@pytest.mark.parametrize("body, status", [
    ({"query": {"match": {"text": {"query": QUERY, "operator": "sometimes"}}}}, 400),
    ({"query": {"range": {"published": {"gte": "not a date"}}}, "size": 3}, 400),
    ({"query": {"match": {"text": QUERY}}, "sort": [{"no_such_field": "asc"}]}, 400),
    ({"query": {"bogus_query": {}}}, 400),
    ({"query": {"match": {"text": QUERY}}, "aggs": {"a": {"terms": {"field": "text"}}}}, 400),
])
def test_errors_are_the_clusters_own(backend, sidecar, body, status):
    direct, proxied = direct_and_proxied(backend, sidecar, body)
    assert direct.status_code == status
    assert proxied.status_code == direct.status_code
    assert proxied.json()["error"]["type"] == direct.json()["error"]["type"]
    assert proxied.json()["error"]["root_cause"][0]["type"] == direct.json()["error"]["root_cause"][0]["type"]
    assert proxied.json()["status"] == status


def test_a_missing_index_is_the_clusters_404(backend, sidecar):
    body = {"query": {"match": {"text": QUERY}}}
    direct, proxied = direct_and_proxied(backend, sidecar, body, index="no-such-index-here")
    assert direct.status_code == proxied.status_code == 404
    assert without_took(proxied.json()) == without_took(direct.json())


@pytest.mark.parametrize("method, path, body", [
    ("GET", f"/{INDEX}/_mapping", None),
    ("GET", f"/{INDEX}/_settings?flat_settings=true", None),
    ("GET", f"/{INDEX}/_doc/d3", None),
    ("GET", "/no-such-index/_doc/1", None),
    ("POST", f"/{INDEX}/_count", b'{"query": {"match": {"text": "file"}}}'),
    ("GET", f"/{INDEX}/_search?q=text:file&sort=year:asc", None),
])
def test_other_requests_pass_through_byte_for_byte(backend, sidecar, method, path, body):
    headers = {"Content-Type": "application/json"}
    direct = requests.request(method, backend.url + path, data=body, headers=headers, timeout=60)
    proxied = requests.request(method, sidecar.url + path, data=body, headers=headers, timeout=60)
    assert proxied.status_code == direct.status_code
    assert proxied.headers["Content-Type"] == direct.headers["Content-Type"]
    if "_search" in path:   # `took` is the one part that differs between two runs of a search
        assert without_took(proxied.json()) == without_took(direct.json())
    else:
        assert proxied.content == direct.content

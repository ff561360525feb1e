"""The async-search route's own parts: parameters, ids, the kept-result store, and what goes to the cluster as sent
(a recording stand-in cluster behind an in-process sidecar)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from werkzeug.wrappers import Request, Response

from sidecar.async_results import AsyncResultStore, KeptResult, now_ms
from sidecar.async_search import (
    envelope,
    is_sidecar_id,
    new_id,
    parse_time_ms,
    status_body,
    submit_options,
)
from tests.e2e.kibana_requests import ASYNC_SUBMIT_PARAMS, SCORE_SORT, discover_body, time_sort
from tests.standins import StandIn, empty_cluster, stand_in


@pytest.mark.parametrize("text,expected", [("100ms", 100), ("1m", 60_000), ("60000ms", 60_000), ("5d", 432_000_000),
                                           ("2h", 7_200_000), ("1s", 1000), ("1000000nanos", 1)])
def test_time_values_read_as_elasticsearch_reads_them(text, expected):
    assert parse_time_ms(text) == expected


@pytest.mark.parametrize("text", ["", "1", "1 minute", "-1m", "1.5s", "m"])
def test_what_is_no_time_value_is_refused(text):
    assert parse_time_ms(text) is None


def test_kibanas_submit_parameters_are_read():
    assert submit_options(ASYNC_SUBMIT_PARAMS) == (False, 60_000)
    assert submit_options({"keep_on_completion": "true"}) == (True, 5 * 24 * 3600 * 1000)   # the cluster's 5d


@pytest.mark.parametrize("params", [{"keep_on_completion": "yes"}, {"keep_alive": "soon"}, {"keep_alive": "10ms"},
                                    {"wait_for_completion_timeout": "x"}, {"batched_reduce_size": "many"}])
def test_parameters_the_sidecar_cannot_read_leave_the_request_to_the_cluster(params):
    assert submit_options(params) is None


def test_ids_are_the_sidecars_own_and_no_cluster_id_is_taken_for_one():
    ids = {new_id() for _ in range(50)}
    assert len(ids) == 50 and all(is_sidecar_id(i) for i in ids)
    assert all("=" not in i and "/" not in i and "+" not in i for i in ids)   # url-safe, no padding
    for foreign in ("FmRldmVsb3BlcnMtYXJlLXRlc3RpbmcAAAAAAAAAAA==", "not base64 at all!", ""):
        assert not is_sidecar_id(foreign)


def _kept(expiration_offset_ms: int = 60_000, caller: str = "me") -> KeptResult:
    start = now_ms()
    return KeptResult(caller, start, start + 5, start + expiration_offset_ms, 200,
                      {"took": 5, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                       "hits": {"hits": []}})


def test_the_envelope_and_status_have_elasticsearchs_fields_in_its_order():
    kept = _kept()
    assert list(envelope(kept, None)) == ["is_partial", "is_running", "start_time_in_millis",
                                          "expiration_time_in_millis", "completion_time_in_millis", "response"]
    assert list(envelope(kept, "abc"))[0] == "id"
    status = status_body(kept, "abc")
    assert status["completion_status"] == 200 and status["_shards"]["total"] == 1 and not status["is_running"]


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "folder"])
def test_kept_results_live_until_they_expire(tmp_path, shared):
    store = AsyncResultStore(tmp_path if shared else None)
    store.put("live", _kept())
    store.put("expired", _kept(expiration_offset_ms=-1))
    assert store.get("live").response["took"] == 5
    assert store.get("expired") is None and not store.delete("expired")   # an expired one is gone
    assert store.delete("live") and store.get("live") is None


def test_a_result_one_worker_kept_is_read_by_another(tmp_path):
    one, other = AsyncResultStore(tmp_path), AsyncResultStore(tmp_path)   # two processes share the folder
    one.put("x", _kept())
    assert other.get("x") == one.get("x")
    assert other.delete("x") and one.get("x") is None


def test_the_store_sweeps_expired_and_keeps_at_most_max_entries(tmp_path):
    store = AsyncResultStore(tmp_path, max_entries=3)
    for i in range(5):
        store.put(f"old{i}", _kept(expiration_offset_ms=-1))
    store._swept = 0.0   # the next put sweeps
    for i in range(5):
        store.put(f"new{i}", _kept())
        store._swept = 0.0
    assert len(list(tmp_path.glob("*.json"))) <= 4   # 3 kept, plus the one written after the last sweep


# ---- through an in-process sidecar: what is not reranked reaches the cluster as sent --------------------------

def _recording_cluster(request: Request) -> Response:
    if "_async_search" in request.path:
        return Response(json.dumps({"is_running": True, "id": "FmNsdXN0ZXI="}), content_type="application/json")
    return empty_cluster(request)


@pytest.fixture
def cluster() -> Iterator[StandIn]:
    with stand_in(_recording_cluster) as upstream:
        yield upstream


@pytest.fixture
def client(cluster, tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.settings import Profile, Settings
    settings = Settings(opensearch_url=cluster.url, defaults=Profile(reranker=str(tiny_cross_encoder), window=5))
    return create_app(settings, warm_up=False).test_client()


def _last_async_call(cluster: StandIn) -> dict:
    return [seen for seen in cluster.seen if "_async_search" in seen["path"]][-1]


@pytest.mark.parametrize("body", [discover_body("read a file", sort=time_sort()), discover_body(None, sort=SCORE_SORT),
                                  discover_body("read a file", sort=SCORE_SORT)],
                         ids=["time-sorted", "no-text", "score-sorted-text"])
def test_a_submission_not_reranked_goes_to_the_cluster_unchanged(client, cluster, body):
    """No index here has a profile, so each passes through; which ones the planner reranks is checked against the
    Elasticsearch node (tests/elasticsearch/test_kibana.py)."""
    raw = json.dumps(body).encode()
    query = "&".join(f"{k}={v}" for k, v in ASYNC_SUBMIT_PARAMS.items())
    answer = client.post(f"/logs/_async_search?{query}", data=raw, content_type="application/json")
    assert answer.status_code == 200 and answer.json == {"is_running": True, "id": "FmNsdXN0ZXI="}
    assert answer.headers["X-Rerank-Status"] == "passthrough"
    sent = _last_async_call(cluster)
    assert (sent["method"], sent["path"], sent["query"], sent["body"]) == ("POST", "/logs/_async_search", query, raw)


@pytest.mark.parametrize("method,path", [("GET", "/_async_search/FmNsdXN0ZXI="),
                                         ("GET", "/_async_search/status/FmNsdXN0ZXI="),
                                         ("DELETE", "/_async_search/FmNsdXN0ZXI="),
                                         ("POST", "/_async_search")])
def test_cluster_ids_and_index_less_submissions_go_to_the_cluster(client, cluster, method, path):
    answer = client.open(path + "?keep_alive=1m", method=method)
    assert answer.status_code == 200
    sent = _last_async_call(cluster)
    assert (sent["method"], sent["path"], sent["query"]) == (method, path, "keep_alive=1m")


def test_a_sidecar_id_it_does_not_hold_is_the_clusters_404(client, cluster):
    before = len(cluster.seen)
    for method, path in (("GET", "/_async_search/{}"), ("GET", "/_async_search/status/{}"),
                         ("DELETE", "/_async_search/{}")):
        async_id = new_id()
        answer = client.open(path.format(async_id), method=method)
        assert answer.status_code == 404
        assert answer.json["error"] == {"root_cause": [{"type": "resource_not_found_exception", "reason": async_id}],
                                        "type": "resource_not_found_exception", "reason": async_id}
    assert len(cluster.seen) == before   # never asked: only the sidecar knows its ids


# ---- runtime_mappings: read on async search (Elasticsearch's API), the cluster's to judge on _search ------------

def test_runtime_mappings_are_planned_only_where_the_caller_knows_the_cluster_reads_them():
    from sidecar.plan import CLUSTER_JUDGES, PassThrough, SearchPlan, plan_search
    body = {"query": {"match": {"text": "read a file"}}, "runtime_mappings": {"hour": {"type": "long"}}}
    assert plan_search(body, {}, {}, profile_window=10, max_window=100).reason == CLUSTER_JUDGES
    planned = plan_search(body, {}, {}, profile_window=10, max_window=100,
                          extra_body_keys=frozenset({"runtime_mappings"}))
    assert isinstance(planned, SearchPlan) and not isinstance(planned, PassThrough)
    assert planned.upstream_body["runtime_mappings"] == {"hour": {"type": "long"}}


def test_runtime_mappings_reach_every_stage_one_leg():
    from searchcore.fusion import FusionConfig
    from sidecar.retrieve import FirstStageRequest
    runtime = {"hour": {"type": "long"}}
    request = FirstStageRequest(index="logs", lexical_query={"match_all": {}}, filters=[], vector=[0.1, 0.2],
                                vector_field="embedding", depth=10, fusion=FusionConfig(), source=True,
                                hit_options={"runtime_mappings": runtime, "highlight": {"fields": {"*": {}}}},
                                summary_body={"size": 0, "runtime_mappings": runtime}, params={})
    assert request.leg_body(request.knn_query(), False) == {"runtime_mappings": runtime, "from": 0, "size": 10,
                                                            "query": request.knn_query(), "_source": True}
    assert request.leg_body({"match_all": {}}, True)["runtime_mappings"] == runtime

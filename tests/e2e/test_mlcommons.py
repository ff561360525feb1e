"""The sidecar as the model behind OpenSearch's own `rerank` search processor (ml-commons remote model).

Against the real reference node (ml-commons, job-scheduler, neural-search): `rerank-sidecar connect` run as a
user runs it, searches through the cluster's pipeline, and the sidecar stopped under it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import requests
from opensearchpy import OpenSearch

from tests.conftest import REPO, opensearch_url
from tests.e2e.conftest import TOPICS
from tests.e2e.test_sidecar import metric_value

pytestmark = [pytest.mark.mlcommons, pytest.mark.opensearch]

QUERY = "read a text file one line at a time"
ML = "/_plugins/_ml"


@pytest.fixture(scope="module")
def node() -> str:
    """The reference node, which must have what the rerank processor needs (a skip otherwise, a failure in CI)."""
    url = opensearch_url()
    plugins = {row["component"] for row in requests.get(f"{url}/_cat/plugins?format=json", timeout=30).json()}
    missing = {"opensearch-ml", "opensearch-job-scheduler", "opensearch-neural-search"} - plugins
    if missing:
        pytest.skip(f"the node at {url} lacks {sorted(missing)} (deploy/nodes/opensearch.py installs them)")
    return url


@pytest.fixture(scope="module")
def docs_index(node: str) -> str:
    """Twenty short documents, text only: the processor reranks whatever the query returns."""
    client = OpenSearch(node, timeout=60)
    index = f"mlc-{uuid.uuid4().hex[:10]}"
    client.indices.create(index=index, body={"mappings": {"properties": {"title": {"type": "text"},
                                                                         "text": {"type": "text"}}}})
    for i, (title, text, _, _) in enumerate(TOPICS):
        client.index(index=index, id=f"d{i}", body={"title": title, "text": text})
    client.indices.refresh(index=index)
    yield index
    client.indices.delete(index=index, ignore=[404])


@pytest.fixture
def model_server(node, tiny_cross_encoder, start_sidecar):
    """A sidecar of this test's own: the model the cluster calls (stopped by some tests)."""
    return start_sidecar(node, reranker=str(tiny_cross_encoder), config={"defaults": {"budget_ms": 60000}})


@pytest.fixture
def name(node: str):
    """This test's connector, model and pipeline name; whatever the test left is removed after it."""
    value = f"mlc-{uuid.uuid4().hex[:10]}"
    yield value
    connect_cli(node, "--remove", "--name", value)


def connect_cli(node: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "connect",
                           "--opensearch", node, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


def connect(node: str, sidecar_url: str, name: str, *args: str) -> list[str]:
    result = connect_cli(node, "--sidecar", sidecar_url, "--name", name, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def search(node: str, index: str, body: dict, **params: str) -> requests.Response:
    return requests.post(f"{node}/{index}/_search", json=body, params=params, timeout=60)


def page_body(size: int = 10) -> dict:
    # common words too, so that more documents match than a page holds
    return {"query": {"match": {"text": "file text read line a the of to"}}, "size": size,
            "ext": {"rerank": {"query_context": {"query_text": QUERY}}}}


def plain_page(node: str, index: str, size: int = 10) -> list[dict]:
    """The page the cluster returns without any pipeline: what the processor gets to rerank."""
    body = {"query": page_body()["query"], "size": size}
    response = search(node, index, body, search_pipeline="_none")
    assert response.status_code == 200, response.text
    return response.json()["hits"]["hits"]


def sidecar_ranking(sidecar_url: str, texts: list[str], headers: dict | None = None) -> list[tuple[int, float]]:
    """The sidecar's own /rerank (TEI) over the same texts: (index into texts, probability), best first."""
    answer = requests.post(f"{sidecar_url}/rerank", json={"query": QUERY, "texts": texts, "truncate": True},
                           headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return [(rank["index"], rank["score"]) for rank in answer.json()]


def parts(node: str, name: str) -> dict[str, list[dict]]:
    """The connectors and models named `name` (as stored), and the pipeline of that name."""
    found: dict[str, list[dict]] = {}
    for kind in ("connectors", "models"):
        answer = requests.post(f"{node}{ML}/{kind}/_search", json={"query": {"term": {"name.keyword": name}}},
                               timeout=30)
        found[kind] = [h for h in answer.json().get("hits", {}).get("hits", [])] if answer.ok else []
    pipeline = requests.get(f"{node}/_search/pipeline/{name}", timeout=30)
    found["pipelines"] = [pipeline.json()[name]] if pipeline.ok else []
    return found


def test_the_clusters_pipeline_reranks_the_page_as_the_sidecar_does(node, docs_index, model_server, name):
    lines = connect(node, model_server.url, name, "--index", docs_index)
    assert any(line.startswith("created connector") for line in lines), lines
    assert any(line.startswith("created model") and "deployed" in line for line in lines), lines
    assert f"index {docs_index}: default search pipeline set to {name}" in lines

    page = plain_page(node, docs_index)
    assert len(page) == 10
    expected = sidecar_ranking(model_server.url, [hit["_source"]["text"] for hit in page])
    calls = metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank", status="200")

    # the client's request is unchanged: the index's default pipeline reranks it
    response = search(node, docs_index, page_body())
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == [page[i]["_id"] for i, _ in expected]
    for hit, (_, score) in zip(hits, expected, strict=True):   # its scores are our endpoint's (as float32)
        assert hit["_score"] == pytest.approx(score, rel=1e-6)
    assert response.json()["hits"]["max_score"] == pytest.approx(expected[0][1], rel=1e-6)

    # one model call per search, counted by the sidecar under its own route
    search(node, docs_index, page_body(), search_pipeline=name)
    after = metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank", status="200")
    assert after - calls == 2


def test_the_processor_reranks_only_the_returned_page(node, docs_index, model_server, name):
    """size 3 reranks the top 3 of the cluster's own order; the proxy's window would look further."""
    connect(node, model_server.url, name)
    page = plain_page(node, docs_index, size=3)
    expected = sidecar_ranking(model_server.url, [hit["_source"]["text"] for hit in page])
    hits = search(node, docs_index, page_body(size=3), search_pipeline=name).json()["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == [page[i]["_id"] for i, _ in expected]
    assert {hit["_id"] for hit in hits} == {hit["_id"] for hit in page}


def test_a_hybrid_query_is_normalized_then_reranked(node, docs_index, model_server, name):
    lines = connect(node, model_server.url, name, "--hybrid")
    assert any("after hybrid normalization" in line for line in lines), lines
    body = {"query": {"hybrid": {"queries": [{"match": {"text": "file"}}, {"match": {"title": "files"}}]}},
            "size": 5, "ext": {"rerank": {"query_context": {"query_text": QUERY}}}}
    pipeline = requests.get(f"{node}/_search/pipeline/{name}", timeout=30).json()[name]
    assert list(pipeline["phase_results_processors"][0]) == ["normalization-processor"]
    response = search(node, docs_index, body, search_pipeline=name)
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    expected = sidecar_ranking(model_server.url, [hit["_source"]["text"] for hit in hits])
    assert [score for _, score in expected] == pytest.approx([hit["_score"] for hit in hits], rel=1e-6)


def test_when_the_sidecar_is_down_the_cluster_answers_unreranked_or_fails_closed(node, docs_index,
                                                                                 model_server, name):
    connect(node, model_server.url, name)
    page = plain_page(node, docs_index)
    model_server.stop()

    # the default (ignore_failure): the cluster's own page, in its own order with its own scores
    response = search(node, docs_index, page_body(), search_pipeline=name)
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    assert [(h["_id"], h["_score"]) for h in hits] == [(h["_id"], h["_score"]) for h in page]

    # connect checks the path through the cluster before it writes the pipeline: a stopped sidecar is an error
    checked = connect_cli(node, "--sidecar", model_server.url, "--name", name, "--fail-closed")
    assert checked.returncode == 2
    assert "cannot rerank with the sidecar" in checked.stderr and "Connection refused" in checked.stderr
    assert parts(node, name)["pipelines"][0]["response_processors"][0]["rerank"]["ignore_failure"] is True

    # --fail-closed: the search fails with the connector's error, as docs/plugin-style.md says
    lines = connect(node, model_server.url, name, "--fail-closed", "--no-check")
    assert f"search pipeline {name}: written (rerank on text)" in lines
    failed = search(node, docs_index, page_body(), search_pipeline=name)
    assert failed.status_code == 500, failed.text
    error = failed.json()["error"]
    assert error["type"] == "status_exception"
    # usually "Connection refused"; once, under load, the HTTP client's "Acquire operation took longer than the
    # configured maximum time" (its pool still held the stopped sidecar's connection)
    assert error["reason"].startswith("Error communicating with remote model: "), error


def test_a_search_without_the_query_text_is_not_reranked(node, docs_index, model_server, name):
    """The processor takes the query text only from ext.rerank.query_context: a client that sends none gets the
    cluster's page (ignore_failure) or an error (--fail-closed), never a reranked one."""
    connect(node, model_server.url, name, "--index", docs_index)
    body = {"query": page_body()["query"], "size": 10}
    calls = metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank")
    response = search(node, docs_index, body)
    assert response.status_code == 200, response.text
    assert [(h["_id"], h["_score"]) for h in response.json()["hits"]["hits"]] == \
        [(h["_id"], h["_score"]) for h in plain_page(node, docs_index)]
    assert metric_value(model_server.url, "rerank_sidecar_requests_total", route="v1_rerank") == calls

    connect(node, model_server.url, name, "--index", docs_index, "--fail-closed")
    failed = search(node, docs_index, body)
    # neural-search 3.6.0 does not check for a missing ext.rerank: a NullPointerException, as docs/plugin-style.md says
    assert failed.status_code == 500, failed.text
    assert failed.json()["error"]["type"] == "null_pointer_exception"
    assert "RerankSearchExtBuilder" in failed.json()["error"]["reason"]


def test_connect_twice_changes_nothing_and_remove_takes_everything_down(node, docs_index, model_server, name):
    first = connect(node, model_server.url, name, "--index", docs_index)
    before = parts(node, name)
    assert [len(before[k]) for k in ("connectors", "models", "pipelines")] == [1, 1, 1]
    assert before["models"][0]["_source"]["model_state"] == "DEPLOYED"

    second = connect(node, model_server.url, name, "--index", docs_index)
    assert len(second) == len(first) == 5
    assert [line for line in second if "checked" in line] == [line for line in first if "checked" in line]
    assert all(line.endswith("unchanged") for line in second if "checked" not in line), second
    assert parts(node, name) == before   # same ids, same versions, same timestamps

    removed = connect_cli(node, "--remove", "--name", name)
    assert removed.returncode == 0, removed.stderr
    assert [line.split(" ")[0] for line in removed.stdout.splitlines()] == ["index", "deleted", "deleted", "deleted"]
    assert parts(node, name) == {"connectors": [], "models": [], "pipelines": []}
    settings = requests.get(f"{node}/{docs_index}/_settings", timeout=30).json()[docs_index]["settings"]["index"]
    assert "search" not in settings
    # the index searches as before: no pipeline, no model call
    assert [h["_id"] for h in search(node, docs_index, page_body()).json()["hits"]["hits"]] == \
        [h["_id"] for h in plain_page(node, docs_index)]

    again = connect_cli(node, "--remove", "--name", name)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_a_moved_sidecar_replaces_the_connector_and_model(node, model_server, name):
    connect(node, model_server.url, name)
    old = parts(node, name)
    moved = connect(node, model_server.url.replace("127.0.0.1", "localhost"), name)
    assert "points elsewhere" in moved[0]
    new = parts(node, name)
    assert new["connectors"][0]["_id"] != old["connectors"][0]["_id"]
    assert new["models"][0]["_source"]["connector_id"] == new["connectors"][0]["_id"]
    assert new["pipelines"][0]["response_processors"][0]["rerank"]["ml_opensearch"]["model_id"] == \
        new["models"][0]["_id"]
    assert len(new["connectors"]) == len(new["models"]) == 1   # the old ones are gone, not left behind


def test_a_sidecar_with_api_keys_is_called_with_the_key_it_was_given(node, docs_index, tiny_cross_encoder,
                                                                     start_sidecar, name):
    key = "k3y-for-the-cluster-0123456789"
    guarded = start_sidecar(node, reranker=str(tiny_cross_encoder), config={
        "defaults": {"budget_ms": 60000},
        "auth": {"api_keys": [key], "exempt_paths": ["/-/healthy", "/-/ready", "/metrics"]}})
    connect(node, guarded.url, name, "--api-key", key, "--fail-closed")
    page = plain_page(node, docs_index)
    response = search(node, docs_index, page_body(), search_pipeline=name)
    assert response.status_code == 200, response.text
    expected = sidecar_ranking(guarded.url, [hit["_source"]["text"] for hit in page],
                               headers={"Authorization": f"Bearer {key}"})
    assert [h["_id"] for h in response.json()["hits"]["hits"]] == [page[i]["_id"] for i, _ in expected]
    # connect's check, then the search
    assert metric_value(guarded.url, "rerank_sidecar_requests_total", route="v1_rerank", status="200") == 2

    # without the key (a connector made before the sidecar had auth): connect's check fails on the sidecar's 401,
    # and a pipeline written anyway (--no-check) fails its searches
    connect_cli(node, "--remove", "--name", name)
    unchecked = connect_cli(node, "--sidecar", guarded.url, "--name", name, "--fail-closed")
    assert unchecked.returncode == 2 and "401" in unchecked.stderr, unchecked.stderr
    connect(node, guarded.url, name, "--fail-closed", "--no-check")
    refused = search(node, docs_index, page_body(), search_pipeline=name)
    # ml-commons passes the sidecar's status and error body through, wrapped in its own status_exception
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["type"] == "status_exception"
    assert refused.json()["error"]["reason"].startswith("Error from remote service: ")
    assert "security_exception" in refused.json()["error"]["reason"]
    assert metric_value(guarded.url, "rerank_sidecar_requests_total", route="unauthenticated", status="401") >= 1


def test_the_cluster_settings_the_docs_name_are_the_ones_needed(node, model_server, name):
    """docs/plugin-style.md's table, checked one setting at a time (transient, restored after)."""
    def put(settings: dict) -> None:
        answer = requests.put(f"{node}/_cluster/settings", json={"transient": settings}, timeout=30)
        assert answer.ok, answer.text

    regex, private, ml_node = ("plugins.ml_commons.trusted_connector_endpoints_regex",
                               "plugins.ml_commons.connector.private_ip_enabled", "plugins.ml_commons.only_run_on_ml_node")
    try:
        put({regex: ["^https://api\\.cohere\\.ai/.*$"]})   # the sidecar's URL not trusted: no connector
        refused = connect_cli(node, "--sidecar", model_server.url, "--name", name)
        assert refused.returncode == 2 and "trusted connector endpoint regex" in refused.stderr, refused.stderr
        assert parts(node, name)["connectors"] == []
        put({regex: None, private: False})   # loopback not allowed: the check fails, with the setting named
        private_refused = connect_cli(node, "--sidecar", model_server.url, "--name", name)
        assert private_refused.returncode == 2, private_refused.stdout
        assert "private ip address" in private_refused.stderr and private in private_refused.stderr
        put({private: None, ml_node: True})   # not needed: a remote model runs on this node without the ml role
        lines = connect(node, model_server.url, name)   # and the model deployed under the old setting is redeployed
        assert any("redeployed" in line for line in lines) and any("checked" in line for line in lines), lines
    finally:
        put({regex: None, private: None, ml_node: None})


@pytest.mark.parametrize(("args", "message"), [
    (["--sidecar", "ftp://127.0.0.1:1"], "--sidecar must be an http(s) URL"),
    ([], "--sidecar URL is required"),
    (["--sidecar", "http://203.0.113.9:8080"], "trusted connector endpoint regex"),   # not loopback
    (["--sidecar", "http://127.0.0.1:1", "--index", "mlc-no-such-index-*"], "no open index matches"),
    (["--sidecar", "http://127.0.0.1:1", "--text-field", " , "], "--text-field names no field"),
])
def test_bad_input_is_one_clear_line_and_exit_2(node, name, args, message):
    result = connect_cli(node, "--name", name, *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rerank-sidecar connect: ") and message in lines[0], \
        result.stderr


def test_an_unreachable_cluster_is_one_line_and_exit_2():
    result = subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "ERROR", "connect",
                             "--opensearch", "http://127.0.0.1:1", "--sidecar", "http://127.0.0.1:2"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the cluster" in lines[0], result.stderr


def test_the_blueprint_in_deploy_is_what_connect_registers():
    from sidecar.connect import Plan, connector_body

    blueprint = json.loads((REPO / "deploy" / "opensearch" / "sidecar-rerank-connector.json").read_text())
    generated = connector_body(Plan(sidecar_url=blueprint["actions"][0]["url"].removesuffix("/v1/rerank")))
    assert blueprint.pop("credential") and generated.pop("credential")
    assert blueprint == generated

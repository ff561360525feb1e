"""The real 8.x `elasticsearch` client, unchanged, pointed at the sidecar gets what it gets pointed at the node:
nodes info, search, msearch, count, scan, bulk helpers, async search submit/get and errors as its own exception classes.
It runs in its own interpreter (tests/e2e/elasticsearch8_client_probe.py) from the folder `make test` installs it
in, so the 9.x client the project uses cannot stand in for it. Against both nodes: an 8.x client in front of a 9.x
cluster is what a team mid-upgrade runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import QUERY

pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]
CLIENT_FOLDER = REPO / ".venv" / "elasticsearch8-client"
PROBE = Path(__file__).with_name("elasticsearch8_client_probe.py")


def run_probe(url: str, index: str) -> dict:
    if not (CLIENT_FOLDER / "elasticsearch").is_dir():
        pytest.skip(f"the 8.x client is not installed in {CLIENT_FOLDER} (make test installs it)")
    scratch = f"{index}-client8-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(CLIENT_FOLDER)}   # first on the path: the 8.x client, not the 9.x one
    done = subprocess.run([sys.executable, str(PROBE), url, index, scratch, QUERY], env=env, cwd=PROBE.parent,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def probes(es_node, elasticsearch_sidecar, elasticsearch_corpus) -> tuple[dict, dict]:
    """The same calls against the node and against the sidecar in front of it."""
    return run_probe(es_node.url, elasticsearch_corpus), run_probe(elasticsearch_sidecar.url, elasticsearch_corpus)


def test_the_client_is_the_real_8x_one(probes):
    direct, proxied = probes
    assert direct["client"].startswith("8.") and proxied["client"] == direct["client"]


def test_the_product_header_and_the_nodes_version_come_through(probes, es_node):
    direct, proxied = probes
    assert proxied["nodes"] == direct["nodes"] == {"product": "Elasticsearch", "versions": [es_node.version]}


def test_a_search_is_reranked_in_the_nodes_shape(probes):
    direct, proxied = probes
    assert direct["search"]["status"] is None and proxied["search"]["status"] == "reranked"
    assert proxied["search"]["shape"] == direct["search"]["shape"]
    assert proxied["search"]["content_type"] == direct["search"]["content_type"]
    assert "compatible-with=8" in direct["search"]["content_type"]   # the node answers the client as an 8.x one
    scores = proxied["search"]["scores"]
    assert len(scores) == 5 and all(0 < s < 1 for s in scores) and scores == sorted(scores, reverse=True)


def test_msearch_count_scan_and_bulk_match_the_node(probes):
    direct, proxied = probes
    assert proxied["msearch"] == direct["msearch"]
    assert [r["hits"] for r in direct["msearch"]] == [3, 0]
    assert proxied["count"] == direct["count"] == len(direct["scan"]) > 2
    assert proxied["scan"] == direct["scan"]
    assert proxied["bulk"] == direct["bulk"] == {"written": 7, "errors": [], "count": 7}


def test_async_search_is_answered_complete_and_reranked(probes):
    """The test nodes have no async-search module (deploy/nodes/elasticsearch.py): the node refuses the submission,
    while the sidecar answers a reranked one itself, complete, and keeps it for the get by id."""
    direct, proxied = probes
    assert direct["async_search"]["class"] == "BadRequestError"
    assert "no handler found" in json.dumps(direct["async_search"]["body"])
    answered = proxied["async_search"]
    assert (answered["running"], answered["partial"], answered["status"]) == (False, False, "reranked")
    assert answered["total"] == direct["search"]["shape"]["total"]
    assert answered["fetched_ids"] == answered["ids"] and len(answered["ids"]) == 5


@pytest.mark.parametrize("call", ["missing_index", "bad_query", "missing_document"])
def test_errors_are_the_clients_own_classes_with_the_nodes_body(probes, call):
    direct, proxied = probes
    assert direct["errors"][call]["class"] in {"NotFoundError", "BadRequestError"}
    assert proxied["errors"][call] == direct["errors"][call]

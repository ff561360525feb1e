"""Faults between the sidecar and the cluster, and inside the sidecar: real gunicorn, real localsearch.

A fault proxy (tests/faults.py) sits between the sidecar and localsearch and stalls, resets, cuts or garbles
the cluster's answers. Clients must get a timely OpenSearch-style error, `/-/ready` must say what is true, and
the sidecar must recover by itself once the cluster answers again.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import SidecarServer
from tests.e2e.test_sidecar import metric_value
from tests.faults import FaultProxy

INDEX = "e2e-docs"
TIMEOUT_S = 1.5   # the sidecar's upstream read timeout here


def SEARCHES(path: str) -> bool:  # noqa: N802 - a constant-like predicate
    return "_search" in path or "_msearch" in path


# fault -> what a reranked search (and each reranked _msearch item) answers: status, error type
RERANKED = {
    "stall": (504, "upstream_timeout_exception"),
    "reset": (502, "upstream_unavailable_exception"),
    "close": (502, "upstream_unavailable_exception"),
    "cut-body": (502, "upstream_unavailable_exception"),
    "html-502": (502, "upstream_exception"),
    "malformed": (502, "upstream_exception"),
    "wrong-shape": (502, "upstream_exception"),
    "json-503": (503, "cluster_block_exception"),   # the cluster's own error, passed on
}


@pytest.fixture(scope="module")
def proxy(localsearch_server, localsearch_corpus):
    faults = FaultProxy(localsearch_server.url)
    yield faults
    faults.close()


@pytest.fixture(scope="module")
def faulty(proxy, tiny_cross_encoder, tmp_path_factory):
    server = SidecarServer(proxy.url, tmp_path_factory.mktemp("faulty"), reranker=str(tiny_cross_encoder),
                           config={"upstream_timeout_s": TIMEOUT_S, "upstream_connect_timeout_s": 1.0,
                                   "defaults": {"window": 10, "budget_ms": 60000}})
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def cluster_heals(request):
    yield
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").set("pass")


def fresh_query() -> dict:
    """A query no cache has seen: every search reaches the cluster."""
    return {"query": {"match": {"text": f"read a text file {uuid.uuid4().hex[:8]}"}}, "size": 3}


def timed(method: str, url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.request(method, url, timeout=30, **kwargs)
    return response, time.monotonic() - started


def assert_os_error(body: dict, status: int, error_type: str) -> None:
    assert body["status"] == status, body
    assert body["error"]["type"] == error_type, body
    assert body["error"]["root_cause"][0]["type"] == error_type
    assert isinstance(body["error"]["reason"], str) and "Traceback" not in json.dumps(body)


def assert_recovered(faulty) -> None:
    response = requests.post(f"{faulty.url}/{INDEX}/_search", json=fresh_query(), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["X-Rerank-Status"] == "reranked"
    assert requests.get(f"{faulty.url}/-/ready", timeout=30).status_code == 200


@pytest.mark.parametrize("fault", list(RERANKED))
def test_reranked_search_under_fault(faulty, proxy, fault):
    proxy.set(fault, SEARCHES)
    response, seconds = timed("POST", f"{faulty.url}/{INDEX}/_search", json=fresh_query())
    status, error_type = RERANKED[fault]
    assert response.status_code == status, response.text
    assert_os_error(response.json(), status, error_type)
    assert seconds < (TIMEOUT_S + 2.0 if fault == "stall" else 2.0)
    assert proxy.faulted, "the fault never met a request"
    # the cluster still answers its ping: ready says so (searches failing is the search's answer)
    assert requests.get(f"{faulty.url}/-/ready", timeout=30).status_code == 200
    proxy.set("pass")
    assert_recovered(faulty)


@pytest.mark.parametrize("fault", list(RERANKED))
def test_msearch_item_under_fault(faulty, proxy, fault):
    proxy.set(fault, SEARCHES)
    lines = "".join(json.dumps(x) + "\n" for x in ({"index": INDEX}, fresh_query()))
    response, seconds = timed("POST", f"{faulty.url}/_msearch", data=lines,
                              headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text   # as OpenSearch: the failure is the item's
    (item,) = response.json()["responses"]
    assert_os_error(item, *RERANKED[fault])
    assert seconds < (TIMEOUT_S + 2.0 if fault == "stall" else 2.0)


# pass-through answers are relayed as the cluster sent them; when there is no answer to relay, a 502/504
PASSTHROUGH = {
    "stall": (504, "upstream_timeout_exception"),
    "reset": (502, "upstream_unavailable_exception"),
    "close": (502, "upstream_unavailable_exception"),
    "cut-body": (502, "upstream_unavailable_exception"),
    "json-503": (503, "cluster_block_exception"),
}


@pytest.mark.parametrize("fault", list(PASSTHROUGH))
def test_passthrough_under_fault(faulty, proxy, fault):
    proxy.set(fault, SEARCHES)
    response, seconds = timed("POST", f"{faulty.url}/{INDEX}/_search", json=fresh_query(),
                              headers={"X-Rerank": "off"})
    assert response.status_code == PASSTHROUGH[fault][0], response.text
    assert_os_error(response.json(), *PASSTHROUGH[fault])
    assert seconds < (TIMEOUT_S + 2.0 if fault == "stall" else 2.0)
    proxy.set("pass")
    assert_recovered(faulty)


def test_passthrough_relays_a_foreign_error_page_unchanged(faulty, proxy):
    proxy.set("html-502", SEARCHES)
    response = requests.post(f"{faulty.url}/{INDEX}/_search", json=fresh_query(), headers={"X-Rerank": "off"},
                             timeout=30)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == "<html><body>502 Bad Gateway</body></html>"


@pytest.mark.parametrize("outage", ["refuse", "stall"])
def test_whole_cluster_down_then_back(faulty, proxy, outage):
    proxy.set(outage)
    ready, seconds = timed("GET", f"{faulty.url}/-/ready")
    assert ready.status_code == 503 and "upstream" in ready.json()["problems"]
    assert seconds < 3.0   # the ping waits the connect timeout, not the read timeout
    assert requests.get(f"{faulty.url}/-/healthy", timeout=5).status_code == 200
    assert metric_value(faulty.url, "rerank_sidecar_upstream_up") == 0
    search, seconds = timed("POST", f"{faulty.url}/{INDEX}/_search", json=fresh_query())
    assert search.status_code in (502, 504) and search.json()["status"] == search.status_code
    assert seconds < TIMEOUT_S + 2.0
    passthrough, _ = timed("GET", f"{faulty.url}/_cat/indices")
    assert passthrough.status_code in (502, 504)
    proxy.set("pass")
    deadline = time.monotonic() + 10
    while requests.get(f"{faulty.url}/-/ready", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the sidecar did not see the cluster come back"
        time.sleep(0.1)
    assert_recovered(faulty)
    assert metric_value(faulty.url, "rerank_sidecar_upstream_up") == 1


# ---- a gunicorn worker killed under load -------------------------------------------------------------

def workers_of(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_a_worker_killed_under_load_leaves_the_others_serving(localsearch_server, localsearch_corpus, tiny_cross_encoder,
                                                              start_sidecar):
    server = start_sidecar(localsearch_server.url, reranker=str(tiny_cross_encoder), workers=2)
    first = workers_of(server.process.pid)
    assert len(first) == 2
    results: list[tuple[float, int]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:   # a new connection each time: gunicorn spreads them over both workers
                status = requests.get(f"{server.url}/_cat/indices", headers={"Connection": "close"},
                                      timeout=30).status_code
            except requests.RequestException:
                status = 0
            results.append((time.monotonic(), status))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    counted_before = metric_value(server.url, "rerank_sidecar_requests_total")
    killed_at = time.monotonic()
    os.kill(first[0], signal.SIGKILL)
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    during = [status for t, status in results if killed_at < t < killed_at + 1.0]
    after = [status for t, status in results if t > killed_at + 1.0]
    assert 200 in during, "nothing was served in the second after the kill"
    assert after and set(after) == {200}, f"failures after the kill settled: {after.count(0)}"
    deadline = time.monotonic() + 30
    while not (len(now := workers_of(server.process.pid)) == 2 and first[0] not in now):
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)
    # every answer the clients got was counted once; at most the requests that died with the worker
    # may be counted without an answer (between the count and the first byte)
    answered = sum(1 for _, status in results if status == 200)
    failed = sum(1 for _, status in results if status != 200)
    counted = metric_value(server.url, "rerank_sidecar_requests_total", route="passthrough", status="200")
    assert answered <= counted <= answered + failed
    assert counted >= counted_before   # the dead worker's counts are kept, not lost
    assert metric_value(server.url, "rerank_sidecar_in_flight_requests") == 0   # its live gauge is gone

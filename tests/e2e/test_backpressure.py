"""Backpressure under gunicorn: past `limits.max_in_flight` queued + running requests, a quick OpenSearch 429."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.test_sidecar import metric_value
from tests.standins import empty_cluster, stand_in


def test_requests_past_the_in_flight_limit_get_a_quick_429(start_sidecar, tiny_cross_encoder):
    def answer(request):
        return cluster.hold(request) if request.path.startswith("/slow") else empty_cluster(request)

    with stand_in(answer) as cluster:
        # 2 threads run, 2 more requests may wait: 4 in flight; the other 6 of 10 are refused at once
        server = start_sidecar(cluster.url, reranker=str(tiny_cross_encoder), config={"limits": {"max_in_flight": 4}},
                               extra=["--threads", "2"])

        def slow(i: int) -> tuple[int, float, dict]:
            started = time.monotonic()
            response = requests.get(f"{server.url}/slow/_doc/{i}", timeout=60)
            return response.status_code, time.monotonic() - started, response.json()

        with ThreadPoolExecutor(10) as pool:
            pending = [pool.submit(slow, i) for i in range(10)]
            deadline = time.monotonic() + 10
            while sum(f.done() for f in pending) < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
            rejected = [f.result() for f in pending if f.done()]
            # saturated, yet the probes and metrics answer
            assert requests.get(f"{server.url}/-/healthy", timeout=5).status_code == 200
            assert requests.get(f"{server.url}/-/ready", timeout=5).status_code == 200
            assert metric_value(server.url, "rerank_sidecar_requests_total", route="rejected", status="429") == 6
            cluster.release.set()
            statuses = sorted(f.result()[0] for f in pending)   # the waiting ones are answered
            # the count went back down: with the cluster answering again, nothing is refused
            cluster.release.clear()
            cluster.answer = empty_cluster
            with ThreadPoolExecutor(2) as again:   # below the limit (a closing connection counts a moment too)
                assert list(again.map(lambda i: requests.get(f"{server.url}/slow/_doc/{i}", timeout=30).status_code,
                                      range(8))) == [200] * 8

    assert statuses == [200] * 4 + [429] * 6
    assert len(rejected) == 6
    for status, seconds, body in rejected:
        assert status == 429 and seconds < 2.0
        assert body["status"] == 429 and body["error"]["type"] == "rejected_execution_exception"
        assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
        assert "max_in_flight" in body["error"]["reason"]
    assert metric_value(server.url, "rerank_sidecar_requests_total", route="rejected", status="429") == 6

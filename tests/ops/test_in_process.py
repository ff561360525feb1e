"""The app in process before a stand-in cluster: request ids reach it as X-Opaque-Id, /metrics sees it up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class Recorder:
    """A stand-in cluster that answers `{}` to everything and remembers each request's path and headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.seen.append((request.path, dict(request.headers)))
        return Response(json.dumps({}), content_type="application/json")(environ, start_response)


@pytest.fixture
def app_and_recorder() -> Iterator[tuple[object, Recorder]]:
    from sidecar.app import create_app
    from sidecar.settings import Settings
    recorder = Recorder()
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield create_app(Settings(opensearch_url=f"http://127.0.0.1:{server.server_port}"), warm_up=False), recorder
    finally:
        server.shutdown()


def test_generated_id_goes_upstream_on_every_call_and_comes_back(app_and_recorder):
    app, recorder = app_and_recorder
    # an index without the contract: the sidecar looks at its mapping, then passes the search through
    response = app.test_client().post("/plain/_search", json={"query": {"match": {"t": "x"}}})
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32 and response.headers["X-Opaque-Id"] == request_id
    paths = [path for path, _ in recorder.seen]
    assert paths == ["/plain/_mapping", "/plain/_search"]
    assert all(headers.get("X-Opaque-Id") == request_id for _, headers in recorder.seen)


def test_callers_opaque_id_is_kept_everywhere(app_and_recorder):
    app, recorder = app_and_recorder
    response = app.test_client().get("/_cat/indices", headers={"X-Opaque-Id": "dashboards-7"})
    assert response.headers["X-Request-Id"] == "dashboards-7"
    path, headers = recorder.seen[-1]
    assert path == "/_cat/indices" and headers["X-Opaque-Id"] == "dashboards-7"


def test_each_request_gets_its_own_id(app_and_recorder):
    app, recorder = app_and_recorder
    client = app.test_client()
    ids = {client.get("/_cluster/health").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert {headers["X-Opaque-Id"] for _, headers in recorder.seen} == ids


def metric(text: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_metrics_scrape_pings_the_cluster(app_and_recorder, offline_app):
    app, recorder = app_and_recorder
    assert metric(app.test_client().get("/metrics").get_data(as_text=True), "rerank_sidecar_upstream_up") == 1
    assert recorder.seen[-1][0] == "/"
    assert metric(offline_app.test_client().get("/metrics").get_data(as_text=True), "rerank_sidecar_upstream_up") == 0

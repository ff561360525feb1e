"""Pass-through proxying and the upstream client, against real HTTP servers on loopback."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, request
from werkzeug import Request, Response
from werkzeug.serving import make_server

from searchcore.local_server import free_port
from sidecar.proxy import HOP_BY_HOP, forward, forwardable_headers, request_target
from sidecar.upstream import (
    Upstream,
    UpstreamConfig,
    UpstreamMalformedResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
    encode_target,
)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
MB = 1 << 20


class ServerThread:
    """A WSGI app on an ephemeral loopback port, listening as soon as it is constructed."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True, **kwargs)
        scheme = "https" if kwargs.get("ssl_context") else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def serving(app: Any, **kwargs: Any) -> Iterator[str]:
    server = ServerThread(app, **kwargs)
    try:
        yield server.url
    finally:
        server.close()


@dataclass
class Received:
    method: str
    target: str                       # the request line's target as it came over the wire
    headers: list[tuple[str, str]]
    body: bytes
    size: int
    sha256: str

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def names(self) -> set[str]:
        return {n.lower() for n, _ in self.headers}


class RecordingUpstream:
    """Reads and records each request as it arrives, then answers with ``self.answer(request)``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.keep_bodies = True
        self.first_body_bytes = threading.Event()
        self.release = threading.Event()   # slow answers wait on it; set at teardown
        self.stall_before_reading_s = 0.0
        self.answer: Callable[[Request], Response] = lambda _: Response(
            b'{"ok":true}', content_type="application/json; charset=UTF-8")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        incoming = Request(environ)
        if self.stall_before_reading_s:   # a busy cluster: the body waits in socket buffers
            self.release.wait(self.stall_before_reading_s)
        digest, size, kept = hashlib.sha256(), 0, bytearray()
        while chunk := incoming.stream.read(64 * 1024):
            self.first_body_bytes.set()
            digest.update(chunk)
            size += len(chunk)
            if self.keep_bodies:
                kept += chunk
        self.received.append(Received(incoming.method, environ["RAW_URI"], list(incoming.headers.items()),
                                      bytes(kept), size, digest.hexdigest()))
        return self.answer(incoming)(environ, start_response)

    @property
    def last(self) -> Received:
        return self.received[-1]


def front_app(client: Upstream, *, read_body_first: bool = False) -> Flask:
    """The shape the sidecar's catch-all route has: every method, every path, straight to forward()."""
    app = Flask(__name__)
    app.url_map.merge_slashes = False

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS)
    @app.route("/<path:path>", methods=ALL_METHODS)
    def passthrough(path: str) -> Response:
        if read_body_first:
            request.get_data()   # a view that looked at the body before deciding to pass it through
        return forward(client, request)

    return app


def send_raw(url: str, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
             body: bytes | Iterable[bytes] | None = None, *, chunked: bool = False,
             timeout: float = 30) -> tuple[http.client.HTTPResponse, bytes]:
    """A request with exactly these headers and this target (http.client adds only Host)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    if isinstance(body, bytes):
        connection.putheader("Content-Length", str(len(body)))
    elif body is not None and chunked:
        connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders(body, encode_chunked=chunked)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


@contextmanager
def one_shot_server(answer: bytes) -> Iterator[str]:
    """A raw socket server: reads one request head, writes ``answer`` as is, closes the connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                data = connection.recv(65536)
                if not data:
                    break
                head += data
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=10)


@pytest.fixture
def recorder() -> Iterator[RecordingUpstream]:
    upstream = RecordingUpstream()
    server = ServerThread(upstream)
    upstream.url = server.url  # type: ignore[attr-defined]
    try:
        yield upstream
    finally:
        upstream.release.set()
        server.close()


@pytest.fixture
def client(recorder: RecordingUpstream) -> Iterator[Upstream]:
    upstream = Upstream(UpstreamConfig(url=recorder.url, timeout_s=10))  # type: ignore[attr-defined]
    yield upstream
    upstream.close()


@pytest.fixture
def front(client: Upstream) -> Iterator[str]:
    with serving(front_app(client)) as url:
        yield url


# ---- requests go upstream as received ---------------------------------------------------------

def test_request_and_answer_pass_byte_for_byte(front: str, recorder: RecordingUpstream) -> None:
    body = b'{"query": {"match_all": {}},  "size": 3}\n'
    recorder.answer = lambda _: Response(b'{"took":1,\n "hits":{}}', status="201 Created", headers=[
        ("Content-Type", "application/vnd.custom+json; charset=UTF-8"), ("X-Opaque-Id", "abc"),
        ("Set-Cookie", "a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"), ("Set-Cookie", "b=2")])
    response, data = send_raw(front, "PUT", "/idx/_doc/1?refresh=wait_for&pretty", [
        ("Authorization", "Basic dXNlcjpwYXNz"), ("Content-Type", "application/json"),
        ("Cookie", "security_authentication=xyz"), ("securitytenant", "global"),
        ("X-Forwarded-For", "10.0.0.1")], body)

    seen = recorder.last
    assert (seen.method, seen.target, seen.body) == ("PUT", "/idx/_doc/1?refresh=wait_for&pretty", body)
    assert seen.header("Authorization") == "Basic dXNlcjpwYXNz"
    assert seen.header("Cookie") == "security_authentication=xyz"
    assert seen.header("securitytenant") == "global"
    assert seen.header("X-Forwarded-For") == "10.0.0.1"
    assert seen.header("Content-Length") == str(len(body))
    assert seen.header("Host") == urlsplit(recorder.url).netloc  # type: ignore[attr-defined]
    assert "user-agent" not in seen.names() and "accept-encoding" not in seen.names()  # none added

    assert (response.status, response.reason) == (201, "Created")
    assert data == b'{"took":1,\n "hits":{}}'
    assert response.getheader("Content-Type") == "application/vnd.custom+json; charset=UTF-8"
    assert response.getheader("X-Opaque-Id") == "abc"
    assert response.getheader("Content-Length") == str(len(data))
    assert [v for n, v in response.getheaders() if n.lower() == "set-cookie"] == [
        "a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "b=2"]


@pytest.mark.parametrize("target", [
    "/my%2Findex/_doc/a%20b",
    "/idx/_doc/%e2%82%ac?q=a%2bb&routing=%7C",       # lower-case escapes stay lower-case
    "/idx/_search?q=title:(a|b)&x=[1]&y={}",         # characters urllib3 would escape
    "/idx/_doc/a%zz%2F",                             # a malformed escape next to a good one
    "/idx/_doc/%2E%2E/%2e",
    "/../_cluster/health",
    "/_cat/indices?h=index,docs.count&s=index:desc&format=json",
])
def test_path_and_query_are_forwarded_exactly(front: str, recorder: RecordingUpstream, target: str) -> None:
    response, _ = send_raw(front, "GET", target)
    assert response.status == 200
    assert recorder.last.target == target


def test_hop_by_hop_headers_are_dropped_both_ways(front: str, recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: Response(b"{}", headers=[
        ("Content-Type", "application/json"), ("Keep-Alive", "timeout=5"), ("Connection", "X-Upstream-Hop"),
        ("X-Upstream-Hop", "1"), ("Trailer", "X-Checksum"), ("Proxy-Authenticate", "Basic"),
        ("X-End-To-End", "kept")])
    response, _ = send_raw(front, "POST", "/_bulk", [
        ("Connection", "keep-alive, X-Client-Hop"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
        ("X-Client-Hop", "1"), ("Proxy-Authorization", "Basic cHJveHk6cHJveHk="), ("Upgrade", "h2c"),
        ("Trailer", "X-Checksum"), ("Expect", "100-continue"), ("X-End-To-End", "kept")],
        [b'{"index":{}}\n', b'{"a":1}\n'], chunked=True)

    seen = recorder.last
    assert seen.body == b'{"index":{}}\n{"a":1}\n'
    assert seen.names().isdisjoint({"connection", "keep-alive", "te", "x-client-hop", "proxy-authorization",
                                    "upgrade", "trailer", "expect"})
    assert seen.header("X-End-To-End") == "kept"
    answered = {n.lower() for n, _ in response.getheaders()}
    assert answered.isdisjoint({"keep-alive", "x-upstream-hop", "trailer", "proxy-authenticate"})
    assert response.getheader("X-End-To-End") == "kept"


def test_forwardable_headers_drops_hop_by_hop_and_recomputed_ones() -> None:
    headers = [("Host", "sidecar:9200"), ("Content-Length", "12"), ("Transfer-Encoding", "chunked"),
               ("Connection", "Keep-Alive, X-Private"), ("Keep-Alive", "300"), ("TE", "trailers"),
               ("Trailers", "x"), ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic eA=="),
               ("Proxy-Connection", "keep-alive"), ("X-Private", "1"), ("Expect", "100-continue"),
               ("Authorization", "Bearer t0k3n"), ("Cookie", "s=1"), ("X-Multi", "a"), ("x-multi", "b"),
               ("Content-Type", "application/x-ndjson")]
    assert forwardable_headers(headers) == {"Authorization": "Bearer t0k3n", "Cookie": "s=1",
                                            "X-Multi": "a, b", "Content-Type": "application/x-ndjson"}
    assert {"connection", "keep-alive", "te", "transfer-encoding", "upgrade", "trailer",
            "proxy-authenticate", "proxy-authorization"} <= HOP_BY_HOP
    assert forwardable_headers({"Authorization": "x"}) == {"Authorization": "x"}


def test_chunked_upload_and_chunked_answer_stream_through(front: str, recorder: RecordingUpstream) -> None:
    pieces = [b"first piece\n", os.urandom(200_000), b"last"]
    recorder.answer = lambda _: Response((p for p in pieces), content_type="application/octet-stream")
    response = requests.post(front + "/_stream", data=iter(pieces), timeout=30)
    assert recorder.last.body == b"".join(pieces)
    assert recorder.last.header("Transfer-Encoding") == "chunked"
    assert response.content == b"".join(pieces)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upstream_receives_the_body_before_the_client_finishes_sending(
        front: str, recorder: RecordingUpstream, chunked: bool) -> None:
    first, rest = os.urandom(256 * 1024), os.urandom(256 * 1024)
    arrived_early: list[bool] = []

    def body() -> Iterator[bytes]:
        yield first
        arrived_early.append(recorder.first_body_bytes.wait(timeout=10))   # a buffering proxy never gets here in time
        yield rest

    headers = [] if chunked else [("Content-Length", str(len(first) + len(rest)))]
    response, _ = send_raw(front, "POST", "/_bulk", headers, body(), chunked=chunked)
    assert response.status == 200
    assert arrived_early == [True]
    assert recorder.last.body == first + rest


def test_answer_reaches_the_client_before_the_upstream_finishes_it(front: str, recorder: RecordingUpstream) -> None:
    client_has_first = threading.Event()
    waited: list[bool] = []

    def produce() -> Iterator[bytes]:
        yield b"first"
        waited.append(client_has_first.wait(timeout=10))   # a buffering proxy keeps the client waiting
        for _ in range(64):
            yield bytes(64 * 1024)

    recorder.answer = lambda _: Response(produce(), content_type="application/octet-stream")
    total = 0
    with requests.get(front + "/_scroll", stream=True, timeout=30) as response:
        for chunk in response.iter_content(chunk_size=None):
            client_has_first.set()
            total += len(chunk)
    assert waited == [True]
    assert total == len(b"first") + 64 * 64 * 1024


def test_fifty_megabytes_stream_up_without_being_held_in_memory(front: str, recorder: RecordingUpstream) -> None:
    recorder.keep_bodies = False
    block = os.urandom(MB)
    expected = hashlib.sha256(block * 50).hexdigest()

    tracemalloc.start()
    try:
        response, _ = send_raw(front, "POST", "/_bulk", [("Content-Length", str(50 * MB)),
                                                         ("Content-Type", "application/x-ndjson")],
                               (block for _ in range(50)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status == 200
    assert (recorder.last.size, recorder.last.sha256) == (50 * MB, expected)
    assert peak < 12 * MB, f"{peak / MB:.1f} MB allocated while 50 MB went through"


def test_a_body_already_read_by_the_view_is_still_forwarded(client: Upstream, recorder: RecordingUpstream) -> None:
    with serving(front_app(client, read_body_first=True)) as url:
        response = requests.post(url + "/idx/_search", data=b'{"size":0}', timeout=30,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert recorder.last.body == b'{"size":0}'


def test_replacement_body_and_extra_headers(client: Upstream, recorder: RecordingUpstream) -> None:
    app = Flask(__name__)

    @app.post("/<path:path>")
    def rewrite(path: str) -> Response:
        return forward(client, request, body=b'{"query":{"match":{"t":"x"}}}',
                       extra_headers={"x-opaque-id": "req-1", "Content-Type": "application/json"})

    with serving(app) as url:
        requests.post(url + "/idx/_search?typed_keys", timeout=30, data=b'{"ext":{"rerank":{}}}',
                      headers={"X-Opaque-Id": "client", "Content-Type": "text/plain"})
    seen = recorder.last
    assert (seen.target, seen.body) == ("/idx/_search?typed_keys", b'{"query":{"match":{"t":"x"}}}')
    assert (seen.header("X-Opaque-Id"), seen.header("Content-Type")) == ("req-1", "application/json")
    assert seen.header("Content-Length") == "29"


# ---- answers come back as the cluster sent them -------------------------------------------------

def test_gzip_answers_are_passed_on_undecoded(front: str, recorder: RecordingUpstream) -> None:
    plain = json.dumps({"hits": {"hits": [{"_id": str(i)} for i in range(500)]}}).encode()
    packed = gzip.compress(plain)
    recorder.answer = lambda _: Response(packed, headers=[("Content-Encoding", "gzip"),
                                                          ("Content-Type", "application/json; charset=UTF-8")])
    with requests.get(front + "/idx/_search", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30) as r:
        raw = r.raw.read(decode_content=False)
        assert (r.headers["Content-Encoding"], r.headers["Content-Length"]) == ("gzip", str(len(packed)))
    assert raw == packed
    assert recorder.last.header("Accept-Encoding") == "gzip"


@pytest.mark.parametrize("status", [401, 403])
def test_the_clusters_auth_failures_pass_through_unchanged(front: str, recorder: RecordingUpstream,
                                                           status: int) -> None:
    error = (b'{"error":{"root_cause":[{"type":"security_exception","reason":"no permissions for '
             b'[indices:data/read/search]"}],"type":"security_exception"},"status":' + str(status).encode() + b"}")
    recorder.answer = lambda _: Response(error, status=status, headers=[
        ("Content-Type", "application/json; charset=UTF-8"), ("WWW-Authenticate", 'Basic realm="OpenSearch"')])
    response, data = send_raw(front, "GET", "/secret/_search", [("Authorization", "Basic bWFsbG9yeTpldmU=")])
    assert recorder.last.header("Authorization") == "Basic bWFsbG9yeTpldmU="
    assert (response.status, data) == (status, error)
    assert response.getheader("WWW-Authenticate") == 'Basic realm="OpenSearch"'
    assert response.getheader("Content-Type") == "application/json; charset=UTF-8"


def test_head_and_no_content_answers_keep_their_headers(front: str, recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: Response(b"x" * 123, content_type="application/json")
    response = requests.head(front + "/idx", timeout=30)
    assert (response.status_code, response.headers["Content-Length"], response.content) == (200, "123", b"")
    assert recorder.last.method == "HEAD"

    recorder.answer = lambda _: lambda environ, start_response: start_response("204 No Content", []) and []
    response, data = send_raw(front, "DELETE", "/_search/scroll/_all")
    assert (response.status, data) == (204, b"")
    names = [n.lower() for n, _ in response.getheaders()]
    assert "content-type" not in names                              # no default type invented on the way
    assert names.count("date") == 1 and names.count("server") == 1  # ours only, not ours and the cluster's


def test_redirects_are_passed_on_not_followed(front: str, recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: Response(status=307, headers=[("Location", "/elsewhere?x=1")])
    response = requests.get(front + "/moved", allow_redirects=False, timeout=30)
    assert (response.status_code, response.headers["Location"]) == (307, "/elsewhere?x=1")
    assert len(recorder.received) == 1


# ---- faults ---------------------------------------------------------------------------------------

def test_upstream_down_gives_an_opensearch_style_502() -> None:
    port = free_port()   # nothing listens there
    client = Upstream(UpstreamConfig(url=f"http://127.0.0.1:{port}", timeout_s=5))
    with serving(front_app(client)) as url:
        response = requests.get(url + "/idx/_search?q=x", timeout=30)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == 502
    assert body["error"]["type"] == "upstream_unavailable_exception"
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
    assert f"127.0.0.1:{port}" in body["error"]["reason"] and "refused" in body["error"]["reason"]
    assert "Traceback" not in response.text and "q=x" not in response.text


def test_slow_upstream_gives_a_504_within_the_timeout(recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: (recorder.release.wait(30), Response(b"{}"))[1]
    client = Upstream(UpstreamConfig(url=recorder.url, timeout_s=0.5))  # type: ignore[attr-defined]
    with serving(front_app(client)) as url:
        started = time.monotonic()
        response = requests.get(url + "/idx/_search", timeout=30)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "upstream_timeout_exception"
    assert "0.5s" in response.json()["error"]["reason"]
    assert 0.5 <= elapsed < 3


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100,
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"64\r\n" + b"x" * 100 + b"\r\n64\r\n" + b"x" * 10,
], ids=["content-length", "chunked"])
def test_an_answer_cut_short_is_cut_short_for_the_client_too(answer: bytes) -> None:
    with one_shot_server(answer) as upstream_url:
        client = Upstream(UpstreamConfig(url=upstream_url, timeout_s=5))
        with serving(front_app(client)) as url:
            response = requests.get(url + "/idx/_search", stream=True, timeout=30)
            assert response.status_code == 200
            with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
                response.content  # noqa: B018 - reading is the point


@pytest.mark.parametrize("answer", [
    b"",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n64\r\nxx",
], ids=["no-answer", "no-body-byte", "first-chunk-cut"])
def test_a_connection_closed_before_any_body_byte_gives_502(answer: bytes) -> None:
    with one_shot_server(answer) as upstream_url:
        client = Upstream(UpstreamConfig(url=upstream_url, timeout_s=5))
        with serving(front_app(client)) as url:
            response = requests.get(url + "/", timeout=30)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_unavailable_exception"
    assert upstream_url.removeprefix("http://") in response.json()["error"]["reason"]


# ---- the upstream client ----------------------------------------------------------------------------

def test_json_returns_status_and_parsed_answer(client: Upstream, recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: Response(b'{"error":{"type":"index_not_found_exception"},"status":404}',
                                         status=404, content_type="application/json")
    assert client.json("GET", "/missing/_mapping", None, {"Authorization": "Basic eDp5"}) == (
        404, {"error": {"type": "index_not_found_exception"}, "status": 404})
    assert recorder.last.header("Authorization") == "Basic eDp5"

    recorder.answer = lambda _: Response(b'[{"component":"opensearch-knn"}]', content_type="application/json")
    assert client.json("GET", "/_cat/plugins?format=json") == (200, [{"component": "opensearch-knn"}])

    ndjson = b'{"index":"a"}\n{"size":1}\n'
    client.json("POST", "/_msearch", ndjson, {"Content-Type": "application/x-ndjson"})
    assert (recorder.last.body, recorder.last.header("Content-Type")) == (ndjson, "application/x-ndjson")

    client.json("POST", "/idx/_search", {"query": {"match": {"t": "é"}}})
    assert json.loads(recorder.last.body) == {"query": {"match": {"t": "é"}}}
    assert recorder.last.header("Content-Type") == "application/json"


@pytest.mark.parametrize("answer", [b"<html>502 Bad Gateway</html>", b'{"took": 1, "hits":', b"\xff\xfe\x00"])
def test_json_rejects_malformed_answers_with_502(client: Upstream, recorder: RecordingUpstream,
                                                 answer: bytes) -> None:
    recorder.answer = lambda _: Response(answer, content_type="text/html")
    with pytest.raises(UpstreamMalformedResponse) as caught:
        client.json("GET", "/idx/_search")
    assert caught.value.status == 502 and "malformed response" in caught.value.reason
    assert answer.decode("latin-1") not in caught.value.reason   # never the body's text


def test_json_translates_faults(recorder: RecordingUpstream) -> None:
    down = Upstream(UpstreamConfig(url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(UpstreamUnavailable) as caught:
        down.json("GET", "/_mapping")
    assert caught.value.body()["status"] == 502

    recorder.answer = lambda _: (recorder.release.wait(30), Response(b"{}"))[1]
    slow = Upstream(UpstreamConfig(url=recorder.url, timeout_s=5))  # type: ignore[attr-defined]
    with pytest.raises(UpstreamTimeout) as caught:
        slow.json("GET", "/_mapping", timeout_s=0.3)
    assert caught.value.body()["error"]["type"] == "upstream_timeout_exception"


def test_ping(recorder: RecordingUpstream, client: Upstream) -> None:
    recorder.answer = lambda _: Response(b"{}", status=401)   # a secured cluster answers: it is up
    assert client.ping()
    recorder.answer = lambda _: Response(b"{}", status=503)
    assert not client.ping()
    assert not Upstream(UpstreamConfig(url=f"http://127.0.0.1:{free_port()}")).ping()


def test_configured_credentials_serve_setup_tasks_only(recorder: RecordingUpstream) -> None:
    admin = Upstream(UpstreamConfig(url=recorder.url, username="admin", password="s3cret"))  # type: ignore[attr-defined]
    admin_basic = "Basic YWRtaW46czNjcmV0"

    admin.json("GET", "/_search/pipeline/x", setup=True)
    assert recorder.last.header("Authorization") == admin_basic
    admin.json("GET", "/_search/pipeline/x", None, {"Authorization": "Bearer caller"}, setup=True)
    assert recorder.last.header("Authorization") == "Bearer caller"
    admin.json("GET", "/_search/pipeline/x", None, {"Cookie": "security_authentication=c"}, setup=True)
    assert "authorization" not in recorder.last.names()

    admin.json("POST", "/idx/_search", {"size": 1})            # a caller's search: never the admin's
    assert "authorization" not in recorder.last.names()
    with serving(front_app(admin)) as url:
        requests.get(url + "/idx/_search", timeout=30)
    assert "authorization" not in recorder.last.names()


def test_userinfo_in_the_url_is_a_setup_credential_and_never_shown(recorder: RecordingUpstream,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    config = UpstreamConfig(url=f"http://admin:s3cret@127.0.0.1:{port}", password=None)
    assert "s3cret" not in repr(config)
    with pytest.raises(UpstreamUnavailable) as caught:
        Upstream(config).json("GET", "/", setup=True)
    assert "s3cret" not in json.dumps(caught.value.body()) and "admin" not in caught.value.reason
    assert "s3cret" not in caplog.text

    netloc = urlsplit(recorder.url).netloc  # type: ignore[attr-defined]
    Upstream(UpstreamConfig(url=f"http://admin:s3cret@{netloc}")).ping()
    assert recorder.last.header("Authorization") == "Basic YWRtaW46czNjcmV0"
    assert "s3cret" not in repr(UpstreamConfig(url=recorder.url, password="s3cret", api_key="k3y"))  # type: ignore[attr-defined]


def test_one_callers_cookies_never_reach_another(client: Upstream, recorder: RecordingUpstream) -> None:
    recorder.answer = lambda _: Response(b"{}", headers=[("Set-Cookie", "security_authentication=alice; Path=/")])
    client.json("GET", "/_plugins/_security/authinfo", None, {"Authorization": "Basic YWxpY2U6YQ=="})
    client.json("GET", "/idx/_search")
    assert "cookie" not in recorder.last.names()


def test_streamed_request_bodies_need_and_keep_their_length(client: Upstream, recorder: RecordingUpstream) -> None:
    response = client.request("POST", "/_bulk", body=iter([b"ab", b"cd"]), headers={"Content-Length": "4"})
    response.close()
    assert (recorder.last.body, recorder.last.header("Content-Length")) == (b"abcd", "4")
    assert recorder.last.header("Transfer-Encoding") is None


def test_a_cluster_slow_to_read_a_large_body_gets_the_read_timeout_not_the_connect_one(
        recorder: RecordingUpstream) -> None:
    recorder.keep_bodies = False
    recorder.stall_before_reading_s = 1.0
    block = os.urandom(MB)
    client = Upstream(UpstreamConfig(url=recorder.url, connect_timeout_s=0.2, timeout_s=10))  # type: ignore[attr-defined]
    response = client.request("POST", "/_bulk", body=(block for _ in range(32)),
                              headers={"Content-Length": str(32 * MB)}, stream=False)
    assert response.status_code == 200
    assert recorder.last.size == 32 * MB


def test_encode_target_keeps_everything_a_request_line_can_carry() -> None:
    assert encode_target("/a%2fb/c d?q=é") == "/a%2fb/c%20d?q=%C3%A9"
    assert encode_target(b"/x\xff\x7f") == "/x%FF%7F"
    assert encode_target("_search") == "/_search"


def test_a_bodiless_request_goes_without_framing_headers(front: str, recorder: RecordingUpstream) -> None:
    send_raw(front, "GET", "/_cluster/health")
    assert recorder.last.names().isdisjoint({"content-length", "transfer-encoding"})
    send_raw(front, "POST", "/_refresh", body=b"")
    assert recorder.last.header("Content-Length") == "0" and recorder.last.body == b""


def test_request_target_prefers_the_raw_uri() -> None:
    assert request_target({"RAW_URI": "/a%2Fb?x=%7c", "PATH_INFO": "/a/b", "QUERY_STRING": "x=%7c"}) == "/a%2Fb?x=%7c"
    assert request_target({"REQUEST_URI": "http://sidecar:9200/i/_doc/1?v", "PATH_INFO": "/i/_doc/1"}) == "/i/_doc/1?v"
    # WSGI strings carry bytes as latin-1: "\u00c3\u00a9" is the UTF-8 of "é"
    assert request_target({"PATH_INFO": "/my index/\u00c3\u00a9", "QUERY_STRING": "q=1"}) == "/my%20index/%C3%A9?q=1"
    assert request_target({"PATH_INFO": "/i/_doc/1", "QUERY_STRING": ""}) == "/i/_doc/1"


# ---- TLS ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test TLS with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_tls_certificates_are_verified_by_default(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    answering = RecordingUpstream()
    with serving(answering, ssl_context=(str(cert), str(key))) as url:
        with pytest.raises(UpstreamUnavailable) as caught:
            Upstream(UpstreamConfig(url=url)).json("GET", "/")
        assert "TLS certificate verification failed" in caught.value.reason

        assert Upstream(UpstreamConfig(url=url, ca_certs=str(cert))).json("GET", "/") == (200, {"ok": True})
        assert Upstream(UpstreamConfig(url=url, verify_certs=False)).json("GET", "/") == (200, {"ok": True})

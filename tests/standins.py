"""Stand-in clusters on loopback for fault and security tests: scripted WSGI answers, served in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Answer = Callable[[Request], Response]


def os_error(status: int, error_type: str, reason: str) -> Response:
    cause = {"type": error_type, "reason": reason}
    return Response(json.dumps({"error": {"root_cause": [cause], **cause}, "status": status}), status=status,
                    content_type="application/json")


def empty_cluster(request: Request) -> Response:
    """Enough of a cluster for the sidecar's start: `GET /`, no indices, no plugins."""
    if request.path == "/":
        return Response(json.dumps({"version": {"number": "2.19.0", "distribution": "opensearch"}}),
                        content_type="application/json")
    if request.path.endswith("/_mapping"):
        return Response("{}", content_type="application/json")
    if request.path.startswith("/_cat/plugins"):
        return Response("[]", content_type="application/json")
    return Response(json.dumps({"acknowledged": True}), content_type="application/json")


class StandIn:
    """A WSGI cluster whose answers a test scripts; it remembers every request (method, path, headers)."""

    def __init__(self, answer: Answer = empty_cluster) -> None:
        self.answer = answer
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()   # held answers wait on it; set at the end
        self.url = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.seen.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                              "body": body, "query": request.query_string.decode("latin-1")})
        return self.answer(request)(environ, start_response)

    def hold(self, request: Request, seconds: float = 60.0) -> Response:
        """An answer that waits for `release` (a stuck cluster)."""
        self.release.wait(seconds)
        return Response(b"{}", content_type="application/json")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        if isinstance(app, StandIn):
            app.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def stand_in(answer: Answer = empty_cluster) -> Iterator[StandIn]:
    cluster = StandIn(answer)
    with serving(cluster) as url:
        cluster.url = url
        yield cluster

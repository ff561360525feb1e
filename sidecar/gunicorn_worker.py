"""The gunicorn worker: gthread with a bound on queued + running requests, and gunicorn's errors as JSON.

gunicorn's threaded worker hands every request to a thread pool whose queue has no bound: under overload
requests wait there until long after their clients gave up. This worker counts the requests it has handed
to the pool and not yet finished (waiting or running); past `limits.max_in_flight` a new request goes to a
small separate pool that answers it at once with OpenSearch's 429 (`rejected_execution_exception`, as a
cluster whose search queue is full answers), so overload is seen in milliseconds and clients can back off.
Health, readiness and metrics are served even then. The count is per worker and lives on the worker's main
thread (every hand-over and every finish happens there), so it needs no lock.

gunicorn answers requests it cannot parse (request line or headers too long, bad framing) with an HTML page;
here they get OpenSearch's error body too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent import futures
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.datastructures import EnvironHeaders

from sidecar.services import EXTENSION_KEY

log = logging.getLogger("sidecar.routes")   # the per-request log lines share the routes' logger
SHED_THREADS = 2
ALWAYS_SERVED = frozenset({"/-/healthy", "/-/ready", "/metrics"})
_shedding = threading.local()


def rejection_body(limit: int) -> dict[str, Any]:
    reason = (f"rejected execution: the sidecar worker has [{limit}] requests queued or running "
              "(limits.max_in_flight); retry later")
    cause = {"type": "rejected_execution_exception", "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": 429}


class ShedGate:
    """Wraps the WSGI app: in a shedding thread, answer 429 (probes and metrics pass)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.body = json.dumps(rejection_body(limit)).encode()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not getattr(_shedding, "active", False) or environ.get("PATH_INFO") in ALWAYS_SERVED:
            return self.app(environ, start_response)
        from sidecar.logs import log_request, request_id
        from sidecar.metrics import get_metrics
        started = time.monotonic()
        rid = request_id(EnvironHeaders(environ))
        start_response("429 Too Many Requests", [("Content-Type", "application/json; charset=UTF-8"),
                                                 ("Content-Length", str(len(self.body))), ("Retry-After", "1"),
                                                 ("X-Request-Id", rid), ("X-Opaque-Id", rid)])
        get_metrics().requests.labels("rejected", "_none", "429").inc()
        log_request(log, {"request_id": rid, "method": environ.get("REQUEST_METHOD", "-"),
                          "path": environ.get("PATH_INFO", "-"), "status": 429, "route": "rejected",
                          "index": "_none", "rerank": "-", "took_ms": round((time.monotonic() - started) * 1000, 3),
                          "stages_ms": {}})
        return [self.body]


class SidecarWorker(ThreadWorker):
    """gunicorn's gthread worker with admission control (see the module docstring)."""

    def init_process(self) -> None:
        self.admitted = 0
        self.max_in_flight = 0
        self.shed_pool = futures.ThreadPoolExecutor(max_workers=SHED_THREADS, thread_name_prefix="sidecar-shed",
                                                    initializer=_mark_shedding)
        util.write_error = write_opensearch_error   # this worker process's copy of gunicorn: its error pages
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        services = getattr(self.wsgi, "extensions", {}).get(EXTENSION_KEY)
        self.max_in_flight = services.settings.limits.max_in_flight if services else 0
        if self.max_in_flight:
            self.wsgi = ShedGate(self.wsgi, self.max_in_flight)

    def enqueue_req(self, conn: Any) -> None:
        if self.max_in_flight and self.admitted >= self.max_in_flight:
            conn.sidecar_admitted = False
            fs = self.shed_pool.submit(self.handle, conn)
        else:
            conn.sidecar_admitted = True
            self.admitted += 1
            fs = self.tpool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def finish_request(self, conn: Any, fs: Any) -> None:
        if getattr(conn, "sidecar_admitted", False):
            conn.sidecar_admitted = False
            self.admitted -= 1
        super().finish_request(conn, fs)

    def handle_quit(self, sig: Any, frame: Any) -> None:
        self.shed_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)


def _mark_shedding() -> None:
    _shedding.active = True


def write_opensearch_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error` with OpenSearch's error body instead of an HTML page."""
    error_type = {400: "illegal_argument_exception", 414: "too_long_http_line_exception",
                  431: "too_long_http_header_exception"}.get(status_int, "exception")
    text = mesg or reason
    cause = {"type": error_type, "reason": text}
    body = json.dumps({"error": {"root_cause": [cause], **cause}, "status": status_int}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json; charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)

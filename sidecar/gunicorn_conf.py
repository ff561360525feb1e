"""gunicorn settings for the sidecar (`rerank-sidecar serve` loads these; CLI flags override them).

Threads, not processes, carry concurrency inside a worker: the models are loaded once per worker and torch
releases the GIL while it computes. No `preload_app`: forking after torch has started its thread pools is
unsafe, so each worker loads its own models after the fork.
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

bind = "127.0.0.1:9200"
workers = 1
worker_class = "sidecar.gunicorn_worker.SidecarWorker"   # gthread + a bound on queued requests (429)
threads = 8
timeout = 120            # a worker stuck longer than this is restarted
graceful_timeout = 30
keepalive = 5
preload_app = False
limit_request_line = 8190
accesslog = None         # the sidecar logs one line per request itself, with its request id
# no gunicornc control socket: it would live in $HOME (read-only in the container) and every sidecar of a
# user shares its default path; scaling and restarts go through the orchestrator instead
control_socket_disable = True


class SidecarLogger(Logger):
    """gunicorn's own messages through the root handler, so they share its format (JSON lines included)."""

    def setup(self, cfg):  # noqa: ANN001 - gunicorn's signature
        super().setup(cfg)
        self.error_log.handlers = []
        self.error_log.propagate = True


logger_class = SidecarLogger


def child_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """A dead worker's live gauges must stop counting in /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)

"""`rerank-sidecar serve`: the proxy under gunicorn, in front of a cluster or of an embedded localsearch."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from localsearch.process import LocalsearchStartError, start_localsearch_process

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--opensearch", metavar="URL", default=None,
                        help="cluster URL (or OPENSEARCH_URL); none: start localsearch in-process")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9200, help="port to bind (default 9200)")
    parser.add_argument("--config", metavar="FILE", default=None, help="YAML settings (or RERANK_CONFIG)")
    parser.add_argument("--reranker", metavar="NAME_OR_PATH", default=None, help="default cross-encoder")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default 8)")
    parser.add_argument("--data", default=None, help="embedded localsearch data directory (default ./data/localsearch)")
    parser.add_argument("--certfile", default=None, help="TLS certificate: serve HTTPS")
    parser.add_argument("--keyfile", default=None, help="TLS private key")


def run(args: argparse.Namespace) -> int:
    # prometheus_client picks its storage when imported: set the multiprocess directory first, wiped
    metrics_dir, owned = prepare_metrics_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    settings = checked_settings(args)
    if settings is None:
        clear_metrics_dir(metrics_dir, remove=owned)
        return 2
    # kept async-search results: one folder all workers read (sidecar/async_results.py), gone with the server
    async_dir = None if os.environ.get("RERANK_ASYNC_SEARCH_DIR") else tempfile.mkdtemp(prefix="rerank-sidecar-async-")
    if async_dir is not None:
        os.environ["RERANK_ASYNC_SEARCH_DIR"] = async_dir
    embedded = None
    try:
        if settings.opensearch_url is None:
            embedded = start_embedded(Path(settings.data_dir))
            from dataclasses import replace
            settings = replace(settings, opensearch_url=embedded[1])
            log.info("embedded localsearch (data in %s) at %s", settings.data_dir, embedded[1])
        log.info("rerank-sidecar on %s://%s:%s in front of %s", "https" if args.certfile else "http", args.host,
                 args.port, settings.opensearch_url)
        SidecarServer(settings, args).run()
    finally:
        if embedded is not None:
            embedded[0].terminate()
            embedded[0].wait(timeout=30)
        clear_metrics_dir(metrics_dir, remove=owned)
        if async_dir is not None:
            shutil.rmtree(async_dir, ignore_errors=True)
    return 0


def checked_settings(args: argparse.Namespace) -> Any:
    """The settings, once everything that can be checked before gunicorn starts is; None after saying why."""
    from sidecar.logs import configure_logging
    from sidecar.settings import ConfigError, Settings
    from sidecar.startup_checks import check_startup
    try:
        settings = Settings.load(args.config, opensearch_url=args.opensearch, reranker=args.reranker,
                                 data_dir=args.data)
    except ConfigError as exc:
        return refuse(f"configuration error: {exc}")
    if bool(args.certfile) != bool(args.keyfile):
        return refuse("configuration error: --certfile and --keyfile go together (TLS needs both)")
    settings = with_thread_defaults(settings, args.workers)
    configure_logging(getattr(args, "log_level", "INFO"), json_lines=settings.log_json)
    found = check_startup(settings, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile)
    for error in found.errors:   # each its own line
        refuse(error)
    if found.errors:
        return None
    for warning in found.warnings:
        log.warning("%s", warning)
    return settings


def refuse(problem: str) -> None:
    """A start-up problem: one line on stderr (whatever newlines the message held), exit status 2."""
    print("rerank-sidecar: " + " ".join(problem.split()), file=sys.stderr)


def with_thread_defaults(settings: Any, workers: int | None) -> Any:
    """Inference threads per worker = cores / workers: every core busy, none oversubscribed.

    Inside a worker that many single-threaded model threads make the model calls, so gunicorn's
    request threads (which tokenize and wait on the cluster) never multiply the inference threads.
    """
    if settings.inference_threads is not None:
        return settings
    from dataclasses import replace

    from sidecar import gunicorn_conf
    count = workers or gunicorn_conf.workers
    return replace(settings, inference_threads=max(1, (os.cpu_count() or 1) // max(1, count)))


def prepare_metrics_dir(given: str | None) -> tuple[Path, bool]:
    """The multiprocess directory, emptied: the one given (a volume, say), else a new temporary one.

    Files of an earlier run would be summed into this run's metrics. Returns (directory, ours to remove).
    """
    if not given:
        return Path(tempfile.mkdtemp(prefix="rerank-sidecar-metrics-")), True
    directory = Path(given)
    directory.mkdir(parents=True, exist_ok=True)
    clear_metrics_dir(directory, remove=False)
    return directory, False


def clear_metrics_dir(directory: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for path in directory.glob("*.db"):   # only prometheus_client's files: the folder may hold others
        path.unlink(missing_ok=True)


def start_embedded(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """localsearch in its own process on a free loopback port (it owns its data directory alone)."""
    try:
        return start_localsearch_process(data_dir)
    except LocalsearchStartError as exc:
        raise SystemExit(f"embedded {exc}") from None


def _gunicorn_app() -> Any:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def __init__(self, settings: Any, args: argparse.Namespace) -> None:
            self.settings = settings
            self.args = args
            super().__init__()

        def load_config(self) -> None:
            from sidecar import gunicorn_conf
            for key in ("bind", "workers", "worker_class", "threads", "timeout", "graceful_timeout", "keepalive",
                        "preload_app", "limit_request_line", "accesslog", "child_exit", "logger_class",
                        "control_socket_disable"):
                self.cfg.set(key, getattr(gunicorn_conf, key))
            self.cfg.set("bind", f"{self.args.host}:{self.args.port}")
            if self.args.workers:
                self.cfg.set("workers", self.args.workers)
            if self.args.threads:
                self.cfg.set("threads", self.args.threads)
            if self.args.certfile:
                self.cfg.set("certfile", self.args.certfile)
                self.cfg.set("keyfile", self.args.keyfile)

        def load(self) -> Any:
            from sidecar.app import create_app
            return create_app(self.settings)

    return _App


class SidecarServer:
    def __init__(self, settings: Any, args: argparse.Namespace) -> None:
        self.app = _gunicorn_app()(settings, args)

    def run(self) -> None:
        self.app.run()

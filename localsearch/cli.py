"""`rerank-sidecar localsearch`: serve the embedded engine over HTTP with gunicorn (one process, threads)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=os.environ.get("RERANK_DATA_DIR", "./data/localsearch"),
                        help="data directory (default $RERANK_DATA_DIR or ./data/localsearch)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9200, help="port to bind (default 9200)")
    parser.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    parser.add_argument("--hnsw-threshold", type=int, default=10_000,
                        help="vector fields switch from exact search to HNSW past this many vectors")


class _Server(BaseApplication):
    """One worker process: the engine owns the data directory, so it is never forked or shared."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.args.host}:{self.args.port}")
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", self.args.threads)
        self.cfg.set("timeout", 300)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("accesslog", None)
        self.cfg.set("limit_request_line", 8190)

    def load(self) -> Any:
        from localsearch.engine import Engine, EngineConfig
        from localsearch.http import LocalsearchApp
        engine = Engine(self.args.data, EngineConfig(hnsw_threshold=self.args.hnsw_threshold))
        log.info("localsearch serving %s on http://%s:%s", self.args.data, self.args.host, self.args.port)
        return LocalsearchApp(engine)


def run(args: argparse.Namespace) -> int:
    _Server(args).run()
    return 0


def main() -> int:
    """`python -m localsearch.cli`: the engine alone, without the product's command line."""
    parser = argparse.ArgumentParser(prog="localsearch", description=__doc__)
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())

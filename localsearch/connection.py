"""In-process opensearch-py connection: `OpenSearch(...)` code runs unchanged against an embedded engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from opensearchpy import Connection, OpenSearch
from werkzeug.test import Client

from localsearch.engine import Engine
from localsearch.http import LocalsearchApp

_engines: dict[Path, Engine] = {}
_engines_lock = threading.Lock()


def open_engine(data_dir: str | Path) -> Engine:
    """One engine per data directory per process (the directory is locked against other processes)."""
    path = Path(data_dir).resolve()
    with _engines_lock:
        engine = _engines.get(path)
        if engine is None:
            engine = _engines[path] = Engine(path)
        return engine


def close_engine(data_dir: str | Path) -> None:
    with _engines_lock:
        engine = _engines.pop(Path(data_dir).resolve(), None)
    if engine is not None:
        engine.close()


class InProcessConnection(Connection):
    """Sends each request through the engine's WSGI app in this process instead of over HTTP."""

    def __init__(self, host: str = "localsearch", port: int | None = None, *, engine: Engine | None = None,
                 data_dir: str | Path | None = None, **kwargs: Any) -> None:
        kwargs.pop("use_ssl", None)
        super().__init__(host=host, port=port, **kwargs)
        if engine is None:
            if data_dir is None:
                raise ValueError("InProcessConnection needs an engine or a data_dir")
            engine = open_engine(data_dir)
        self.engine = engine
        self.client = Client(LocalsearchApp(engine))

    def perform_request(self, method: str, url: str, params: Any = None, body: bytes | None = None,
                        timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
        full_url = self.url_prefix + url + (f"?{urlencode(params)}" if params else "")
        request_headers = {**self.headers, **(headers or {})}
        if body is not None and "content-type" not in {k.lower() for k in request_headers}:
            request_headers["content-type"] = "application/json"
        start = time.time()
        data = body.encode("utf-8") if isinstance(body, str) else body
        response = self.client.open(full_url, method=method, data=data, headers=request_headers)
        duration = time.time() - start
        raw = response.get_data().decode("utf-8", "surrogatepass")
        status = response.status_code
        if not (200 <= status < 300) and status not in ignore:
            self.log_request_fail(method, full_url, url, body, duration, status, raw)
            self._raise_error(status, raw, response.headers.get("Content-Type"))
        self.log_request_success(method, full_url, url, body, status, raw, duration)
        return status, dict(response.headers), raw


def local_client(data_dir: str | Path, **kwargs: Any) -> OpenSearch:
    """An opensearch-py client over the embedded engine stored in `data_dir`."""
    return OpenSearch(hosts=[{"host": "localsearch", "port": 9200}], connection_class=InProcessConnection,
                      engine=open_engine(data_dir), **kwargs)

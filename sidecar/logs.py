"""Log set-up (text or one JSON object a line), the request id, and the one line logged per request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_REQUEST_ID = 200
# headers a caller may identify its request with, first match wins; OpenSearch logs X-Opaque-Id
REQUEST_ID_HEADERS = ("X-Opaque-Id", "X-Request-Id")


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """The root handler for an entry point: text lines, or JSON objects (`RERANK_LOG_JSON=true`)."""
    handler = logging.StreamHandler()
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{process}{message}", style="{", json_ensure_ascii=False,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("opensearch").setLevel(logging.WARNING)


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's id (X-Opaque-Id, else X-Request-Id) when it is short printable ASCII, else a new one."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value and len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable():
            return value
    return uuid.uuid4().hex


def log_request(logger: logging.Logger, fields: Mapping[str, Any]) -> None:
    """One line per request: `key=value` text, or the same fields as JSON keys.

    `fields` holds request_id, method, path, status, route, index, rerank, took_ms and stages_ms
    (stage -> milliseconds). The path is logged, never the query string or the body.
    """
    stages = " ".join(f"{stage}={ms:.1f}ms" for stage, ms in fields.get("stages_ms", {}).items())
    logger.info("request_id=%s %s %s status=%s route=%s index=%s rerank=%s took=%.1fms %s",
                fields["request_id"], fields["method"], fields["path"], fields["status"], fields["route"],
                fields["index"], fields["rerank"], fields["took_ms"], stages, extra=dict(fields))

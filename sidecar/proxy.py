"""Byte-for-byte pass-through: forward a request to the cluster and stream its answer back."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import urllib3
from werkzeug import Request, Response

from searchcore.errors import SearchError
from sidecar.upstream import Upstream, encode_target

log = logging.getLogger(__name__)

# RFC 7230 section 6.1: meaningful for one connection only, never forwarded (plus the
# pre-standard Proxy-Connection); headers named in Connection are dropped as well.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"})
# recomputed for the upstream request: its own host, the body's length, and no 100-continue dance
_RECOMPUTED = frozenset({"host", "content-length", "expect"})
# written by every WSGI server we run under (gunicorn, werkzeug) into each answer: the cluster's
# copies would make two values of single-valued headers
_WRITTEN_BY_OUR_SERVER = frozenset({"date", "server"})
_CHUNK_BYTES = 64 * 1024
_BODILESS_STATUS = frozenset({204, 304})


def forwardable_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A request's headers as they go upstream: hop-by-hop ones, Host and Content-Length dropped,
    repeated ones joined with ", " (RFC 7230 3.2.2). Credentials pass unchanged."""
    merged: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, value in _end_to_end(headers, HOP_BY_HOP | _RECOMPUTED):
        key = name.lower()
        if key in names:
            merged[names[key]] += ", " + value
        else:
            names[key] = name
            merged[name] = value
    return merged


def forward(upstream: Upstream, request: Request, *, body: bytes | None = None,
            extra_headers: Mapping[str, str] | None = None, target: str | None = None) -> Response:
    """Send ``request`` to the cluster as received and answer with what it sends back, streamed.

    ``body`` replaces the request's body; ``extra_headers`` add to or replace its headers;
    ``target`` replaces its path and query. Unreachable or slow clusters give OpenSearch-style
    502/504 answers; the cluster's own errors pass through unchanged.
    """
    headers = forwardable_headers(request.headers)
    for name, value in (extra_headers or {}).items():
        for existing in [n for n in headers if n.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    payload = _request_body(request, body, headers)
    try:
        answer = upstream.request(request.method, target or request_target(request.environ), body=payload,
                                  headers=headers, stream=True)
    except SearchError as exc:
        return _error_response(exc)
    return _streamed_answer(upstream, answer.raw, request.method)


def request_target(environ: Mapping[str, Any]) -> str:
    """The path and query exactly as the client sent them (RAW_URI from gunicorn and werkzeug,
    REQUEST_URI from others), rebuilt from PATH_INFO and QUERY_STRING when neither is there."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and not environ.get("SCRIPT_NAME"):   # under a mount point the raw target includes its prefix
        raw_bytes = raw.encode("latin-1")        # WSGI strings carry the bytes as latin-1
        if not raw_bytes.startswith(b"/") and b"://" in raw_bytes:   # absolute form: drop scheme and host
            after_scheme = raw_bytes.split(b"://", 1)[1]
            raw_bytes = b"/" + after_scheme.split(b"/", 1)[1] if b"/" in after_scheme else b"/"
        return encode_target(raw_bytes)
    path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=~")
    query = environ.get("QUERY_STRING", "")
    return encode_target(path.encode("ascii") + (b"?" + query.encode("latin-1") if query else b""))


def _end_to_end(headers: Mapping[str, str] | Iterable[tuple[str, str]],
                dropped: frozenset[str]) -> list[tuple[str, str]]:
    """Headers minus ``dropped`` and minus those the Connection header names; repeats kept apart."""
    items = list(headers.items() if hasattr(headers, "items") else headers)
    named = {token.strip().lower() for name, value in items if name.lower() == "connection"
             for token in value.split(",") if token.strip()}
    return [(name, value) for name, value in items if name.lower() not in dropped and name.lower() not in named]


def _request_body(request: Request, body: bytes | None, headers: dict[str, str]) -> bytes | Iterator[bytes] | None:
    if body is not None:
        return body
    cached = getattr(request, "_cached_data", None)   # werkzeug keeps a body some view already read
    if cached is not None:
        return cached
    length = request.content_length
    if length is not None:
        if length == 0:
            return b""
        headers["Content-Length"] = str(length)      # the body streams through with its declared length
        return _chunks(request.stream)
    # a chunked upload, de-chunked by the server (gunicorn marks every input terminated: ask the header)
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return _chunks(request.stream)
    return None


def _chunks(stream: Any) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK_BYTES):
        yield chunk


class _PassThroughResponse(Response):
    # headers exactly as the cluster sent them: no default Content-Type. (Flask may recast the
    # response to its own class; bodies are iterators, never sequences, so no length is computed.)
    default_mimetype = None


def _streamed_answer(upstream: Upstream, raw: urllib3.HTTPResponse, method: str) -> Response:
    headers = _end_to_end(raw.headers, HOP_BY_HOP | _WRITTEN_BY_OUR_SERVER)
    if raw.chunked:   # re-framed by our server: a length next to chunked framing would be wrong
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    status = f"{raw.status} {raw.reason}" if raw.reason else str(raw.status)
    if method == "HEAD" or raw.status < 200 or raw.status in _BODILESS_STATUS:
        raw.drain_conn()
        raw.close()
        return _PassThroughResponse(iter(()), status=status, headers=headers)
    # the body as the cluster encoded it (gzip stays gzip), chunk by chunk as it arrives
    chunks = raw.stream(_CHUNK_BYTES, decode_content=False)
    try:   # the first chunk before any header goes out: a cluster failing now still gets a clean 502/504
        first = next(chunks, b"")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raw.close()
        return _error_response(upstream.translate_error(exc, method))
    response = _PassThroughResponse(_relay(first, chunks), status=status, headers=headers)
    response.call_on_close(raw.close)   # a client gone mid-answer: give the connection up, not back
    return response


def _relay(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    try:
        yield from chunks
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # headers are out: all we can do is cut the connection so the client sees a short answer
        log.warning("upstream answer cut short after the headers: %s", type(exc).__name__)
        raise


def _error_response(error: SearchError) -> Response:
    return Response(json.dumps(error.body()), status=error.status, content_type="application/json; charset=UTF-8")

"""The HTTP client for the cluster: the only place that knows its URL, its TLS settings and its timeouts."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import SKIP_HEADER

from searchcore.errors import UpstreamError

log = logging.getLogger(__name__)

# headers that describe one connection or one message's framing: the client sets them itself
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                             "expect", "te", "trailer", "upgrade"})
# headers that carry a caller's identity: when any is present, configured credentials are never added
CALLER_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-proxy-user", "x-proxy-roles"})

# private per-request options for the connection classes below; removed before anything is sent
_TARGET_OPTION = "x-rerank-sidecar-exact-target"
_SEND_TIMEOUT_OPTION = "x-rerank-sidecar-send-timeout"


class UpstreamUnavailable(UpstreamError):
    """The cluster refused or dropped the connection, failed TLS, or its name did not resolve (502)."""

    status, error_type = 502, "upstream_unavailable_exception"


class UpstreamTimeout(UpstreamError):
    """The cluster did not accept a connection or did not answer within the timeout (504)."""

    status, error_type = 504, "upstream_timeout_exception"


class UpstreamMalformedResponse(UpstreamError):
    """The cluster answered something that is not JSON where JSON was expected (502)."""

    status = 502


@dataclass(frozen=True)
class UpstreamConfig:
    url: str
    timeout_s: float = 30.0
    connect_timeout_s: float = 3.0
    verify_certs: bool = True
    ca_certs: str | None = None
    username: str | None = None   # setup tasks only, never a caller's search
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    pool_size: int = 32

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream url must look like http(s)://host:port, got [{_without_userinfo(self.url)}]")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("upstream timeouts must be positive")
        if self.pool_size < 1:
            raise ValueError("upstream pool_size must be at least 1")

    def __repr__(self) -> str:  # the URL may carry user:password; never show it
        masked = "***" if self.password or self.api_key else None
        return (f"UpstreamConfig(url={_without_userinfo(self.url)!r}, timeout_s={self.timeout_s}, "
                f"connect_timeout_s={self.connect_timeout_s}, verify_certs={self.verify_certs}, "
                f"ca_certs={self.ca_certs!r}, username={self.username!r}, secret={masked!r}, "
                f"pool_size={self.pool_size})")


class Upstream:
    """A pooled, thread-safe HTTP client for one cluster (one urllib3 pool of ``pool_size``).

    Callers' headers go out as given (their credentials decide what the cluster shows them);
    the framing headers are computed here. Failures become OpenSearch-style 502/504 errors whose
    reason names the cluster's host and port, never credentials, paths or bodies.
    """

    def __init__(self, config: UpstreamConfig,
                 observer: Callable[[str, str, float], None] | None = None) -> None:
        self.config = config
        self.observer = observer   # (path and query, outcome, seconds) after each request: the metrics
        parts = urlsplit(config.url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = f"{parts.scheme}://{host}:{port}"   # safe to show: no userinfo
        self._path_prefix = parts.path.rstrip("/")
        self._setup_credentials = _setup_credentials(config, parts.username, parts.password)
        self._verify: bool | str = (config.ca_certs or True) if config.verify_certs else False
        if not config.verify_certs:
            log.warning("TLS certificate verification of the upstream %s is disabled", self.origin)
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self._adapter = _ExactAdapter(pool_connections=2, pool_maxsize=config.pool_size, max_retries=0)

    def close(self) -> None:
        self._adapter.close()

    def request(self, method: str, path_and_query: str, *, body: bytes | Iterable[bytes] | None,
                headers: Mapping[str, str], stream: bool = False, timeout_s: float | None = None,
                setup: bool = False) -> requests.Response:
        """Send one request; the path and query go out exactly as given (only bytes that cannot
        appear on a request line are percent-encoded).

        An iterable body is streamed: with a Content-Length header as given, else chunked.
        ``setup`` adds the configured credentials, and only when the caller sent none.
        With ``stream`` the caller must close the response.
        """
        read_timeout = self.config.timeout_s if timeout_s is None else timeout_s
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = self.origin + self._path_prefix + encode_target(path_and_query)
        prepared.headers = self._outgoing_headers(headers, body, setup)
        prepared.headers[_TARGET_OPTION] = self._path_prefix + encode_target(path_and_query)
        if body is not None and not isinstance(body, bytes | bytearray):
            prepared.headers[_SEND_TIMEOUT_OPTION] = str(read_timeout)
        prepared.body = body
        started = time.monotonic()
        try:
            # the adapter, not a Session: no cookie jar shared between callers, no redirect handling
            # (a Session reads a 3xx body to build the next request even when not following it)
            response = self._adapter.send(prepared, stream=True, verify=self._verify, cert=None, proxies={},
                                          timeout=(self.config.connect_timeout_s, read_timeout))
            if not stream:
                response.content  # noqa: B018 - read the whole answer now, inside the error handling
        except requests.RequestException as exc:
            error = self.translate_error(exc, prepared.method, read_timeout)
            self._observe(path_and_query, "timeout" if isinstance(error, UpstreamTimeout) else "unavailable",
                          started)
            raise error from exc
        self._observe(path_and_query, f"{response.status_code // 100}xx", started)
        return response

    def _observe(self, path_and_query: str, outcome: str, started: float) -> None:
        if self.observer is not None:
            self.observer(path_and_query, outcome, time.monotonic() - started)

    def json(self, method: str, path_and_query: str, body: Any | None = None,
             headers: Mapping[str, str] | None = None, *, timeout_s: float | None = None,
             setup: bool = False) -> tuple[int, Any]:
        """The sidecar's own calls: send JSON (or bytes as given, e.g. NDJSON), parse the JSON answer.

        Error statuses come back as ``(status, body)`` for the caller to judge; an answer that is
        not JSON raises a 502.
        """
        data = body if body is None or isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        sent = CaseInsensitiveDict(headers or {})
        sent.setdefault("Content-Type", "application/json")
        sent["Accept"] = "application/json"
        # an encoding we decode (a caller's "br" would not be); identity like opensearch-py's default
        sent["Accept-Encoding"] = "identity"
        response = self.request(method, path_and_query, body=data, headers=sent, timeout_s=timeout_s, setup=setup)
        try:
            return response.status_code, json.loads(response.content)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            kind = response.headers.get("Content-Type", "no content type")
            raise UpstreamMalformedResponse(
                f"malformed response from upstream [{self.origin}]: status {response.status_code}, "
                f"{len(response.content)} bytes of [{kind}] that are not JSON") from exc

    def ping(self) -> bool:
        """Whether the cluster answers GET / within the connect timeout (a 401 answers too)."""
        try:
            response = self.request("GET", "/", body=None, headers={}, setup=True,
                                    timeout_s=self.config.connect_timeout_s)
        except UpstreamError:
            return False
        return response.status_code < 500

    def _outgoing_headers(self, headers: Mapping[str, str], body: bytes | Iterable[bytes] | None,
                          setup: bool) -> CaseInsensitiveDict[str]:
        given = CaseInsensitiveDict(headers)
        declared_length = given.get("Content-Length")
        out: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            (name, value) for name, value in given.items() if name.lower() not in FRAMING_HEADERS)
        if isinstance(body, bytes | bytearray):
            out["Content-Length"] = str(len(body))
        elif body is not None and declared_length is not None:
            out["Content-Length"] = declared_length   # a streamed body of known length
        elif body is not None:
            out["Transfer-Encoding"] = "chunked"
        if setup and self._setup_credentials and not any(name.lower() in CALLER_CREDENTIAL_HEADERS for name in out):
            out["Authorization"] = self._setup_credentials
        return out

    def translate_error(self, exc: BaseException, method: str, read_timeout: float | None = None) -> UpstreamError:
        """A requests or urllib3 failure as the 502/504 a client gets."""
        read_timeout = self.config.timeout_s if read_timeout is None else read_timeout
        causes = list(_causes(exc))
        if isinstance(exc, requests.ConnectTimeout):
            log.warning("upstream %s: no connection within %ss (%s)", self.origin, self.config.connect_timeout_s, method)
            return UpstreamTimeout(f"upstream [{self.origin}] did not accept a connection within "
                                   f"[{self.config.connect_timeout_s}s]")
        if any(isinstance(c, urllib3.exceptions.ReadTimeoutError | socket.timeout) for c in causes):
            log.warning("upstream %s: no answer within %ss (%s)", self.origin, read_timeout, method)
            return UpstreamTimeout(f"upstream [{self.origin}] did not answer within [{read_timeout}s]")
        what = _describe(causes)
        log.warning("upstream %s unavailable (%s): %s", self.origin, method, what)
        return UpstreamUnavailable(f"upstream [{self.origin}] is unavailable: {what}")


def encode_target(target: str | bytes) -> str:
    """Percent-encode only what cannot go on a request line (controls, space, non-ASCII bytes):
    everything else, including existing %XX escapes in either case, is kept byte for byte."""
    raw = target.encode("utf-8") if isinstance(target, str) else target
    if not raw.startswith(b"/"):
        raw = b"/" + raw
    return "".join(chr(b) if 0x20 < b < 0x7F else f"%{b:02X}" for b in raw)


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest causes in args and .reason)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(n for n in nested if isinstance(n, BaseException))


def _describe(causes: list[BaseException]) -> str:
    """A short cause without URLs, paths or credentials."""
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message}"
    for kind, text in ((urllib3.exceptions.NameResolutionError, "its name does not resolve"),
                       (ConnectionRefusedError, "connection refused"),
                       (ssl.SSLError, "TLS handshake failed"),
                       (ConnectionResetError, "connection reset"),
                       (urllib3.exceptions.IncompleteRead, "the answer was cut short"),
                       (urllib3.exceptions.ProtocolError, "the connection closed unexpectedly"),
                       (OSError, "connection failed")):
        if any(isinstance(c, kind) for c in causes):
            return text
    return "connection failed"


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _setup_credentials(config: UpstreamConfig, url_user: str | None, url_password: str | None) -> str | None:
    if config.api_key:
        return f"ApiKey {config.api_key}"
    user = config.username or url_user
    password = config.password if config.password is not None else url_password
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        return f"Basic {token}"
    return None


class _ExactRequestMixin:
    """Send the request target and headers exactly as given.

    urllib3 would re-encode the target (upper-casing %xx, escaping characters such as | [ ] and,
    when one % is malformed, every %), add User-Agent and Accept-Encoding headers the client did
    not send, and use the connect timeout while sending a streamed body.
    """

    def request(self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None,
                **kwargs: Any) -> None:
        options = {name.lower(): value for name, value in (headers or {}).items()}
        sent = {name: value for name, value in (headers or {}).items()
                if name.lower() not in (_TARGET_OPTION, _SEND_TIMEOUT_OPTION)}
        for name in ("User-Agent", "Accept-Encoding"):
            if name.lower() not in options:
                sent[name] = SKIP_HEADER
        send_timeout = options.get(_SEND_TIMEOUT_OPTION)
        if send_timeout is not None:
            if self.sock is None:   # type: ignore[attr-defined]
                self.connect()      # type: ignore[attr-defined]  # connect within the connect timeout first
            self.timeout = float(send_timeout)  # then let a busy cluster take the read timeout per send
        super().request(method, options.get(_TARGET_OPTION, url), body, sent, **kwargs)  # type: ignore[misc]


class _ExactHTTPConnection(_ExactRequestMixin, HTTPConnection):
    pass


class _ExactHTTPSConnection(_ExactRequestMixin, HTTPSConnection):
    pass


class _ExactHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _ExactHTTPConnection


class _ExactHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _ExactHTTPSConnection


class _ExactAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _ExactHTTPConnectionPool,
                                                   "https": _ExactHTTPSConnectionPool}

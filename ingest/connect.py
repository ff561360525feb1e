"""Cluster connection for ingest: a real OpenSearch URL with auth/TLS, or the embedded engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    TransportError,
)
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from searchcore.errors import SearchError

DEFAULT_DATA_DIR = "./data/localsearch"


class ConnectError(Exception):
    """The cluster cannot be used: unreachable, refused credentials, bad URL."""


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the cluster is and how to authenticate; secrets stay out of `repr`."""

    url: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None
    insecure: bool = False
    timeout: float = 60.0
    data_dir: str | None = None

    @property
    def embedded(self) -> bool:
        return not self.url

    def describe(self) -> str:
        if self.embedded:
            return f"embedded localsearch at {self.resolved_data_dir()}"
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"  # never print credentials in a URL

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or os.environ.get("RERANK_DATA_DIR") or DEFAULT_DATA_DIR)


def make_client(options: ConnectionOptions) -> Any:
    """An opensearch-py client for the options (the embedded engine when no URL is given)."""
    if options.embedded:
        try:
            from localsearch.connection import local_client
        except ImportError as exc:
            raise ConnectError("the embedded engine (localsearch) is not available; "
                               "pass --opensearch URL") from exc
        try:
            return local_client(str(options.resolved_data_dir()))
        except SearchError as exc:  # e.g. a localsearch server holds the folder
            raise ConnectError(f"{exc.reason}; point --opensearch at that server "
                               "instead") from exc
    parts = urlsplit(options.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"--opensearch must be an http(s) URL, got [{options.describe()}]")
    if options.user and options.api_key:
        raise ConnectError("give either --user/--password or --api-key, not both")
    kwargs: dict[str, Any] = {"hosts": [options.url], "timeout": options.timeout,
                              "http_compress": False}
    if options.user:
        kwargs["http_auth"] = (options.user, options.password or "")
    if options.api_key:
        kwargs["headers"] = {"Authorization": f"ApiKey {options.api_key}"}
    if parts.scheme == "https":
        kwargs.update(use_ssl=True, verify_certs=not options.insecure,
                      ssl_show_warn=not options.insecure)
        if options.insecure:
            kwargs.update(ssl_assert_hostname=False)
        if options.ca_certs:
            if not Path(options.ca_certs).is_file():
                raise ConnectError(f"--ca-certs {options.ca_certs}: no such file")
            kwargs["ca_certs"] = options.ca_certs
    return OpenSearch(**kwargs)


def close_client(client: Any, options: ConnectionOptions) -> None:
    """Release the embedded engine (its data folder lock); a remote client needs nothing."""
    if options.embedded:
        from localsearch.connection import close_engine

        close_engine(str(options.resolved_data_dir()))
    elif client is not None:
        client.close()


def check_reachable(client: Any, options: ConnectionOptions) -> dict[str, Any]:
    """`GET /` once; raise ConnectError with one clear line when the cluster cannot be used."""
    where = options.describe()
    try:
        return client.info()
    except AuthenticationException as exc:
        raise ConnectError(f"{where} refused the credentials (401)") from exc
    except AuthorizationException as exc:
        raise ConnectError(f"{where} denied access (403): {exc.error}") from exc
    except OSConnectionError as exc:
        raise ConnectError(f"cannot reach OpenSearch at {where}: {_cause(exc)}") from exc
    except TransportError as exc:
        raise ConnectError(f"OpenSearch at {where} answered {exc.status_code}: "
                           f"{exc.error}") from exc


def _cause(exc: OSConnectionError) -> str:
    info = exc.info
    text = str(getattr(info, "reason", None) or info or exc.error)
    if "Connection refused" in text:
        return "connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate verification failed (use --ca-certs, or --insecure to skip)"
    if "timed out" in text.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.splitlines()[0][:300] if text else type(exc).__name__

"""Cluster connection for ingest: a real OpenSearch or Elasticsearch URL with auth/TLS, or the embedded engine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from elastic_transport import TransportError as ESTransportError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import __version__ as client_version
from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    TransportError,
)
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from ingest.es_compat import PROBE_MAJOR, REACHABLE_MAJORS, transport_for
from searchcore.cluster import ClusterFlavour, detect_flavour, nodes_version
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


def connect(options: ConnectionOptions) -> tuple[Any, ClusterFlavour]:
    """A checked client for the cluster, of the library its flavour needs: opensearch-py for OpenSearch and
    the embedded engine, the official elasticsearch client for Elasticsearch."""
    client = make_client(options)
    try:
        flavour = check_reachable(client, options)
    except BaseException:
        close_client(client, options)
        raise
    if not flavour.is_elasticsearch:
        return client, flavour
    client.close()
    return make_elasticsearch_client(options, flavour), flavour


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


def make_elasticsearch_client(options: ConnectionOptions, flavour: ClusterFlavour | None = None) -> Any:
    """The official elasticsearch client for the options (the URL, auth and TLS already checked by make_client).

    The client marks its requests `compatible-with=<its major>`, and a server accepts its own major and the one
    before: for a server one major older (8.x with the 9.x client) the client speaks that major's media types
    (ingest/es_compat.py); an older one is refused here, in one line, rather than on the first request. Without
    a flavour (asking a server its version) it speaks the major both kinds of server accept.
    """
    major = flavour.major if flavour is not None else None
    if major is not None and major < min(REACHABLE_MAJORS):
        raise ConnectError(
            f"{options.describe()} runs {flavour.describe()}, but the installed elasticsearch client "
            f"{'.'.join(map(str, client_version))} speaks to Elasticsearch {min(REACHABLE_MAJORS)}.x or later; "
            f"install elasticsearch~={major}.0 to ingest into it")
    # Retried at the transport like opensearch-py does (502/503/504): 429 is left to the bulk writer's
    # backoff, which an immediate transport retry would defeat.
    kwargs: dict[str, Any] = {"hosts": [options.url], "request_timeout": options.timeout,
                              "retry_on_status": (502, 503, 504),
                              "transport_class": transport_for(PROBE_MAJOR if major is None else major)}
    if options.user:
        kwargs["basic_auth"] = (options.user, options.password or "")
    if options.api_key:
        kwargs["api_key"] = options.api_key
    if urlsplit(options.url).scheme == "https":
        kwargs.update(verify_certs=not options.insecure, ssl_show_warn=not options.insecure)
        if options.ca_certs:
            kwargs["ca_certs"] = options.ca_certs
    return Elasticsearch(**kwargs)


def close_client(client: Any, options: ConnectionOptions) -> None:
    """Release the embedded engine (its data folder lock); a remote client needs nothing."""
    if options.embedded:
        from localsearch.connection import close_engine

        close_engine(str(options.resolved_data_dir()))
    elif client is not None:
        client.close()


def check_reachable(client: Any, options: ConnectionOptions) -> ClusterFlavour:
    """`GET /` once, and the cluster's flavour from it; raise ConnectError with one clear line when the cluster
    cannot be used. An Elasticsearch node without the rest-root module answers `GET /` with 405 (expected, so
    not logged as a failure): asked for its version, it names itself in the product header."""
    where = options.describe()
    try:
        root = client.info(ignore=[ROOT_UNAVAILABLE])
    except AuthenticationException as exc:
        raise ConnectError(f"{where} refused the credentials (401)") from exc
    except AuthorizationException as exc:
        raise ConnectError(f"{where} denied access (403): {exc.error}") from exc
    except OSConnectionError as exc:
        raise ConnectError(f"cannot reach OpenSearch at {where}: {_cause(exc)}") from exc
    except TransportError as exc:
        raise ConnectError(f"OpenSearch at {where} answered {exc.status_code}: "
                           f"{exc.error}") from exc
    root = root if isinstance(root, Mapping) else {}
    if "version" in root or root.get("status") != ROOT_UNAVAILABLE:
        return detect_flavour(root=root)
    flavour = None if options.embedded else _elasticsearch_without_root(options)
    if flavour is None:
        error = root.get("error")
        reason = error.get("type") if isinstance(error, dict) else error
        raise ConnectError(f"OpenSearch at {where} answered {ROOT_UNAVAILABLE}: {reason}")
    return flavour


ROOT_UNAVAILABLE = 405
# What `GET /_nodes/_local` needs to answer to tell the version (and nothing else).
NODE_VERSION_FILTER = ["nodes.*.version", "nodes.*.build_flavor"]


def _elasticsearch_without_root(options: ConnectionOptions) -> ClusterFlavour | None:
    """The flavour when `_nodes/_local` answers as Elasticsearch (the client checks the product header);
    None when it does not."""
    es = make_elasticsearch_client(options)
    try:
        answer = es.nodes.info(node_id="_local", filter_path=NODE_VERSION_FILTER)
    except (ApiError, ESTransportError):  # not Elasticsearch, or no right to ask: the root's error stands
        return None
    finally:
        es.close()
    flavour = detect_flavour(headers=answer.meta.headers, version=nodes_version(answer.body))
    return flavour if flavour.is_elasticsearch else None


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

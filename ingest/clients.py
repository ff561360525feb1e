"""The two client libraries ingest drives, seen one way: opensearch-py (OpenSearch, localsearch) and the official
elasticsearch client. Which one a call needs follows from the client object; errors are caught through these
tuples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import elastic_transport
import elasticsearch
from elasticsearch import helpers as es_helpers
from opensearchpy import exceptions as os_errors
from opensearchpy import helpers as os_helpers

# An answer with an HTTP status (opensearch-py's TransportError also covers its connection errors).
API_ERRORS: tuple[type[Exception], ...] = (os_errors.TransportError, elasticsearch.ApiError)
# No answer at all: refused, reset, timed out, TLS.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    os_errors.ConnectionError, elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout)
BAD_REQUEST: tuple[type[Exception], ...] = (os_errors.RequestError, elasticsearch.BadRequestError)
NOT_FOUND: tuple[type[Exception], ...] = (os_errors.NotFoundError, elasticsearch.NotFoundError)


def is_elasticsearch(client: Any) -> bool:
    """Whether `client` is the official Elasticsearch client (the upstream is Elasticsearch)."""
    return isinstance(client, elasticsearch.Elasticsearch)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error; None for a connection error (opensearch-py says "N/A" there)."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def describe_connection_error(exc: BaseException) -> str:
    """One line for a connection error of either library."""
    if isinstance(exc, os_errors.ConnectionError):
        return f"{exc.error}: {exc.info}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def body_of(response: Any) -> Any:
    """The JSON of an answer: the elasticsearch client wraps it in an ApiResponse, opensearch-py does not."""
    return getattr(response, "body", response)


def streaming_bulk(client: Any, actions: Iterable[dict[str, Any]], *, request_timeout: float,
                   **kwargs: Any) -> Iterator[tuple[bool, dict[str, Any]]]:
    """The library's own `helpers.streaming_bulk` for the client (same arguments, same results)."""
    if is_elasticsearch(client):
        # The elasticsearch client takes transport options through `options()`, not per call.
        return es_helpers.streaming_bulk(client.options(request_timeout=request_timeout), actions, **kwargs)
    return os_helpers.streaming_bulk(client, actions, request_timeout=request_timeout, **kwargs)


def scan(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The library's own `helpers.scan` (scroll through every hit) for the client."""
    helpers = es_helpers if is_elasticsearch(client) else os_helpers
    return helpers.scan(client, **kwargs)

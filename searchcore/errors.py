"""OpenSearch-style errors: one exception base that renders the cluster's error body."""

from __future__ import annotations

from typing import Any


class SearchError(Exception):
    """An error that answers a request as OpenSearch would: typed, with a reason and a status.

    The body is exactly what opensearch-py's ``_raise_error`` parses (``error.type`` and
    ``error.root_cause[0].reason``), so clients show our errors the way they show the cluster's.
    """

    status = 500
    error_type = "exception"

    def __init__(self, reason: str, *, status: int | None = None, error_type: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        cause = {"type": self.error_type, "reason": self.reason, **self.extra}
        # as OpenSearch: the root cause names the failure; only the top level carries caused_by
        root = {k: v for k, v in cause.items() if k != "caused_by"}
        return {"error": {"root_cause": [root], **cause}, "status": self.status}


class ParsingError(SearchError):
    status, error_type = 400, "parsing_exception"


class IllegalArgument(SearchError):
    status, error_type = 400, "illegal_argument_exception"


class MapperParsingError(SearchError):
    status, error_type = 400, "mapper_parsing_exception"


class ActionRequestValidation(SearchError):
    status, error_type = 400, "action_request_validation_exception"


class IndexNotFound(SearchError):
    status, error_type = 404, "index_not_found_exception"

    def __init__(self, index: str) -> None:
        super().__init__(f"no such index [{index}]",
                         extra={"index": index, "resource.type": "index_or_alias",
                                "resource.id": index, "index_uuid": "_na_"})


class ResourceAlreadyExists(SearchError):
    status, error_type = 400, "resource_already_exists_exception"

    def __init__(self, index: str) -> None:
        super().__init__(f"index [{index}/_na_] already exists", extra={"index": index})


class ResourceNotFound(SearchError):
    status, error_type = 404, "resource_not_found_exception"


class VersionConflict(SearchError):
    status, error_type = 409, "version_conflict_engine_exception"


class SearchContextMissing(SearchError):
    status, error_type = 404, "search_context_missing_exception"


class TooManyRequests(SearchError):
    status, error_type = 429, "rejected_execution_exception"


class UpstreamError(SearchError):
    """The cluster could not be reached or answered in time (502/504)."""

    status, error_type = 502, "upstream_exception"

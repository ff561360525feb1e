"""How OpenSearch words a failed request: shard errors under search_phase_execution_exception, errors nested in
the clause or body that held them, unreadable JSON per endpoint, and what localsearch refuses to imitate.

OpenSearch parses a request on the coordinating node (bad JSON, unknown queries and options: the error comes back
as it is) and builds and runs the query on each shard (a value the field cannot take, a vector of the wrong
dimension, sorting on a text field, a page past the result window): those come back grouped as "all shards
failed". localsearch raises the second kind as `ShardError` so the search code can group them the same way.
"""

from __future__ import annotations

from typing import Any

from searchcore.errors import SearchError

NODE = "localsearch"
DOCS = "docs/localsearch.md"


class Unsupported(SearchError):
    """What localsearch refuses rather than answer differently from OpenSearch (listed in docs/localsearch.md)."""

    status, error_type = 400, "illegal_argument_exception"


def unsupported(feature: str, error_type: str = "illegal_argument_exception") -> Unsupported:
    """A clear 400 that names the feature localsearch does not imitate."""
    return Unsupported(f"{feature} is not supported by localsearch (production clusters are OpenSearch; "
                       f"see {DOCS})", error_type=error_type)


def json_token(value: Any) -> str:
    """The Jackson token a JSON value starts with, as OpenSearch's parse errors name it."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    return "VALUE_NUMBER" if isinstance(value, (int, float)) else "VALUE_STRING"


def cause_json(error: SearchError) -> dict[str, Any]:
    """The error as an element of a `caused_by` chain."""
    if isinstance(error, WrappedError):
        return error.chain()
    return {"type": error.error_type, "reason": error.reason, **error.extra}


# Java's (and Jackson's) exceptions, as opposed to OpenSearch's own: OpenSearch names as the root cause the first
# of its own exceptions down a chain of causes (and the last of its own below that one), or else the outermost
# error. `[bool] failed to parse field [must]` is the root cause when a bad operator (an IllegalArgumentException)
# lies beneath it, and not when a parsing_exception does.
JAVA_ERRORS = frozenset({"illegal_argument_exception", "number_format_exception", "json_parse_exception",
                         "illegal_state_exception", "x_content_parse_exception", "zone_rules_exception",
                         "date_time_exception"})


def _own(error: SearchError) -> dict[str, Any]:
    return {k: v for k, v in cause_json(error).items() if k != "caused_by"}


def _cause_of(error: SearchError) -> SearchError | None:
    return error.cause if isinstance(error, WrappedError) and isinstance(error.cause, SearchError) else None


def _opensearch_root(error: SearchError) -> dict[str, Any] | None:
    cause = _cause_of(error)
    if error.error_type in JAVA_ERRORS:
        return _opensearch_root(cause) if cause is not None else None
    if cause is not None and cause.error_type not in JAVA_ERRORS:
        return _opensearch_root(cause)
    return _own(error)


def _root_of(error: SearchError) -> dict[str, Any]:
    found = _opensearch_root(error)
    return found if found is not None else _own(error)


class WrappedError(SearchError):
    """An error caused by another: OpenSearch names the innermost OpenSearch error as the root cause.

    `cause` is another SearchError (an OpenSearch error, which becomes the root cause) or a plain dict (a Java
    exception such as json_parse_exception, shown under caused_by but never as the root cause).
    """

    def __init__(self, reason: str, cause: SearchError | dict[str, Any], *, status: int | None = None,
                 error_type: str | None = None, extra: dict[str, Any] | None = None) -> None:
        status = status if status is not None else (cause.status if isinstance(cause, SearchError) else None)
        super().__init__(reason, status=status, error_type=error_type, extra=extra)
        self.cause = cause

    def chain(self) -> dict[str, Any]:
        inner = cause_json(self.cause) if isinstance(self.cause, SearchError) else self.cause
        return {"type": self.error_type, "reason": self.reason, **self.extra, "caused_by": inner}

    def root(self) -> dict[str, Any]:
        return _root_of(self)

    def body(self) -> dict[str, Any]:
        return {"error": {"root_cause": [self.root()], **self.chain()}, "status": self.status}


# ---- the coordinating node's parse errors ----------------------------------------------------

class XContentParseError(WrappedError):
    """A clause that failed to parse inside another: `[bool] failed to parse field [must]`."""

    status, error_type = 400, "x_content_parse_exception"

    def __init__(self, parent: str, field: str, cause: SearchError) -> None:
        super().__init__(f"[{parent}] failed to parse field [{field}]", cause, status=400)


def java_json_error(message: str) -> dict[str, Any]:
    """Jackson's complaint about unreadable JSON: a Java exception, so never a root cause."""
    return {"type": "json_parse_exception", "reason": message}


# How each endpoint reports a body that is not JSON (checked against OpenSearch 3.6).
MALFORMED_BODY = {
    "search": None,  # json_parse_exception itself
    "count": ("parsing_exception", "Failed to parse"),
    "content_map": ("parse_exception", "Failed to parse content to map"),  # create index, mapping, pipeline
    "document": ("mapper_parsing_exception", "failed to parse"),
    "scroll": ("illegal_argument_exception", "Failed to parse request body"),
}


def malformed_body(kind: str, message: str, *, at_end: bool = False, not_json: bool = False) -> SearchError:
    """`at_end`: the JSON stopped short (Jackson's json_e_o_f_exception); `not_json`: the bytes do not even
    start like JSON, which endpoints that read the body as a map refuse before parsing."""
    if not_json and kind == "content_map":
        return SearchError("Compressor detection can only be called on some xcontent bytes or compressed xcontent "
                           "bytes", status=400, error_type="not_x_content_exception")
    java = java_json_error(message)
    if at_end:
        java["type"] = "json_e_o_f_exception"
    wrapper = MALFORMED_BODY.get(kind)
    if wrapper is None:
        return SearchError(message, status=400, error_type=java["type"])
    error_type, reason = wrapper
    return _WrappedJava(reason, java, error_type)


class _WrappedJava(WrappedError):
    def __init__(self, reason: str, java: dict[str, Any], error_type: str) -> None:
        super().__init__(reason, java, status=400, error_type=error_type)


# ---- the shards' errors -----------------------------------------------------------------------

class ShardError(SearchError):
    """Raised while a shard builds or runs the query: reported under search_phase_execution_exception."""

    status, error_type = 400, "illegal_argument_exception"

    def shard_cause(self, index: str, index_uuid: str) -> dict[str, Any]:
        return cause_json(self)


class QueryShardError(ShardError):
    """query_shard_exception: it names the index whose mapping refused the query."""

    error_type = "query_shard_exception"

    def __init__(self, reason: str, *, caused_by: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra={"caused_by": caused_by} if caused_by else None)

    def shard_cause(self, index: str, index_uuid: str) -> dict[str, Any]:
        cause = {"type": self.error_type, "reason": self.reason, "index": index, "index_uuid": index_uuid}
        if "caused_by" in self.extra:
            cause["caused_by"] = self.extra["caused_by"]
        return cause


class ShardSearchException(ShardError):
    """search_exception: OpenSearch answers these with a 500 (a request check that sits in the shard)."""

    status, error_type = 500, "search_exception"


class SearchPhaseFailure(SearchError):
    """search_phase_execution_exception, with its root causes, failed shards and cause."""

    status, error_type = 400, "search_phase_execution_exception"

    def __init__(self, reason: str, *, root_causes: list[dict], failed_shards: list[dict],
                 caused_by: dict, status: int = 400, phase: str = "query") -> None:
        super().__init__(reason, status=status)
        self.root_causes, self.failed_shards, self.caused_by = root_causes, failed_shards, caused_by
        self.phase = phase

    def body(self) -> dict[str, Any]:
        return {"error": {"root_cause": self.root_causes, "type": self.error_type,
                          "reason": self.reason, "phase": self.phase, "grouped": True,
                          "failed_shards": self.failed_shards, "caused_by": self.caused_by},
                "status": self.status}


def shard_entry(error: ShardError, index: str, index_uuid: str, shard: int = 0) -> dict[str, Any]:
    """One element of `failed_shards` (and of a partial response's `_shards.failures`)."""
    return {"shard": shard, "index": index, "node": NODE, "reason": error.shard_cause(index, index_uuid)}


def all_shards_failed(failures: list[tuple[str, str, ShardError]]) -> SearchPhaseFailure:
    """Every shard of the search failed: (index, index uuid, error) per shard, the first one's cause on top."""
    roots, shards = [], []
    for index, index_uuid, error in failures:
        cause = error.shard_cause(index, index_uuid)
        root = {k: v for k, v in cause.items() if k != "caused_by"}
        if root not in roots:
            roots.append(root)
        shards.append(shard_entry(error, index, index_uuid))
    first = failures[0][2].shard_cause(failures[0][0], failures[0][1])
    # OpenSearch repeats a cause that has none of its own beneath itself
    top = first if "caused_by" in first else {**first, "caused_by": {k: v for k, v in first.items()}}
    return SearchPhaseFailure("all shards failed", root_causes=roots, failed_shards=shards, caused_by=top,
                              status=max(e.status for _, _, e in failures))


def shard_failure(error: ShardError, *, index: str, index_uuid: str = "_na_") -> SearchPhaseFailure:
    """A shard error on a one-shard index: 'all shards failed'."""
    return all_shards_failed([(index, index_uuid, error)])


def phase_failure(error: SearchError, phase: str = "query", reason: str = "The phase has failed"
                  ) -> SearchPhaseFailure:
    """An error after every shard answered (fusion, fetch): no shard to blame, no root cause."""
    return SearchPhaseFailure(
        reason, root_causes=[], failed_shards=[],
        caused_by={"type": error.error_type, "reason": error.reason}, status=error.status, phase=phase)

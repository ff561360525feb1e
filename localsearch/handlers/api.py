"""What every handler is given: the engine, and readers of the request's parameters, body and target indices."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.wrappers import Request

from localsearch.engine import Engine
from localsearch.failures import malformed_body
from searchcore.bodies import BodyNotJson, parse_json_body
from searchcore.errors import ParsingError, SearchError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 100 * 1024 * 1024  # OpenSearch's http.max_content_length


class ContentTooLong(SearchError):
    status, error_type = 413, "content_too_long_exception"


class Api:
    """The engine a handler works on, and how it reads a request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def params(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.args.items()}

    @staticmethod
    def raw(request: Request) -> bytes:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ContentTooLong(f"request body is larger than [{MAX_BODY_BYTES}] bytes")
        data = request.get_data(cache=True)
        if len(data) > MAX_BODY_BYTES:
            raise ContentTooLong(f"request body is larger than [{MAX_BODY_BYTES}] bytes")
        return data

    def json(self, request: Request, required: bool = False, malformed: str = "search") -> Any:
        """The body as JSON; unreadable JSON is reported the way the endpoint (`malformed`) reports it."""
        data = self.raw(request)
        try:
            body = parse_json_body(data)
        except BodyNotJson as exc:
            fault = exc.fault
            if fault.bad_utf8_byte is not None or fault.too_deep:
                raise malformed_body(malformed, fault.message, not_json=fault.not_json) from exc
            raise malformed_body(malformed, f"{fault.message}\n at [Source: REDACTED; line: {fault.line}, column: "
                                            f"{fault.column}]", at_end=fault.at_end, not_json=fault.not_json) from exc
        if body is None and required:
            raise SearchError("request body is required", status=400, error_type="parse_exception")
        return body

    def targets(self, request: Request, index: str | None) -> list[Any]:
        p = self.params(request)
        return self.engine.resolve(index, ignore_unavailable=p.get("ignore_unavailable") == "true",
                                   allow_no_indices=p.get("allow_no_indices", "true") != "false")


# A request's JSON holding the wrong type or form where a query, number or list is expected surfaces as one of
# these while the query is interpreted: the client's mistake (OpenSearch answers 400), not an internal error.
_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


@contextmanager
def malformed_request_is_400(what: str) -> Iterator[None]:
    try:
        yield
    except SearchError:
        raise
    except _SHAPE_ERRORS as exc:
        log.debug("malformed %s", what, exc_info=True)
        raise ParsingError(f"failed to parse the {what}: a value has the wrong type or form "
                           f"({type(exc).__name__})") from exc

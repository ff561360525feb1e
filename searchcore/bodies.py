"""Request bodies as the OpenSearch protocol sends them: one JSON document, or NDJSON header/body pairs.

Parsing is shared; how a failure is worded is the caller's (localsearch words it as the node's Jackson
parser does, the sidecar as a proxy does), so failures carry where and why, not a rendered message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from searchcore.errors import ActionRequestValidation, IllegalArgument, ParsingError


@dataclass(frozen=True)
class BodyFault:
    """Why a body is not JSON: the decoder's message and position, or the first byte that is not UTF-8."""

    message: str
    line: int = 1
    column: int = 1
    at_end: bool = False       # the JSON stopped short
    not_json: bool = False     # the bytes do not even start like JSON
    bad_utf8_byte: int | None = None
    too_deep: bool = False


class BodyNotJson(ParsingError):
    """A body that could not be read as JSON; `fault` says where and why."""

    def __init__(self, reason: str, fault: BodyFault, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra=extra)
        self.fault = fault


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON; None when it is empty or only whitespace."""
    if not raw or not raw.strip():
        return None
    not_json = raw.lstrip()[:1] not in (b"{", b"[")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BodyNotJson(f"request body is not valid UTF-8 (byte {exc.start})",
                          BodyFault(f"Invalid UTF-8 start byte at byte {exc.start}", not_json=not_json,
                                    bad_utf8_byte=exc.start)) from exc
    except json.JSONDecodeError as exc:
        raise BodyNotJson(f"Failed to parse request body: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          BodyFault(exc.msg, exc.lineno, exc.colno, at_end=exc.pos >= len(exc.doc.rstrip()),
                                    not_json=not_json),
                          extra={"line": exc.lineno, "col": exc.colno}) from exc
    except RecursionError as exc:
        raise BodyNotJson("request body is nested too deeply",
                          BodyFault("request body is nested too deeply", too_deep=True)) from exc


def parse_ndjson_pairs(payload: bytes) -> list[tuple[dict[str, Any], Any]]:
    """(header, body) pairs from an `_msearch` NDJSON payload, refused as OpenSearch refuses them."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IllegalArgument(f"msearch body is not valid UTF-8: {exc}") from exc
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise ActionRequestValidation("Validation Failed: 1: no requests added;")
    if len(lines) % 2:
        raise IllegalArgument("The msearch request must be terminated by a newline [\\n]" if not text.endswith("\n")
                              else "msearch request is missing a body line")
    pairs = []
    for i in range(0, len(lines), 2):
        try:
            header = json.loads(lines[i])
            body = json.loads(lines[i + 1])
        except json.JSONDecodeError as exc:
            raise ParsingError(f"Failed to parse msearch line {i + 1}: {exc.msg}") from exc
        except RecursionError as exc:
            raise ParsingError(f"msearch line {i + 1} is nested too deeply") from exc
        if not isinstance(header, dict):
            raise ParsingError(f"msearch header on line {i + 1} must be an object")
        pairs.append((header, body))
    return pairs

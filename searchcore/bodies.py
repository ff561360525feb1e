"""Bodies as the OpenSearch protocol sends them: one JSON document, or NDJSON header/body pairs; JSON answers.

Parsing is shared; how a failure is worded is the caller's (localsearch words it as the node's Jackson
parser does, the sidecar as a proxy does), so failures carry where and why, not a rendered message.
"""

from __future__ import annotations

import json
import re
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
        return _loads(raw.decode("utf-8"))
    except _SurrogateName as exc:
        raise BodyNotJson(f"Failed to parse request body: {exc}", BodyFault(str(exc), not_json=not_json)) from None
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


# a \u escape of a UTF-16 surrogate: only then can a lone one (valid JSON, not a character) be in the result
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _SurrogateName(ValueError):
    """A lone surrogate in an object key: Jackson, which the cluster parses with, refuses it (in values it is a
    Java string like any other)."""


def _loads(text: str) -> Any:
    if not _SURROGATE_ESCAPE.search(text):
        return json.loads(text)
    return json.loads(text, object_pairs_hook=_checked_names)


def _checked_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for name, _ in pairs:
        if not name.isascii():
            for position, char in enumerate(name):
                if "\ud800" <= char <= "\udbff" and not (position + 1 < len(name) and "\udc00" <= name[position + 1]
                                                          <= "\udfff"):
                    raise _SurrogateName("Broken surrogate pair in field name: expected '\\' to start low surrogate")
                if "\udc00" <= char <= "\udfff" and not (position and "\ud800" <= name[position - 1] <= "\udbff"):
                    raise _SurrogateName(f"Unexpected low surrogate in field name: 0x{ord(char):x}")
    return dict(pairs)


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
            header = _loads(lines[i])
            body = _loads(lines[i + 1])
        except json.JSONDecodeError as exc:
            raise ParsingError(f"Failed to parse msearch line {i + 1}: {exc.msg}") from exc
        except _SurrogateName as exc:
            raise ParsingError(f"Failed to parse msearch line {i + 1}: {exc}") from None
        except RecursionError as exc:
            raise ParsingError(f"msearch line {i + 1} is nested too deeply") from exc
        if not isinstance(header, dict):
            raise ParsingError(f"msearch header on line {i + 1} must be an object")
        pairs.append((header, body))
    return pairs


def json_text(value: Any) -> str:
    """`value` as JSON text that UTF-8 can encode: non-ASCII characters as they are, and, when a string holds a
    lone surrogate (`"\\ud800"` in a client's JSON is valid and parses to one), everything escaped instead, so
    the answer is the client's own escape back, never an encoding error."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def json_bytes(value: Any) -> bytes:
    """`json_text(value)` as UTF-8: what an HTTP answer carries."""
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value).encode("utf-8")


def replace_lone_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD, as Lucene does when it turns a Java
    string into a term's UTF-8 bytes; the value itself when it holds none (the common case costs one walk)."""
    if isinstance(value, str):
        if value.isascii() or not any("\ud800" <= char <= "\udfff" for char in value):
            return value
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        items = {k: replace_lone_surrogates(v) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, list):
        items = [replace_lone_surrogates(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value

"""What every source yields: records with a position, or the reason one could not be read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_MAX_DOC_BYTES = 10_000_000
SNIPPET_CHARS = 2000  # how much of a bad record the dead-letter file keeps


class SourceError(Exception):
    """The source as a whole cannot be read (missing file, unknown format)."""


@dataclass
class SourceRecord:
    """One record of a source, or why it could not be read; `position` orders records (0-based)."""

    position: int
    where: str  # "line 12", "row 3", "file notes/a.md": for people reading dead letters
    fields: dict[str, Any] | None = None
    error: str | None = None
    raw: str | None = None
    line: int | None = None
    default_id: str | None = None  # an id the source itself gives (a file path, a hit _id)


class Source(Protocol):
    """What the ingest run needs from a source."""

    description: str
    default_id_field: str | None
    default_text_fields: tuple[str, ...] | None

    def records(self, start: int = 0) -> Iterator[SourceRecord]: ...

    def estimate_total(self) -> int | None: ...

    def fingerprint(self) -> dict[str, Any]: ...

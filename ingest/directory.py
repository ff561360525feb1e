"""Directory source: text and Markdown files under a folder, one document per file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.records import DEFAULT_MAX_DOC_BYTES, SNIPPET_CHARS, SourceRecord

DIR_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")


@dataclass
class DirectorySource:
    """Text and Markdown files under a folder; the id is the path relative to the folder."""

    path: Path
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    suffixes: tuple[str, ...] = DIR_SUFFIXES
    default_id_field: str | None = "path"
    default_text_fields: tuple[str, ...] | None = ("title", "text")

    @property
    def description(self) -> str:
        return f"directory {self.path}"

    def _files(self) -> list[Path]:
        found = [p for p in self.path.rglob("*")
                 if p.is_file() and p.suffix.lower() in self.suffixes
                 and not any(part.startswith(".") for part in p.relative_to(self.path).parts)]
        return sorted(found, key=lambda p: p.relative_to(self.path).as_posix())

    def estimate_total(self) -> int | None:
        return len(self._files())

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for file in self._files():
            stat = file.stat()
            digest.update(f"{file.relative_to(self.path).as_posix()}\0{stat.st_size}\0"
                          f"{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        return {"format": "dir", "path": str(self.path.resolve()), "files": digest.hexdigest()}

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        for position, file in enumerate(self._files()):
            if position < start:
                continue
            yield self._record(position, file)

    def _record(self, position: int, file: Path) -> SourceRecord:
        relative = file.relative_to(self.path).as_posix()
        record = SourceRecord(position=position, where=f"file {relative}", default_id=relative)
        size = file.stat().st_size
        if size > self.max_doc_bytes:
            record.error = f"document is {size} bytes, over the limit of {self.max_doc_bytes} " \
                           "(--max-doc-bytes)"
            return record
        data = file.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            record.error = f"invalid UTF-8 at byte {exc.start} of the file"
            record.raw = data[:SNIPPET_CHARS].decode("utf-8", "replace")
            return record
        record.raw = text[:SNIPPET_CHARS]
        record.fields = {"path": relative, "title": _title_of(text, file), "text": text}
        return record


def _title_of(text: str, file: Path) -> str:
    """A Markdown file's first heading, else the file name without its extension."""
    match = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text[:10000], re.MULTILINE)
    if match and file.suffix.lower() in (".md", ".markdown"):
        return match.group(1)
    return file.stem.replace("_", " ").replace("-", " ")

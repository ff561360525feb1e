"""Opening a source: pick the reader for a file or folder by its format or its name."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.directory import DirectorySource
from ingest.files import BeirSource, CsvSource, JsonlSource, ParquetSource
from ingest.records import DEFAULT_MAX_DOC_BYTES, SNIPPET_CHARS, Source, SourceError, SourceRecord

FORMATS = ("jsonl", "csv", "parquet", "beir", "dir")
__all__ = ["DEFAULT_MAX_DOC_BYTES", "FORMATS", "SNIPPET_CHARS", "Source", "SourceError",
           "SourceRecord", "guess_format", "open_source"]


def open_source(path: str | os.PathLike[str], fmt: str | None = None, *,
                max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES) -> Source:
    """The source reading `path` in format `fmt` (guessed from the path when None)."""
    location = Path(path).expanduser()
    if not location.exists():
        raise SourceError(f"{location}: no such file or directory")
    fmt = fmt or guess_format(location)
    if fmt not in FORMATS:
        raise SourceError(f"unknown format [{fmt}]; expected one of {', '.join(FORMATS)}")
    if fmt in ("beir", "dir"):
        if not location.is_dir():
            raise SourceError(f"{location}: format {fmt} needs a directory")
        if fmt == "beir":
            return BeirSource(location, max_doc_bytes)
        return DirectorySource(location, max_doc_bytes)
    if not location.is_file():
        raise SourceError(f"{location}: format {fmt} needs a file, not a directory")
    if not os.access(location, os.R_OK):
        raise SourceError(f"{location}: permission denied")
    classes = {"jsonl": JsonlSource, "csv": CsvSource, "parquet": ParquetSource}
    source = classes[fmt](location, max_doc_bytes)
    if fmt == "csv" and location.suffix.lower() == ".tsv":
        source.delimiter = "\t"
    return source


def guess_format(path: Path) -> str:
    """The format a path most likely has: by folder contents or file extension."""
    if path.is_dir():
        return "beir" if (path / "corpus.jsonl").is_file() else "dir"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] in ([".jsonl"], [".ndjson"]):
        return "jsonl"
    if suffixes[-1:] in ([".csv"], [".tsv"]):
        return "csv"
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        return "parquet"
    raise SourceError(f"{path}: cannot tell the format from the name; pass --format "
                      f"({', '.join(FORMATS)})")

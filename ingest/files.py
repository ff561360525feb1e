"""File sources: JSON Lines, CSV/TSV, Parquet and BEIR folders, read record by record."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.records import DEFAULT_MAX_DOC_BYTES, SNIPPET_CHARS, SourceError, SourceRecord


@dataclass
class _FileSource:
    path: Path
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    default_id_field: str | None = None
    default_text_fields: tuple[str, ...] | None = None
    format: str = field(default="", init=False)

    def __post_init__(self) -> None:  # subclasses set their format here
        pass

    @property
    def description(self) -> str:
        return f"{self.format} file {self.path}"

    def fingerprint(self) -> dict[str, Any]:
        stat = self.path.stat()
        return {"format": self.format, "path": str(self.path.resolve()), "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns}

    def _too_big(self, size: int) -> str:
        return f"document is {size} bytes, over the limit of {self.max_doc_bytes} (--max-doc-bytes)"


class JsonlSource(_FileSource):
    """One JSON object per line; blank lines are ignored."""

    def __post_init__(self) -> None:
        self.format = "jsonl"

    def estimate_total(self) -> int | None:
        count = 0
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                count += block.count(b"\n")
        return count or None

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        position = 0
        with self.path.open("rb") as handle:
            for number, raw_line in enumerate(handle, start=1):
                if not raw_line.strip():
                    continue
                position += 1
                if position <= start:
                    continue
                yield self._parse(position - 1, number, raw_line)

    def _parse(self, position: int, number: int, raw_line: bytes) -> SourceRecord:
        record = SourceRecord(position=position, where=f"line {number}", line=number)
        if number == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        raw_line = raw_line.rstrip(b"\r\n")
        if len(raw_line) > self.max_doc_bytes:
            record.error = self._too_big(len(raw_line))
            record.raw = raw_line[:SNIPPET_CHARS].decode("utf-8", "replace")
            return record
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            record.error = f"invalid UTF-8 at byte {exc.start} of the line"
            record.raw = raw_line[:SNIPPET_CHARS].decode("utf-8", "replace")
            return record
        record.raw = text[:SNIPPET_CHARS]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            record.error = f"malformed JSON: {exc.msg} at column {exc.colno}"
            return record
        if not isinstance(value, dict):
            record.error = f"expected a JSON object, got {type(value).__name__}"
            return record
        record.fields = value
        return record


class CsvSource(_FileSource):
    """A CSV file with a header row; every column is a field."""

    delimiter: str = ","

    def __post_init__(self) -> None:
        self.format = "csv"

    def estimate_total(self) -> int | None:
        return None  # rows may span lines; counting would mean parsing twice

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        csv.field_size_limit(max(self.max_doc_bytes + 1, 131072))
        # surrogateescape keeps bad bytes readable so one bad row does not end the file
        with self.path.open("r", encoding="utf-8-sig", errors="surrogateescape",
                            newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise SourceError(f"{self.path}: cannot read the CSV header: {exc}") from exc
            if _has_surrogates("".join(header)):
                raise SourceError(f"{self.path}: the CSV header is not valid UTF-8")
            position = 0
            while True:
                first_line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    row, error = None, f"malformed CSV: {exc}"
                else:
                    error = None
                if row == []:
                    continue
                position += 1
                if position <= start:
                    continue
                yield self._record(position - 1, first_line, header, row, error)

    def _record(self, position: int, line: int, header: list[str], row: list[str] | None,
                error: str | None) -> SourceRecord:
        record = SourceRecord(position=position, where=f"line {line}", line=line, error=error)
        if row is None:
            return record
        joined = self.delimiter.join(row)
        record.raw = _printable(joined[:SNIPPET_CHARS])
        size = len(joined.encode("utf-8", "surrogateescape"))
        if size > self.max_doc_bytes:
            record.error = self._too_big(size)
        elif _has_surrogates(joined):
            record.error = "invalid UTF-8 in the row"
        elif len(row) != len(header):
            record.error = f"row has {len(row)} fields but the header has {len(header)}"
        else:
            record.fields = dict(zip(header, row, strict=True))
        return record


class ParquetSource(_FileSource):
    """A Parquet file, read in row batches; one row is one record."""

    def __post_init__(self) -> None:
        self.format = "parquet"

    def _file(self):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise SourceError(f"{self.path}: not a readable Parquet file: {exc}") from exc

    def estimate_total(self) -> int | None:
        return self._file().metadata.num_rows

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        position = 0
        for batch in self._file().iter_batches(batch_size=1024):
            if position + batch.num_rows <= start:
                position += batch.num_rows
                continue
            for row in batch.to_pylist():
                position += 1
                if position <= start:
                    continue
                yield self._record(position - 1, row)

    def _record(self, position: int, row: dict[str, Any]) -> SourceRecord:
        record = SourceRecord(position=position, where=f"row {position + 1}", line=position + 1)
        try:
            fields = {key: _jsonable(value) for key, value in row.items()}
            text = json.dumps(fields, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            record.error = f"value cannot be stored as JSON: {exc}"
            record.raw = repr(row)[:SNIPPET_CHARS]
            return record
        record.raw = text[:SNIPPET_CHARS]
        size = len(text.encode("utf-8"))
        if size > self.max_doc_bytes:
            record.error = self._too_big(size)
        else:
            record.fields = fields
        return record


class BeirSource(JsonlSource):
    """A BEIR dataset folder: its `corpus.jsonl` with `_id`, `title`, `text`."""

    def __post_init__(self) -> None:
        folder = self.path
        self.path = folder / "corpus.jsonl"
        if not self.path.is_file():
            raise SourceError(f"{folder}: a BEIR folder needs corpus.jsonl")
        self.format = "beir"
        self.default_id_field = self.default_id_field or "_id"
        self.default_text_fields = self.default_text_fields or ("title", "text")


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _jsonable(value: Any) -> Any:
    """Parquet values as JSON values; raises TypeError for what has no JSON form."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN or infinite number")
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"binary value is not UTF-8 text (byte {exc.start})") from exc
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    raise TypeError(f"unsupported type {type(value).__name__}")


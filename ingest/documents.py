"""Field mapping: turn a source record into a document with a stable id and the text to embed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.records import SourceRecord

AUTO_ID_FIELDS = ("_id", "id", "doc_id")
DEFAULT_TEXT_FIELDS = ("title", "text")
MAX_ID_BYTES = 512  # OpenSearch refuses longer ids
EMBED_SEPARATOR = " "
# Names OpenSearch reserves: a document's _source may not carry them.
METADATA_FIELDS = frozenset({"_id", "_index", "_source", "_routing", "_version", "_seq_no",
                             "_primary_term", "_type", "_field_names", "_ignored", "_score"})


class BadRecord(ValueError):
    """A record that cannot become a document; the reason goes to the dead-letter file."""


@dataclass(frozen=True)
class FieldMapping:
    """Which fields give the id, the text to embed, and the rest of `_source`."""

    id_field: str | None = None  # None: the source's own id, else the first of AUTO_ID_FIELDS
    text_fields: tuple[str, ...] = DEFAULT_TEXT_FIELDS
    keep_fields: tuple[str, ...] | None = None  # None: keep every field
    hash_ids: bool = False  # ignore any id field: the id is a hash of the content
    vector_field: str = "embedding"

    def __post_init__(self) -> None:
        if not self.text_fields:
            raise ValueError("at least one text field is needed")
        if self.vector_field in self.text_fields:
            raise ValueError(f"the vector field [{self.vector_field}] cannot be a text field")


@dataclass
class Document:
    """What is embedded and written: `_id`, `_source` without the vector, and the embedded text."""

    id: str
    source: dict[str, Any]
    text: str
    position: int
    where: str = ""
    line: int | None = None


def content_id(fields: Mapping[str, Any]) -> str:
    """A stable id from the content alone: the same record gives the same id on every run."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def to_document(record: SourceRecord, mapping: FieldMapping) -> Document:
    """Map a readable record to a Document, or raise BadRecord saying what is wrong."""
    if record.error is not None or record.fields is None:
        raise BadRecord(record.error or "unreadable record")
    fields = record.fields
    text = embed_text(fields, mapping.text_fields)
    doc_id = _document_id(record, fields, mapping)
    return Document(id=doc_id, source=_source_of(fields, mapping), text=text,
                    position=record.position, where=record.where, line=record.line)


def embed_text(fields: Mapping[str, Any], text_fields: Sequence[str]) -> str:
    """The text fields' values joined; raises BadRecord when missing, not text, or empty."""
    present = [name for name in text_fields if fields.get(name) is not None]
    if not present:
        raise BadRecord(f"missing text fields {list(text_fields)}")
    parts = []
    for name in present:
        value = fields[name]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = EMBED_SEPARATOR.join(value)
        if not isinstance(value, str):
            raise BadRecord(f"text field [{name}] is a {type(value).__name__}, not text")
        if value.strip():
            parts.append(value.strip())
    if not parts:
        raise BadRecord(f"empty text in fields {present}")
    return EMBED_SEPARATOR.join(parts)


def _document_id(record: SourceRecord, fields: Mapping[str, Any], mapping: FieldMapping) -> str:
    if mapping.hash_ids:
        return content_id(fields)
    if mapping.id_field is not None:
        if fields.get(mapping.id_field) is None:
            raise BadRecord(f"missing id field [{mapping.id_field}]")
        value = fields[mapping.id_field]
    elif record.default_id is not None:
        value = record.default_id
    else:
        name = next((n for n in AUTO_ID_FIELDS if fields.get(n) is not None), None)
        if name is None:
            return content_id(fields)
        value = fields[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRecord(f"id [{value!r}] is a {type(value).__name__}, not a string or integer")
    doc_id = str(value)
    if not doc_id.strip():
        raise BadRecord("empty id")
    if len(doc_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise BadRecord(f"id is longer than {MAX_ID_BYTES} bytes")
    return doc_id


def _source_of(fields: Mapping[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    if mapping.keep_fields is None:
        names = list(fields)
    else:
        wanted = (*mapping.keep_fields, *mapping.text_fields)
        names = [n for n in dict.fromkeys(wanted) if n in fields]
    return {name: fields[name] for name in names
            if name not in METADATA_FIELDS and name != mapping.vector_field}

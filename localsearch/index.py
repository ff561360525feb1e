"""One index in memory: its documents, inverted index, vector fields, and the refreshed view searches read."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tantivy

from localsearch.coercion import coerce_value, iter_leaf_values
from localsearch.lexical import LexicalIndex
from localsearch.mappings import Mapping
from localsearch.store import IndexRow
from localsearch.vectors import VectorField, check_vector
from searchcore.errors import MapperParsingError

METADATA_FIELDS = {"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term",
                   "_field_names", "_ignored", "_type", "_size", "_doc_count"}


@dataclass(frozen=True)
class StoredDoc:
    source: dict[str, Any]
    seq_no: int
    version: int
    ordinal: int


@dataclass(frozen=True)
class ParsedDoc:
    """A document checked against the mapping: what the inverted and vector indices receive."""

    values: dict[str, list[Any]]
    vectors: dict[str, np.ndarray]


@dataclass(frozen=True)
class View:
    """What searches see: the state as of the last refresh (a point in time)."""

    docs: dict[str, StoredDoc]
    lexical: LexicalIndex
    searcher: tantivy.Searcher
    ords: list[str]
    vectors: dict[str, VectorField]
    mapping: Mapping

    def doc_id(self, ordinal: int) -> str:
        return self.ords[ordinal]


@dataclass
class IndexState:
    name: str
    uuid: str
    created: int
    settings: dict[str, Any]
    mapping: Mapping
    next_seq_no: int = 0
    hnsw_threshold: int = 10_000
    live: dict[str, StoredDoc] = field(default_factory=dict)
    ords: list[str] = field(default_factory=list)
    dirty: bool = False
    last_refresh: float = field(default_factory=time.monotonic)
    tombstones: dict[str, int] = field(default_factory=dict)  # deleted id -> its delete's version (in memory)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.lexical = LexicalIndex(self.mapping, self.settings)
        self.vectors: dict[str, VectorField] = {}
        self._pending_vectors: dict[str, np.ndarray | None] = {}
        self._pending_vector_docs: dict[str, dict[str, np.ndarray]] = {}
        self._ensure_vector_fields()
        self.view = self._make_view()

    @classmethod
    def from_row(cls, row: IndexRow, hnsw_threshold: int) -> IndexState:
        return cls(row.name, row.uuid, row.created, row.settings, Mapping(row.mappings),
                   next_seq_no=row.next_seq_no, hnsw_threshold=hnsw_threshold)

    def row(self) -> IndexRow:
        return IndexRow(self.name, self.uuid, self.created, self.settings, self.mapping.to_json(),
                        self.next_seq_no)

    # ---- settings ----------------------------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get("index", {}).get(key, default)

    @property
    def refresh_interval(self) -> float | None:
        """Seconds between automatic refreshes, or None when disabled ("-1")."""
        return parse_interval(str(self.setting("refresh_interval", "1s")))

    # ---- documents ---------------------------------------------------------------------------
    def parse(self, doc_id: str, source: Any, mapping: Mapping | None = None) -> ParsedDoc:
        mapping = mapping or self.mapping
        if not isinstance(source, dict):
            raise MapperParsingError("failed to parse, document is empty" if not source else
                                     "failed to parse: source must be a JSON object")
        for key in source:
            if key in METADATA_FIELDS:
                raise MapperParsingError(f"Field [{key}] is a metadata field and cannot be added inside a "
                                         "document. Use the index API request parameters.")
        values: dict[str, list[Any]] = {}
        vectors: dict[str, np.ndarray] = {}
        vector_paths = frozenset(mapping.vector_fields())
        for path, raw in iter_leaf_values(source, opaque=vector_paths):
            spec = mapping.fields.get(path)
            if spec is None:
                continue
            if spec.type == "knn_vector":
                vector = check_vector(raw, spec.params["dimension"],
                                      spec.params["space_type"], field=path, doc_id=doc_id)
                if vector is not None:
                    vectors[path] = vector
                continue
            coerced = [coerce_value(spec, v, doc_id) for v in raw]
            values[path] = coerced
            for sub_path in mapping.subfields.get(path, []):
                values[sub_path] = [coerce_value(mapping.fields[sub_path], v, doc_id) for v in raw]
        return ParsedDoc(values, vectors)

    def apply_write(self, doc_id: str, source: dict[str, Any], seq_no: int, version: int,
                    parsed: ParsedDoc) -> None:
        with self.lock:
            ordinal = len(self.ords)
            self.ords.append(doc_id)
            self.live[doc_id] = StoredDoc(source, seq_no, version, ordinal)
            self.lexical.add(ordinal, doc_id, parsed.values)
            self._pending_vector_docs[doc_id] = parsed.vectors
            self.dirty = True

    def apply_delete(self, doc_id: str) -> None:
        with self.lock:
            self.live.pop(doc_id, None)
            self.lexical.delete(doc_id)
            self._pending_vector_docs[doc_id] = {}
            self.dirty = True

    def set_mapping(self, mapping: Mapping) -> None:
        """Take a mapping with new fields: the inverted index is rebuilt with the new schema."""
        with self.lock:
            self.mapping = mapping
            rebuilt = LexicalIndex(mapping, self.settings)
            for doc_id, stored in self.live.items():
                rebuilt.add(stored.ordinal, doc_id, self.parse(doc_id, stored.source).values)
            self.lexical = rebuilt
            self._ensure_vector_fields()
            self.refresh()

    def _ensure_vector_fields(self) -> None:
        for path, spec in self.mapping.vector_fields().items():
            if path not in self.vectors:
                p = spec.params
                self.vectors[path] = VectorField(
                    p["dimension"], p["space_type"], m=p["m"], ef_construction=p["ef_construction"],
                    ef_search=p["ef_search"], hnsw_threshold=self.hnsw_threshold)

    # ---- refresh -----------------------------------------------------------------------------
    def refresh(self) -> None:
        with self.lock:
            self.lexical.commit()
            self._apply_pending_vectors()
            self.view = self._make_view()
            self.dirty = False
            self.last_refresh = time.monotonic()

    def _apply_pending_vectors(self) -> None:
        pending, self._pending_vector_docs = self._pending_vector_docs, {}
        for path, vector_field in self.vectors.items():
            upsert_ids = [d for d, vecs in pending.items() if path in vecs]
            delete_ids = [d for d, vecs in pending.items() if path not in vecs]
            if delete_ids:
                vector_field.delete(delete_ids)
            if upsert_ids:
                matrix = np.stack([pending[d][path] for d in upsert_ids]).astype(np.float32)
                vector_field.upsert(upsert_ids, matrix)

    def _make_view(self) -> View:
        return View(dict(self.live), self.lexical, self.lexical.searcher, self.ords, self.vectors,
                    self.mapping)


def derived_source(source: dict[str, Any], vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The _source a k-NN index returns: OpenSearch 3 rebuilds vector fields from the stored float32 values
    (index.knn.derived_source), so `["1", 2]` comes back as `[1.0, 2.0]` and every number at float32 precision."""
    out = copy.deepcopy(source)
    for path, vector in vectors.items():
        parent: Any = out
        *heads, leaf = path.split(".")
        for head in heads:
            parent = parent.get(head) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and leaf in parent:
            parent[leaf] = [float(str(np.float32(x))) for x in vector]
    return out


def parse_interval(text: str) -> float | None:
    """OpenSearch time values ("1s", "500ms", "2m", "-1") to seconds; None for -1."""
    text = text.strip()
    if text in ("-1", ""):
        return None
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    if text.isdigit():
        return float(text) / 1000.0
    raise ValueError(f"failed to parse setting [refresh_interval] with value [{text}] as a time value")

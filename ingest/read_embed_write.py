"""The ingest pipeline: read → embed → write on three threads joined by bounded queues.

Embedding (torch releases the GIL) overlaps with reading and with bulk writes, so neither the
model nor the cluster waits on the other. One writer acknowledges groups in source order, which
lets it checkpoint a single position: every record before it is written or dead-lettered.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.checkpoint import Checkpoint, CheckpointStore
from ingest.deadletter import DeadLetterFile
from ingest.documents import BadRecord, Document, FieldMapping, to_document
from ingest.embed import Embedder
from ingest.progress import Progress
from ingest.records import SourceRecord
from ingest.write import BulkWriter

log = logging.getLogger(__name__)

COUNT_KEYS = ("read", "embedded", "written", "failed", "skipped")
_DONE = object()


class Interrupted(Exception):
    """The run stopped on Ctrl-C after saving its checkpoint."""


@dataclass
class Batch:
    """Consecutive source records: the documents to embed and the records already rejected."""

    docs: list[Document] = field(default_factory=list)
    rejects: list[tuple[SourceRecord | Document, str, str]] = field(default_factory=list)
    records: int = 0
    end_position: int = 0
    skipped: int = 0
    vectors: np.ndarray | None = None


@dataclass
class _Failure:
    exc: BaseException


@dataclass
class FlowSettings:
    batch_size: int = 512  # records per embedding call: large enough to sort by length well
    bulk_docs: int = 500  # documents per bulk request, at most
    queue_batches: int = 4  # how far reading and embedding may run ahead of writing
    source_name: str | None = None  # recorded in dead letters


# Given a batch of documents, the ids already in the target index (used to resume --from-index).
ExistingIds = Callable[[list[str]], set[str]]


class IngestFlow:
    """Runs one pass over the records; counts and the checkpoint are updated as writes land."""

    def __init__(self, records: Iterator[SourceRecord], mapping: FieldMapping,
                 embedder: Embedder, writer: BulkWriter, dead_letters: DeadLetterFile,
                 store: CheckpointStore | None, checkpoint: Checkpoint, *,
                 settings: FlowSettings | None = None, progress: Progress | None = None,
                 existing_ids: ExistingIds | None = None) -> None:
        self.records = records
        self.mapping = mapping
        self.embedder = embedder
        self.writer = writer
        self.dead_letters = dead_letters
        self.store = store
        self.checkpoint = checkpoint
        self.settings = settings or FlowSettings()
        self.progress = progress
        self.existing_ids = existing_ids
        self.counts = {key: int(checkpoint.counts.get(key, 0)) for key in COUNT_KEYS}
        self._stop = threading.Event()
        self._embedded: queue.Queue[Any] = queue.Queue(self.settings.queue_batches)
        self._read: queue.Queue[Any] = queue.Queue(self.settings.queue_batches)
        self._writer_error: BaseException | None = None

    def run(self) -> dict[str, int]:
        """Process every record; raises what stopped the run (after checkpointing)."""
        reader = threading.Thread(target=self._read_loop, name="ingest-read", daemon=True)
        writer = threading.Thread(target=self._write_loop, name="ingest-write", daemon=True)
        reader.start()
        writer.start()
        try:
            self._embed_loop()
        except KeyboardInterrupt:
            self._stop.set()
            self._finish(writer)
            raise Interrupted("interrupted") from None
        except BaseException:
            self._stop.set()
            self._finish(writer)
            raise
        self._finish(writer)
        if self._writer_error is not None:
            raise self._writer_error
        return self.counts

    def _finish(self, writer: threading.Thread) -> None:
        # The writer drains what was embedded already, so Ctrl-C loses no finished work.
        self._put(self._embedded, _DONE, force=True)
        writer.join()

    def _put(self, q: queue.Queue[Any], item: Any, *, force: bool = False) -> bool:
        while force or not self._stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                if force and self._writer_error is not None:
                    return False
        return False

    # reader thread ---------------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            batch = Batch()
            for record in self.records:
                if self._stop.is_set():
                    return
                try:
                    batch.docs.append(to_document(record, self.mapping))
                except BadRecord as exc:
                    batch.rejects.append((record, str(exc), "read"))
                batch.records += 1
                batch.end_position = record.position + 1
                if batch.records >= self.settings.batch_size:
                    if not self._put(self._read, batch):
                        return
                    batch = Batch()
            if batch.records:
                self._put(self._read, batch)
            self._put(self._read, _DONE)
        except BaseException as exc:  # handed to the embedding thread, which re-raises it
            self._put(self._read, _Failure(exc))

    # embedding (calling thread) ----------------------------------------------------------
    def _embed_loop(self) -> None:
        while True:
            item = self._get(self._read)
            if item is _DONE or item is None:
                return
            if isinstance(item, _Failure):
                raise item.exc
            self._skip_existing(item)
            item.vectors = self._embed(item)
            if not self._put(self._embedded, item):
                return

    def _get(self, q: queue.Queue[Any]) -> Any:
        while not self._stop.is_set():
            try:
                return q.get(timeout=0.2)
            except queue.Empty:
                continue
        return None

    def _skip_existing(self, batch: Batch) -> None:
        if self.existing_ids is None or not batch.docs:
            return
        present = self.existing_ids([doc.id for doc in batch.docs])
        if present:
            batch.skipped += sum(doc.id in present for doc in batch.docs)
            batch.docs = [doc for doc in batch.docs if doc.id not in present]

    def _embed(self, batch: Batch) -> np.ndarray:
        texts = [doc.text for doc in batch.docs]
        try:
            vectors = self.embedder.embed(texts)
        except Exception as exc:  # isolate the document that breaks the model
            log.warning("embedding a batch failed (%s); embedding its documents one by one", exc)
            return self._embed_one_by_one(batch)
        bad = ~np.isfinite(vectors).all(axis=1) if len(vectors) else np.zeros(0, bool)
        if bad.any():
            keep = [doc for doc, b in zip(batch.docs, bad, strict=True) if not b]
            batch.rejects.extend((doc, "the model produced a non-finite vector", "embed")
                                 for doc, b in zip(batch.docs, bad, strict=True) if b)
            batch.docs, vectors = keep, vectors[~bad]
        return vectors

    def _embed_one_by_one(self, batch: Batch) -> np.ndarray:
        kept, rows = [], []
        for doc in batch.docs:
            try:
                row = self.embedder.embed([doc.text])
            except Exception as exc:
                batch.rejects.append((doc, f"embedding failed: {type(exc).__name__}: {exc}",
                                      "embed"))
                continue
            if not np.isfinite(row).all():
                batch.rejects.append((doc, "the model produced a non-finite vector", "embed"))
                continue
            kept.append(doc)
            rows.append(row[0])
        batch.docs = kept
        return np.vstack(rows) if rows else np.zeros((0, self.embedder.dimension), np.float32)

    # writer thread -----------------------------------------------------------------------
    def _write_loop(self) -> None:
        done = False
        while not done:
            item = self._embedded.get()
            if item is _DONE:
                return
            group = [item]
            # Merge what is already waiting into one bulk request, up to bulk_docs documents.
            while sum(len(b.docs) for b in group) < self.settings.bulk_docs:
                try:
                    extra = self._embedded.get_nowait()
                except queue.Empty:
                    break
                if extra is _DONE:
                    done = True
                    break
                group.append(extra)
            try:
                self._write_group(group)
            except BaseException as exc:
                self._writer_error = exc
                self._stop.set()
                return

    def _write_group(self, group: list[Batch]) -> None:
        docs = [doc for batch in group for doc in batch.docs]
        vectors = [batch.vectors for batch in group if batch.vectors is not None and len(batch.docs)]
        outcome = self.writer.write(docs, np.vstack(vectors)) if docs else None
        failed = 0
        for batch in group:
            for item, reason, stage in batch.rejects:
                self._dead_letter(item, reason, stage)
                failed += 1
        if outcome is not None:
            for doc, reason in outcome.failures:
                self._dead_letter(doc, reason, "write")
                failed += 1
        records = sum(batch.records for batch in group)
        self.counts["read"] += records
        self.counts["embedded"] += len(docs)
        self.counts["written"] += outcome.written if outcome else 0
        self.counts["failed"] += failed
        self.counts["skipped"] += sum(batch.skipped for batch in group)
        self.checkpoint.position = group[-1].end_position
        self.checkpoint.dead_letter_bytes = self.dead_letters.sync()
        self.checkpoint.counts = dict(self.counts)
        if self.store is not None:
            self.store.save(self.checkpoint)
        if self.progress is not None:
            self.progress.update(records, failed)

    def _dead_letter(self, item: SourceRecord | Document, reason: str, stage: str) -> None:
        if isinstance(item, Document):
            self.dead_letters.add(reason=reason, stage=stage, where=item.where or None,
                                  line=item.line, position=item.position, doc_id=item.id,
                                  source=self.settings.source_name, record=item.source)
        else:
            self.dead_letters.add(reason=reason, stage=stage, where=item.where, line=item.line,
                                  position=item.position, source=self.settings.source_name,
                                  record=item.fields if item.fields is not None else item.raw)

"""VectorField: one knn_vector field's vectors, searched exactly or by HNSW, safe under concurrent reads and writes."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from localsearch.vectors.backends import Backend, new_backend
from localsearch.vectors.exact import ExactBackend
from localsearch.vectors.rows import Rows
from localsearch.vectors.scores import SPACE_TYPES, best_rows, knn_scores, raw_measure
from localsearch.vectors.values import zero_vector_reason
from searchcore.errors import IllegalArgument, MapperParsingError

# OpenSearch k-NN's cost model for filtered search (KNNConstants.MAX_DISTANCE_COMPUTATIONS): when the
# allowed set times the dimension is at most this, exact search over the set beats the graph.
MAX_DISTANCE_COMPUTATIONS = 2_048_000
# Deleted or replaced rows stay in the HNSW graph as tombstones until they pass this share of the rows.
REBUILD_TOMBSTONE_RATIO = 0.2


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers so it is not starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class VectorField:
    """The vectors of one knn_vector field, keyed by document `_id`, searched by OpenSearch's k-NN score.

    Exact search while the field holds at most `hnsw_threshold` live vectors, HNSW past it. Searches
    run concurrently under a shared lock and see a consistent state; writes take it exclusively.
    """

    def __init__(self, dimension: int, space_type: str = "l2", *, m: int = 16, ef_construction: int = 100,
                 ef_search: int = 100, hnsw_threshold: int = 10_000) -> None:
        if space_type not in SPACE_TYPES:
            raise IllegalArgument(f"Unable to find space: {space_type}")
        if dimension < 1:
            raise IllegalArgument(f"Dimension value must be greater than 0, got [{dimension}]")
        self.dimension, self.space_type = dimension, space_type
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.hnsw_threshold = hnsw_threshold
        self._lock = _ReadWriteLock()
        self._rebuild_lock = threading.Lock()
        self._rows = Rows(dimension)
        self._row_of: dict[str, int] = {}
        self._backend: Backend = ExactBackend(space_type)  # empty: exact until the first rebuild picks

    @property
    def backend(self) -> str:
        """Which index answers unfiltered searches now: "exact" or "hnsw"."""
        return self._backend.name

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_of

    # ---- writes --------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors, replacing those of ids already present; the last of repeated ids wins."""
        ids, vectors = self._checked_batch(ids, vectors)
        if not ids:
            return
        with self._lock.write():
            for id_ in ids:
                old = self._row_of.get(id_)
                if old is not None:
                    self._rows.live[old] = False
            self._row_of.update(zip(ids, self._rows.append(ids, vectors), strict=True))
            self._backend.add(vectors)
        self._maybe_rebuild()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove the ids' vectors; ids not present are ignored."""
        with self._lock.write():
            for id_ in ids:
                row = self._row_of.pop(id_, None)
                if row is not None:
                    self._rows.live[row] = False
        self._maybe_rebuild()

    def _checked_batch(self, ids: Sequence[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        ids = list(ids)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1 and len(ids) == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            given = vectors.shape[-1] if vectors.ndim else 0
            raise MapperParsingError(f"Vector dimension mismatch. Expected: {self.dimension}, Given: {given}")
        if len(vectors) != len(ids):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        if not np.isfinite(vectors).all():
            nan = np.isnan(vectors).any()
            raise IllegalArgument(f"KNN vector values cannot be {'NaN' if nan else 'infinity'}")
        last = {id_: i for i, id_ in enumerate(ids)}
        if len(last) < len(ids):
            keep = sorted(last.values())
            ids, vectors = [ids[i] for i in keep], vectors[keep]
        if self.space_type == "cosinesimil":
            norms = np.linalg.norm(vectors, axis=1)
            if not norms.all():
                raise IllegalArgument(zero_vector_reason(self.space_type))
            vectors = vectors / norms[:, None]
        return ids, np.ascontiguousarray(vectors)

    # ---- reads ---------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, *,
               allowed: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The k best (id, score) by OpenSearch's k-NN score, best first, ties by id.

        `allowed` restricts the result to those ids (the k-NN query's `filter`): exact search over
        them when few, as OpenSearch does, else the index searched with the set as a selector.
        """
        query = self._checked_query(query)
        if k <= 0:
            return []
        with self._lock.read():
            rows = self._candidate_rows(query, k, allowed)
            return self._ranked(query, rows, k)

    def scores(self, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Exact scores of the given ids; ids not present are left out."""
        query = self._checked_query(query)
        with self._lock.read():
            found = [(id_, row) for id_ in ids if (row := self._row_of.get(id_)) is not None]
            if not found:
                return {}
            rows = np.fromiter((row for _, row in found), dtype=np.int64, count=len(found))
            scores = self._exact_scores(query, rows).tolist()
        return {id_: score for (id_, _), score in zip(found, scores, strict=True)}

    def _checked_query(self, query: np.ndarray) -> np.ndarray:
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if len(query) != self.dimension:
            raise IllegalArgument(f"Query vector has invalid dimension: {len(query)}. "
                                  f"Dimension should be: {self.dimension}")
        if not np.isfinite(query).all():
            raise IllegalArgument(
                f"KNN vector values cannot be {'NaN' if np.isnan(query).any() else 'infinity'}")
        if self.space_type == "cosinesimil":
            norm = np.linalg.norm(query)
            if not norm:
                raise IllegalArgument(zero_vector_reason(self.space_type))
            query = query / norm
        return query

    def _candidate_rows(self, query: np.ndarray, k: int, allowed: Collection[str] | None) -> np.ndarray:
        rows, live = self._rows, len(self._row_of)
        if not live:
            return np.empty(0, dtype=np.int64)
        if allowed is None:
            mask = None if live == rows.count else rows.live[:rows.count]
            return self._index_candidates(query, k, mask, live)
        row_of = self._row_of
        allowed_rows = np.array([row_of[i] for i in allowed if i in row_of], dtype=np.int64)
        if not isinstance(allowed, set | frozenset):
            allowed_rows = np.unique(allowed_rows)  # a list may repeat an id
        if len(allowed_rows) <= k or len(allowed_rows) * self.dimension <= MAX_DISTANCE_COMPUTATIONS:
            return allowed_rows
        mask = np.zeros(rows.count, dtype=bool)
        mask[allowed_rows] = True
        return self._index_candidates(query, k, mask, len(allowed_rows))

    def _index_candidates(self, query: np.ndarray, k: int, mask: np.ndarray | None,
                          available: int) -> np.ndarray:
        found = self._backend.candidates(self._rows, query, k, mask)
        if len(found) < min(k, available):
            # A selective filter or many tombstones can leave HNSW short: exact search, as OpenSearch does.
            found = ExactBackend(self.space_type).candidates(self._rows, query, k, mask)
        return found

    def _ranked(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not len(rows):
            return []
        scores = self._exact_scores(query, rows)
        best = best_rows(scores, k, 0.0)  # exact scores: only true ties at the k-th come along
        ids = self._rows.ids
        ranked = sorted(((ids[rows[i]], s) for i, s in zip(best.tolist(), scores[best].tolist(), strict=True)),
                        key=lambda pair: (-pair[1], pair[0]))
        return ranked[:k]

    def _exact_scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return knn_scores(raw_measure(self._rows.matrix[rows], query, self.space_type), self.space_type)

    # ---- rebuilds ------------------------------------------------------------------------------
    def _rebuild_due(self) -> bool:
        total, live = self._rows.count, len(self._row_of)
        if total - live > REBUILD_TOMBSTONE_RATIO * total:
            return True
        return self._backend.name == "exact" and live > self.hnsw_threshold

    def _maybe_rebuild(self) -> None:
        if self._rebuild_due() and self._rebuild_lock.acquire(blocking=False):
            try:
                self._rebuild()
            finally:
                self._rebuild_lock.release()

    def _rebuild(self) -> None:
        """Compact the live rows into a fresh index (HNSW past the threshold) and swap it in.

        The slow part, building the graph, runs outside the lock: searches and writes go on against
        the old index, and the writes made meanwhile are carried over when the new one is swapped in.
        """
        with self._lock.read():
            old = self._rows
            snapshot_count = old.count
            kept = np.flatnonzero(old.live[:snapshot_count])
            vectors = old.matrix[kept]
            ids = [old.ids[row] for row in kept.tolist()]
        fresh = Rows(self.dimension, capacity=2 * len(kept))
        fresh.append(ids, vectors)
        backend = new_backend(len(kept), self.dimension, self.space_type, hnsw_threshold=self.hnsw_threshold,
                              m=self.m, ef_construction=self.ef_construction, ef_search=self.ef_search)
        backend.add(vectors)
        row_of = dict(zip(ids, range(len(ids)), strict=True))
        with self._lock.write():
            current = self._rows
            still_live = current.live[kept]  # a row deleted or replaced since the snapshot is a tombstone now
            fresh.live[:len(kept)] = still_live
            for i in np.flatnonzero(~still_live).tolist():
                del row_of[ids[i]]
            tail = snapshot_count + np.flatnonzero(current.live[snapshot_count:current.count])
            if len(tail):
                tail_ids = [current.ids[row] for row in tail.tolist()]
                tail_vectors = current.matrix[tail]
                row_of.update(zip(tail_ids, fresh.append(tail_ids, tail_vectors), strict=True))
                backend.add(tail_vectors)
            self._rows, self._row_of, self._backend = fresh, row_of, backend

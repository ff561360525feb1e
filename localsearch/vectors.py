"""k-NN index of one knn_vector field: exact (numpy) or HNSW (faiss) search, scored as OpenSearch does."""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from searchcore.errors import IllegalArgument, MapperParsingError

SPACE_TYPES = ("l2", "cosinesimil", "innerproduct")
# OpenSearch k-NN's cost model for filtered search (KNNConstants.MAX_DISTANCE_COMPUTATIONS): when the
# allowed set times the dimension is at most this, exact search over the set beats the graph.
MAX_DISTANCE_COMPUTATIONS = 2_048_000
# Deleted or replaced rows stay in the HNSW graph as tombstones until they pass this share of the rows.
REBUILD_TOMBSTONE_RATIO = 0.2
_MIN_CAPACITY = 64
# Relative slack when picking candidates by matrix product: rows this close to the k-th are rescored
# exactly too, so float rounding in the product never decides who makes the cut.
_CANDIDATE_SLACK = 1e-5


# ---- scores ------------------------------------------------------------------------------------

def knn_scores(raw: np.ndarray, space_type: str) -> np.ndarray:
    """OpenSearch's k-NN score from the raw measure (squared L2 distance, cosine, or inner product)."""
    raw = np.asarray(raw, dtype=np.float32)
    one = np.float32(1)
    if space_type == "l2":
        return one / (one + raw)
    if space_type == "cosinesimil":
        return (one + np.clip(raw, -one, one)) / np.float32(2)
    return np.where(raw >= 0, raw + one, one / (one - np.minimum(raw, 0)))


def _raw_measure(vectors: np.ndarray, query: np.ndarray, space_type: str) -> np.ndarray:
    """The measure the score is computed from, row by row: exact, no norm expansion."""
    if space_type == "l2":
        diff = vectors - query
        return np.einsum("ij,ij->i", diff, diff)
    return vectors @ query


def _best_rows(similarity: np.ndarray, k: int, slack: float) -> np.ndarray:
    """Rows of the k highest similarities (-inf never), plus any within `slack` of the k-th."""
    if k >= len(similarity):
        return np.flatnonzero(similarity > -np.inf)
    top = np.argpartition(-similarity, k - 1)[:k]
    kth = similarity[top].min()
    if kth == -np.inf:
        return top[similarity[top] > -np.inf]
    return np.flatnonzero(similarity >= kth - slack)


# ---- parsing a document's value ----------------------------------------------------------------

class _Rejected(Exception):
    """Why a knn_vector value was refused: the cause OpenSearch nests under `caused_by`."""

    def __init__(self, error_type: str, reason: str, preview: Any = None) -> None:
        super().__init__(reason)
        self.error_type, self.reason, self.preview = error_type, reason, preview


_JAVA_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?")
_JACKSON_TOKENS = {True: "VALUE_TRUE", False: "VALUE_FALSE", None: "VALUE_NULL"}


def check_vector(value: Any, dimension: int, space_type: str = "l2", *, field: str | None = None,
                 doc_id: str | None = None) -> np.ndarray | None:
    """Parse a document's knn_vector value as OpenSearch's mapper does; None when the value is null.

    Accepts a list of numbers (numeric strings are coerced, like OpenSearch) or a single number.
    With `field` and `doc_id` the error is OpenSearch's exactly: "failed to parse field [...] of
    type [knn_vector] in document with id '...'" with the cause under `caused_by`; without them the
    cause's own message is the reason.
    """
    if value is None:
        return None
    try:
        vector = _parse_floats(value)
        if len(vector) != dimension:
            raise _Rejected("illegal_argument_exception",
                            f"Vector dimension mismatch. Expected: {dimension}, Given: {len(vector)}",
                            None if isinstance(value, list) or _is_number(value) else value)
        if space_type == "cosinesimil" and not vector.any():
            raise _Rejected("illegal_argument_exception", _zero_vector_reason(space_type))
    except _Rejected as exc:
        if field is None or doc_id is None:
            raise MapperParsingError(exc.reason) from None
        raise MapperParsingError(
            f"failed to parse field [{field}] of type [knn_vector] in document with id '{doc_id}'. "
            f"Preview of field's value: '{_java_str(exc.preview)}'",
            extra={"caused_by": {"type": exc.error_type, "reason": exc.reason}}) from None
    return vector


def _parse_floats(value: Any) -> np.ndarray:
    if isinstance(value, list) and all(type(item) in (float, int) for item in value):
        # the common case, a list of JSON numbers: one vectorised conversion instead of one call per item
        with np.errstate(over="ignore"):
            try:
                fast = np.asarray(value, dtype=np.float32)
            except OverflowError:
                fast = None
        if fast is not None and np.isfinite(fast).all():
            return fast
    if isinstance(value, list):
        items = value
    elif _is_number(value):
        items = [value]
    else:  # OpenSearch reads nothing from a string, boolean or object here: "Given: 0"
        items = []
    vector = np.empty(len(items), dtype=np.float32)
    for i, item in enumerate(items):
        vector[i] = _parse_float(item)
    return vector


def _parse_float(item: Any) -> np.float32:
    if isinstance(item, str):
        number = _java_parse_float(item)
    elif _is_number(item):
        try:
            number = float(item)
        except OverflowError:  # an integer past float range: Java's float conversion gives infinity
            number = math.copysign(math.inf, item)
    else:
        token = _JACKSON_TOKENS.get(item) if isinstance(item, bool) or item is None else (
            "START_ARRAY" if isinstance(item, list) else "START_OBJECT")
        raise _Rejected("json_parse_exception",
                        f"Current token ({token}) not numeric, can not use numeric value accessors",
                        item)
    with np.errstate(over="ignore"):
        as_float32 = np.float32(number)
    if np.isnan(as_float32):
        raise _Rejected("illegal_argument_exception", "KNN vector values cannot be NaN", item)
    if np.isinf(as_float32):
        raise _Rejected("illegal_argument_exception", "KNN vector values cannot be infinity", item)
    return as_float32


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _java_parse_float(text: str) -> float:
    """Java's Float.parseFloat, which OpenSearch uses to coerce numeric strings."""
    stripped = text.strip()
    unsigned = stripped.lstrip("+-")
    if unsigned in ("NaN", "Infinity") and len(stripped) - len(unsigned) <= 1:
        return float(stripped.replace("Infinity", "inf"))
    if _JAVA_FLOAT.fullmatch(stripped):
        return float(stripped.rstrip("fFdD"))
    raise _Rejected("number_format_exception",
                    "empty String" if not stripped else f'For input string: "{text}"', text)


def _java_str(value: Any) -> str:
    """How Java prints the parsed value in OpenSearch's "Preview of field's value"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if value == 0 or 1e-3 <= abs(value) < 1e7:
            return repr(value)
        mantissa, exponent = np.format_float_scientific(value, unique=True, trim="0").split("e")
        return f"{mantissa}E{int(exponent)}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


def _zero_vector_reason(space_type: str) -> str:
    return f"zero vector is not supported when space type is [{space_type}]"


# ---- storage and backends ----------------------------------------------------------------------

class _Rows:
    """Append-only vectors with their ids and live flags; row numbers hold until a rebuild."""

    def __init__(self, dimension: int, capacity: int = 0) -> None:
        capacity = max(capacity, _MIN_CAPACITY)
        self.matrix = np.empty((capacity, dimension), dtype=np.float32)
        self.sq_norms = np.empty(capacity, dtype=np.float32)
        self.live = np.zeros(capacity, dtype=bool)
        self.ids: list[str] = []

    @property
    def count(self) -> int:
        return len(self.ids)

    def append(self, ids: list[str], vectors: np.ndarray) -> range:
        start, end = self.count, self.count + len(ids)
        if end > len(self.matrix):
            self._grow(end)
        self.matrix[start:end] = vectors
        self.sq_norms[start:end] = np.einsum("ij,ij->i", vectors, vectors)
        self.live[start:end] = True
        self.ids.extend(ids)
        return range(start, end)

    def _grow(self, needed: int) -> None:
        # Doubling keeps appends amortised O(1) where np.vstack per call would be O(n).
        capacity = max(needed, 2 * len(self.matrix))
        for name in ("matrix", "sq_norms", "live"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[:self.count] = old[:self.count]
            setattr(self, name, new)


class _ExactBackend:
    """Brute force: one float32 matrix-vector product over every row."""

    name = "exact"

    def __init__(self, space_type: str) -> None:
        self.space_type = space_type

    def add(self, vectors: np.ndarray) -> None:
        """Nothing to index: the rows are the index."""

    def candidates(self, rows: _Rows, query: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        n = rows.count
        similarity = rows.matrix[:n] @ query
        if self.space_type == "l2":
            # -d² + |q|²: the same order as -d², with no per-row subtraction of the query
            similarity = 2 * similarity - rows.sq_norms[:n]
            scale = float(query @ query) + float(rows.sq_norms[:n].max())
        elif self.space_type == "innerproduct":
            scale = math.sqrt(float(query @ query) * float(rows.sq_norms[:n].max()))
        else:
            scale = 1.0
        if mask is not None:
            similarity[~mask] = -np.inf
        return _best_rows(similarity, k, _CANDIDATE_SLACK * scale)


class _HnswBackend:
    """faiss IndexHNSWFlat over every row (tombstones included, skipped by an IDSelector)."""

    name = "hnsw"

    def __init__(self, dimension: int, space_type: str, m: int, ef_construction: int,
                 ef_search: int) -> None:
        faiss = _faiss()
        # Cosine runs as inner product over unit vectors, as OpenSearch's faiss engine does.
        metric = faiss.METRIC_L2 if space_type == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(dimension, m, metric)
        self.index.hnsw.efConstruction = ef_construction
        self.ef_search = ef_search

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def candidates(self, rows: _Rows, query: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        faiss = _faiss()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")  # bit i of the bitmap = row i allowed
            selector = faiss.IDSelectorBitmap(bitmap)
            params.sel = selector  # `bitmap` and `selector` stay referenced until the search returns
        _, labels = self.index.search(query[None, :], k, params=params)
        found = labels[0]
        return found[found >= 0]


_faiss_module: Any = None


def _faiss() -> Any:
    """Import faiss on first use (it is slow to import) and give it every core we may use."""
    global _faiss_module
    if _faiss_module is None:
        import faiss

        # One search is single-threaded; the threads serve index builds, which parallelise well.
        faiss.omp_set_num_threads(max(1, len(os.sched_getaffinity(0))))
        _faiss_module = faiss
    return _faiss_module


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


# ---- the field ---------------------------------------------------------------------------------

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
        self._rows = _Rows(dimension)
        self._row_of: dict[str, int] = {}
        self._backend: _ExactBackend | _HnswBackend = _ExactBackend(space_type)

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
                raise IllegalArgument(_zero_vector_reason(self.space_type))
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
                raise IllegalArgument(_zero_vector_reason(self.space_type))
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
            found = _ExactBackend(self.space_type).candidates(self._rows, query, k, mask)
        return found

    def _ranked(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not len(rows):
            return []
        scores = self._exact_scores(query, rows)
        best = _best_rows(scores, k, 0.0)  # exact scores: only true ties at the k-th come along
        ids = self._rows.ids
        ranked = sorted(((ids[rows[i]], s) for i, s in zip(best.tolist(), scores[best].tolist(), strict=True)),
                        key=lambda pair: (-pair[1], pair[0]))
        return ranked[:k]

    def _exact_scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return knn_scores(_raw_measure(self._rows.matrix[rows], query, self.space_type), self.space_type)

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
        fresh = _Rows(self.dimension, capacity=2 * len(kept))
        fresh.append(ids, vectors)
        backend = self._new_backend(len(kept) > self.hnsw_threshold)
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

    def _new_backend(self, hnsw: bool) -> _ExactBackend | _HnswBackend:
        if not hnsw:
            return _ExactBackend(self.space_type)
        return _HnswBackend(self.dimension, self.space_type, self.m, self.ef_construction, self.ef_search)

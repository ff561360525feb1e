"""Approximate k-NN search: a faiss HNSW graph over every row."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from localsearch.vectors.rows import Rows


class HnswBackend:
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

    def candidates(self, rows: Rows, query: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
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

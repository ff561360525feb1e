"""A field's vectors in one growing float32 matrix, with their ids and live flags."""

from __future__ import annotations

import numpy as np

MIN_CAPACITY = 64


class Rows:
    """Append-only vectors with their ids and live flags; row numbers hold until a rebuild."""

    def __init__(self, dimension: int, capacity: int = 0) -> None:
        capacity = max(capacity, MIN_CAPACITY)
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

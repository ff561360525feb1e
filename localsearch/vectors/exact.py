"""Exact k-NN search: one float32 matrix-vector product over every row."""

from __future__ import annotations

import math

import numpy as np

from localsearch.vectors.rows import Rows
from localsearch.vectors.scores import best_rows

# Relative slack when picking candidates by matrix product: rows this close to the k-th are rescored
# exactly too, so float rounding in the product never decides who makes the cut.
_CANDIDATE_SLACK = 1e-5


class ExactBackend:
    """Brute force: one float32 matrix-vector product over every row."""

    name = "exact"

    def __init__(self, space_type: str) -> None:
        self.space_type = space_type

    def add(self, vectors: np.ndarray) -> None:
        """Nothing to index: the rows are the index."""

    def candidates(self, rows: Rows, query: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
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
        return best_rows(similarity, k, _CANDIDATE_SLACK * scale)

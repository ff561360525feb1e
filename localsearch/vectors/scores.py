"""OpenSearch's k-NN scores, and picking the best rows by a similarity."""

from __future__ import annotations

import numpy as np

SPACE_TYPES = ("l2", "cosinesimil", "innerproduct")


def knn_scores(raw: np.ndarray, space_type: str) -> np.ndarray:
    """OpenSearch's k-NN score from the raw measure (squared L2 distance, cosine, or inner product)."""
    raw = np.asarray(raw, dtype=np.float32)
    one = np.float32(1)
    if space_type == "l2":
        return one / (one + raw)
    if space_type == "cosinesimil":
        return (one + np.clip(raw, -one, one)) / np.float32(2)
    return np.where(raw >= 0, raw + one, one / (one - np.minimum(raw, 0)))


def raw_measure(vectors: np.ndarray, query: np.ndarray, space_type: str) -> np.ndarray:
    """The measure the score is computed from, row by row: exact, no norm expansion."""
    if space_type == "l2":
        diff = vectors - query
        return np.einsum("ij,ij->i", diff, diff)
    return vectors @ query


def best_rows(similarity: np.ndarray, k: int, slack: float) -> np.ndarray:
    """Rows of the k highest similarities (-inf never), plus any within `slack` of the k-th."""
    if k >= len(similarity):
        return np.flatnonzero(similarity > -np.inf)
    top = np.argpartition(-similarity, k - 1)[:k]
    kth = similarity[top].min()
    if kth == -np.inf:
        return top[similarity[top] > -np.inf]
    return np.flatnonzero(similarity >= kth - slack)

"""The one place that picks a field's search backend: exact below the HNSW threshold, a graph above it."""

from __future__ import annotations

from localsearch.vectors.exact import ExactBackend
from localsearch.vectors.hnsw import HnswBackend

Backend = ExactBackend | HnswBackend


def new_backend(vectors: int, dimension: int, space_type: str, *, hnsw_threshold: int, m: int,
                ef_construction: int, ef_search: int) -> Backend:
    """Exact search for at most `hnsw_threshold` vectors (10,000 by default), HNSW past it."""
    if vectors <= hnsw_threshold:
        return ExactBackend(space_type)
    return HnswBackend(dimension, space_type, m, ef_construction, ef_search)

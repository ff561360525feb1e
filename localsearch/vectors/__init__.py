"""k-NN index of one knn_vector field: exact (numpy) or HNSW (faiss) search, scored as OpenSearch does.

Modules: field (VectorField: writes, reads, rebuilds under a read-write lock), backends (picks exact or
HNSW by size), exact and hnsw (the two searches), rows (vector storage), scores (OpenSearch's k-NN
score), values (a document's knn_vector value parsed as OpenSearch's mapper does).
"""

from __future__ import annotations

from localsearch.vectors.field import VectorField
from localsearch.vectors.scores import SPACE_TYPES, knn_scores
from localsearch.vectors.values import check_vector

__all__ = ["SPACE_TYPES", "VectorField", "check_vector", "knn_scores"]

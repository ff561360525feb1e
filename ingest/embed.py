"""Embedding: documents' texts to normalized float32 vectors with a sentence-transformers model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np

from searchcore.models import embedding_dimension, load_bi_encoder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

CHARS_PER_TOKEN_BOUND = 16  # no token spans more characters: longer text is cut before tokenizing


class Embedder(Protocol):
    """Anything that turns texts into one vector each (tests use a small stand-in)."""

    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceEmbedder:
    """A SentenceTransformer bi-encoder, producing unit-length vectors in input order."""

    def __init__(self, model: SentenceTransformer, *, batch_size: int = 32,
                 normalize: bool = True) -> None:
        self.model = model
        self.batch_size = batch_size
        self.normalize = normalize
        self.dimension = embedding_dimension(model)
        max_tokens = int(getattr(model, "max_seq_length", 0) or 512)
        # The model truncates at max_seq_length anyway; cutting first spares tokenizing megabytes.
        self.max_chars = max_tokens * CHARS_PER_TOKEN_BOUND

    @classmethod
    def load(cls, name: str, *, device: str | None = None, batch_size: int = 32,
             normalize: bool = True) -> SentenceEmbedder:
        return cls(load_bi_encoder(name, device=device), batch_size=batch_size,
                   normalize=normalize)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        clipped = [t if len(t) <= self.max_chars else t[: self.max_chars] for t in texts]
        vectors = self.model.encode(clipped, batch_size=self.batch_size,
                                    normalize_embeddings=self.normalize,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

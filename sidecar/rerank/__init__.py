"""Stage 2: score first-stage candidates with a cross-encoder (MaxP over passages), failing open."""

from __future__ import annotations

from sidecar.rerank.base import (
    DEFAULT_BATCH_TOKENS,
    BaseScorer,
    Capabilities,
    EncodedPair,
    Scorer,
    plan_batches,
)
from sidecar.rerank.batching import BatchingScorer, DeadlineExceeded
from sidecar.rerank.cache import CachedScore, ScoreCache
from sidecar.rerank.documents import (
    PARTIAL,
    RERANKED,
    SKIPPED_ERROR,
    SKIPPED_NAN,
    SKIPPED_TIMEOUT,
    RerankResult,
    rerank_documents,
)
from sidecar.rerank.loading import load_scorer
from sidecar.rerank.passages import Passage, passage_budget, split_passages
from sidecar.rerank.registry import (
    Backend,
    Option,
    OptionError,
    backend_names,
    get_backend,
    register_backend,
)

__all__ = [
    "Backend", "Capabilities", "DEFAULT_BATCH_TOKENS", "BatchingScorer", "Option", "OptionError", "backend_names",
    "get_backend", "DeadlineExceeded", "PARTIAL", "RERANKED", "SKIPPED_ERROR", "SKIPPED_NAN",
    "SKIPPED_TIMEOUT", "BaseScorer", "CachedScore", "EncodedPair", "Passage", "RerankResult",
    "ScoreCache", "Scorer", "load_scorer", "passage_budget", "plan_batches", "register_backend",
    "rerank_documents", "split_passages",
]

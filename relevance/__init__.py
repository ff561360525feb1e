"""Relevance tooling: offline evaluation, window choice, score calibration and reranker fine-tuning.

Public API (imported on first use):
- `evaluate`, `EvalOptions`: BM25, k-NN, hybrid and reranked systems on judgments, through the sidecar's own
  pipeline (`relevance.evaluate`)
- `train_reranker`, `TrainOptions`: fine-tune a cross-encoder on judgments or a click log (`relevance.training.job`)
- `ClusterOptions`: where the documents are, shared by both (`relevance.cluster_setup`)

The command lines are `relevance.eval_cli` and `relevance.train_cli` (`rerank-sidecar eval`, `train-reranker`).
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {"evaluate": "relevance.evaluate", "EvalOptions": "relevance.evaluate",
           "train_reranker": "relevance.training.job", "TrainOptions": "relevance.training.job",
           "ClusterOptions": "relevance.cluster_setup"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'relevance' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)

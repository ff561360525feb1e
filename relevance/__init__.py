"""Relevance tooling: offline evaluation, window choice, score calibration and reranker fine-tuning.

Public API (imported on first use):
- `evaluate`, `EvalOptions`: BM25, k-NN, hybrid and reranked systems on judgments, through the sidecar's own
  pipeline (`relevance.evaluate`)
- `train_reranker`, `TrainOptions`: fine-tune a cross-encoder on judgments or a click log (`relevance.training.job`)
- `ClusterOptions`: where the documents are, shared by both (`relevance.cluster_setup`)

The command lines are `relevance.eval_cli` and `relevance.train_cli` (`rerank-sidecar eval`, `train-reranker`).
"""

from __future__ import annotations

from searchcore.lazy_api import lazy_attributes

_PUBLIC = {"evaluate": "relevance.evaluate", "EvalOptions": "relevance.evaluate",
           "train_reranker": "relevance.training.job", "TrainOptions": "relevance.training.job",
           "ClusterOptions": "relevance.cluster_setup"}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_attributes(__name__, _PUBLIC)

"""One fine-tuning job: judgments -> index -> mined hard negatives -> split -> train -> report."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relevance.cluster_setup import ClusterOptions
from relevance.datasets import DatasetError, load_dataset
from relevance.training.examples import (
    QueryJudgments,
    attach_retrieval,
    from_clicks,
    from_qrels,
    split,
    training_pairs,
)
from relevance.training.finetune import TrainConfig, fine_tune

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    train: TrainConfig
    dataset: str | None = None
    qrels: str | None = None
    topics: str | None = None
    clicks: Path | None = None
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    relevance_level: int = 1
    negatives: int = 4
    mine_depth: int = 30
    skip_top: int = 0
    fusion: str = "min_max"
    validation_fraction: float = 0.1
    max_queries: int | None = None


def load_judgments(options: TrainOptions) -> tuple[list[QueryJudgments], Path | None]:
    if options.clicks is not None:
        corpus = Path(options.dataset) if options.dataset else None
        return from_clicks(options.clicks), corpus
    dataset = load_dataset(options.dataset, qrels=options.qrels, topics=options.topics)
    if dataset.is_run:
        raise DatasetError("train-reranker needs a corpus or an index to mine negatives from, not a run")
    judgments = from_qrels(dataset.queries, dataset.qrels, options.relevance_level)
    return judgments, dataset.corpus


def train_reranker(options: TrainOptions) -> dict[str, Any]:
    judgments, corpus = load_judgments(options)
    judgments = sorted(judgments, key=lambda j: j.qid)[: options.max_queries]
    if not judgments:
        raise DatasetError("no judged query to train on")
    index = None
    if corpus is None and options.cluster.index is None and options.clicks is not None:
        log.info("no index or corpus given: no hard negatives mined, the click log's own negatives only")
        for j in judgments:
            j.candidates = [d for d in j.labels if d in j.texts]
    else:
        index = _mine(options, corpus, judgments)
    train, validation = split(judgments, options.validation_fraction, options.train.seed)
    pairs = training_pairs(train, options.negatives, options.train.seed, options.skip_top)
    log.info("%d training queries (%d pairs), %d validation queries", len(train), len(pairs), len(validation))
    report = fine_tune(options.train, pairs, validation)
    report.update({"index": index, "train_queries": len(train), "negatives_per_query": options.negatives,
                   "mine_depth": options.mine_depth, "fusion": options.fusion,
                   # the held-out queries, so settings (window, blend α) can be chosen on them and never on a test set
                   "validation_query_ids": [j.qid for j in validation]})
    shutil.rmtree(options.train.out / ".checkpoints", ignore_errors=True)
    (options.train.out / "training.json").write_text(json.dumps(report, indent=2, default=str) + "\n",
                                                     encoding="utf-8")
    return report


def _mine(options: TrainOptions, corpus: Path | None, judgments: list[QueryJudgments]) -> str:
    """Hybrid candidates for every query through the sidecar's pipeline (hard negatives, validation lists)."""
    from relevance.cluster_setup import opened_index, sidecar_settings, upstream_for
    from relevance.systems import PipelineRunner

    with opened_index(options.cluster, corpus, options.train.out / ".ingest-state") as (stack, index, _):
        settings = sidecar_settings(stack, reranker="unused", windows=[options.mine_depth])
        upstream = upstream_for(stack)
        try:
            runner = PipelineRunner(settings, upstream, index, stack.headers)
            attach_retrieval(judgments, lambda queries: runner.hybrid_hits(queries, options.fusion,
                                                                           options.mine_depth,
                                                                           desc="mining hard negatives"),
                             runner.document_texts)
        finally:
            upstream.close()
    return index

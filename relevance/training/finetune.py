"""Fine-tune a cross-encoder with sentence-transformers' CrossEncoderTrainer; validate before and after."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relevance.measures import MEASURE_NAMES, means, per_query
from relevance.training.examples import Pair, QueryJudgments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    model: str
    out: Path
    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256
    seed: int = 42
    max_steps: int | None = None
    pos_weight: float | None = None     # BCE weight of positives (negatives per positive, say)
    device: str | None = None           # None: cuda when present, else cpu


def load_start_model(name: str, max_length: int, device: str, seed: int) -> Any:
    """A CrossEncoder with one logit from a cross-encoder or a plain BERT-family / bi-encoder checkpoint
    (a new classification head is initialised from `seed`)."""
    from sentence_transformers import CrossEncoder
    from transformers import set_seed

    from searchcore.models import load_with_fallback

    set_seed(seed)
    model = load_with_fallback(name, lambda where: CrossEncoder(where, num_labels=1, max_length=max_length,
                                                                  device=device))
    if model.num_labels != 1:
        raise ValueError(f"[{name}] has {model.num_labels} labels: reranking needs one relevance logit")
    return model


def validation_metrics(model: Any, validation: list[QueryJudgments], batch_size: int = 32) -> dict[str, float]:
    """Rerank each validation query's hybrid candidates with the model; measures against its labels."""
    import torch

    run: dict[str, dict[str, float]] = {}
    for j in validation:
        docs = [d for d in j.candidates if d in j.texts]
        if docs:
            scores = model.predict([(j.query, j.texts[d]) for d in docs], batch_size=batch_size,
                                   activation_fn=torch.nn.Identity(), show_progress_bar=False)
            run[j.qid] = {d: float(s) for d, s in zip(docs, scores, strict=True)}
    return _measures(run, validation)


def retrieval_metrics(validation: list[QueryJudgments]) -> dict[str, float]:
    """The same measures for the hybrid order itself (what reranking must beat)."""
    run = {j.qid: {d: float(len(j.candidates) - i) for i, d in enumerate(j.candidates)} for j in validation}
    return _measures(run, validation)


def _measures(run: dict[str, dict[str, float]], validation: list[QueryJudgments]) -> dict[str, float]:
    qrels = {j.qid: {d: 1 if label > 0 else 0 for d, label in j.labels.items()} for j in validation}
    ids = [j.qid for j in validation]
    return {name: round(value, 6) for name, value in means(per_query(run, qrels, ids, 1)).items()
            if name in MEASURE_NAMES}


def fine_tune(config: TrainConfig, pairs: list[Pair], validation: list[QueryJudgments]) -> dict[str, Any]:
    """Train, save a CrossEncoder folder to `config.out`, and return the report (also in training.json)."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    if not pairs:
        raise ValueError("no training pairs: no training query has a positive document whose text was found")
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_start_model(config.model, config.max_length, device, config.seed)
    report: dict[str, Any] = {"config": {**asdict(config), "out": str(config.out)}, "device": device,
                              "train_pairs": len(pairs), "train_positives": sum(p.label > 0 for p in pairs),
                              "validation_queries": len(validation)}
    if validation:
        report["validation_retrieval"] = retrieval_metrics(validation)
        report["validation_before"] = validation_metrics(model, validation)
        log.info("validation before training: %s", report["validation_before"])
    data = Dataset.from_dict({"query": [p.query for p in pairs], "passage": [p.document for p in pairs],
                              "label": [float(p.label) for p in pairs]})
    pos_weight = torch.tensor(config.pos_weight) if config.pos_weight else None
    loss = BinaryCrossEntropyLoss(model, pos_weight=pos_weight)
    args = CrossEncoderTrainingArguments(
        output_dir=str(config.out / ".checkpoints"), num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay,
        seed=config.seed, data_seed=config.seed, save_strategy="no", eval_strategy="no", report_to="none",
        logging_steps=max(1, len(pairs) // config.batch_size // 20), use_cpu=device == "cpu",
        dataloader_num_workers=0, disable_tqdm=False)
    started = time.monotonic()
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss)
    outcome = trainer.train()
    report["train_seconds"] = round(time.monotonic() - started, 1)
    report["train_loss"] = round(float(outcome.training_loss), 6)
    report["steps"] = int(outcome.global_step)
    if validation:
        report["validation_after"] = validation_metrics(model, validation)
        log.info("validation after training: %s", report["validation_after"])
    config.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(config.out))
    (config.out / "training.json").write_text(json.dumps(report, indent=2, default=_jsonable) + "\n",
                                              encoding="utf-8")
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)

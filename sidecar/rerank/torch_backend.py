"""The torch backend: a sentence-transformers CrossEncoder called directly on pre-tokenized batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sidecar.models import hub_offline
from sidecar.rerank.base import DEFAULT_BATCH_TOKENS, BaseScorer, EncodedPair

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

log = logging.getLogger(__name__)

_FALLBACK_MAX_LENGTH = 512  # for tokenizers that declare no usable maximum


class TorchScorer(BaseScorer):
    """Scores with the CrossEncoder's own module stack, skipping its per-call tokenization.

    `CrossEncoder.predict` tokenizes, pads and calls the model; here pairs arrive tokenized and
    length-sorted, are padded per batch, and go through the same modules under
    `torch.inference_mode()`, so the logits equal `predict(..., activation_fn=Identity())`.
    """

    def __init__(self, model: CrossEncoder, name: str, *,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS) -> None:
        if model.num_labels != 1:
            raise ValueError(f"cross-encoder [{name}] has {model.num_labels} labels: "
                             "reranking needs a model with a single relevance logit")
        tokenizer = model.tokenizer
        super().__init__(name, tokenizer, _usable_max_length(model), batch_tokens)
        model.eval()
        self.model = model
        self.device = model.device
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._pad_left = getattr(tokenizer, "padding_side", "right") == "left"

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        import torch

        if not pairs:
            return np.empty(0, dtype=np.float32)
        features = {name: torch.from_numpy(array).to(self.device)
                    for name, array in self._pad(pairs).items()}
        with torch.inference_mode():
            scores = self.model(features)["scores"]
        if scores.ndim > 1:
            scores = scores[:, 0]
        return scores.float().cpu().numpy()

    def _pad(self, pairs: Sequence[EncodedPair]) -> dict[str, np.ndarray]:
        width = max(len(pair) for pair in pairs)
        input_ids = np.full((len(pairs), width), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(pairs), width), dtype=np.int64)
        with_types = pairs[0].token_type_ids is not None
        token_type_ids = np.zeros((len(pairs), width), dtype=np.int64) if with_types else None
        for row, pair in enumerate(pairs):
            span = slice(width - len(pair), width) if self._pad_left else slice(0, len(pair))
            input_ids[row, span] = pair.input_ids
            attention_mask[row, span] = 1
            if token_type_ids is not None and pair.token_type_ids is not None:
                token_type_ids[row, span] = pair.token_type_ids
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        return features


def _usable_max_length(model: CrossEncoder) -> int:
    """The tokenizer's maximum, or the model's position table where the tokenizer has none."""
    declared = model.tokenizer.model_max_length
    positions = getattr(model.config, "max_position_embeddings", None) or _FALLBACK_MAX_LENGTH
    if not declared or declared > positions:  # unset tokenizers report a huge sentinel
        return min(_FALLBACK_MAX_LENGTH, positions)
    return int(declared)


def load_torch_scorer(location: str, name: str, *, device: str, max_length: int | None = None,
                      threads: int | None = None) -> TorchScorer:
    """A TorchScorer for the CrossEncoder at `location` (a folder or hub name) on `device`."""
    import torch
    from sentence_transformers import CrossEncoder

    if threads:
        torch.set_num_threads(threads)  # process-wide: the settings decide, not each load
    # decided at load time: the hub library reads HF_HUB_OFFLINE only once, at its import
    model = CrossEncoder(location, device=device, max_length=max_length,
                         local_files_only=hub_offline())
    scorer = TorchScorer(model, name)
    log.info("cross-encoder %s loaded from %s on %s (max_length %d, %d torch threads)",
             name, location, device, scorer.max_length, torch.get_num_threads())
    return scorer

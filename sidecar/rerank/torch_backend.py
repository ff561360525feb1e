"""The torch backend: a sentence-transformers CrossEncoder called directly on pre-tokenized batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from searchcore.models import downloads_allowed
from sidecar.rerank.base import DEFAULT_BATCH_TOKENS, BaseScorer, EncodedPair, call_tokens_for
from sidecar.rerank.padding import pad_pairs
from sidecar.rerank.registry import register_backend

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

    backend = "torch"

    def __init__(self, model: CrossEncoder, name: str, *, max_length: int | None = None,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS) -> None:
        if model.num_labels != 1:
            raise ValueError(f"cross-encoder [{name}] has {model.num_labels} labels: "
                             "reranking needs a model with a single relevance logit")
        tokenizer = model.tokenizer
        super().__init__(name, tokenizer, max_length or usable_max_length(tokenizer, model.config), batch_tokens)
        model.eval()
        self.model = model
        self.device = model.device
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._pad_left = getattr(tokenizer, "padding_side", "right") == "left"

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        import torch

        if not pairs:
            return np.empty(0, dtype=np.float32)
        padded = pad_pairs(pairs, self._pad_id, pad_left=self._pad_left)
        features = {name: torch.from_numpy(array).to(self.device) for name, array in padded.items()}
        with torch.inference_mode():
            scores = self.model(features)["scores"]
        if scores.ndim > 1:
            scores = scores[:, 0]
        return scores.float().cpu().numpy()


def usable_max_length(tokenizer: Any, config: Any) -> int:
    """The tokenizer's maximum, or the model's position table where the tokenizer has none."""
    declared = tokenizer.model_max_length
    positions = getattr(config, "max_position_embeddings", None) or _FALLBACK_MAX_LENGTH
    if not declared or declared > positions:  # unset tokenizers report a huge sentinel
        return min(_FALLBACK_MAX_LENGTH, positions)
    return int(declared)


def load_torch_scorer(location: str, name: str, *, device: str, max_length: int | None = None,
                      threads: int | None = None, fp16: bool = True, **_ignored: object) -> TorchScorer:
    """A TorchScorer for the CrossEncoder at `location` (a folder or hub name) on `device`.

    On a GPU the weights are cast to fp16 (unless `fp16=False`): twice the tensor-core rate and
    half the memory, with logits within about 1e-2 of fp32, which leaves rankings as they were.
    """
    import torch
    from sentence_transformers import CrossEncoder

    if threads:
        torch.set_num_threads(threads)  # process-wide: the settings decide, not each load
    # decided at load time (the hub library reads HF_HUB_OFFLINE only once, at its import): a hub
    # name reaches here only when downloads are allowed; a folder never touches the hub
    model = CrossEncoder(location, device=device, max_length=max_length,
                         local_files_only=not downloads_allowed())
    half = fp16 and str(model.device).startswith("cuda")
    if half:
        model.half()
    scorer = TorchScorer(model, name, max_length=max_length, batch_tokens=call_tokens_for(device))
    log.info("cross-encoder %s loaded from %s on %s%s (max_length %d, %d torch threads)",
             name, location, device, " fp16" if half else "", scorer.max_length, torch.get_num_threads())
    return scorer


register_backend("torch", load_torch_scorer)

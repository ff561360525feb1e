"""The ONNX Runtime backends: `onnx` (fp32, same logits as torch within 1e-4) and `onnx-int8` (the int8 recipe)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sidecar.rerank.base import DEFAULT_BATCH_TOKENS, BaseScorer, EncodedPair, call_tokens_for
from sidecar.rerank.onnx_export import ExportedModel, exported_model
from sidecar.rerank.padding import pad_pairs
from sidecar.rerank.registry import Option, register_backend

log = logging.getLogger(__name__)


class OnnxScorer(BaseScorer):
    """Scores pre-tokenized, length-sorted batches with an ONNX Runtime session.

    One session per process; the batcher's model threads call it side by side (ONNX Runtime
    sessions are safe to run concurrently), each call with the session's intra-op threads.
    """

    def __init__(self, session: Any, exported: ExportedModel, tokenizer: Any, name: str, max_length: int,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS) -> None:
        super().__init__(name, tokenizer, max_length, batch_tokens)
        self.session = session
        self.exported = exported
        self.backend = "onnx-int8" if "int8" in exported.path.name else "onnx"
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._pad_left = getattr(tokenizer, "padding_side", "right") == "left"

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        if not pairs:
            return np.empty(0, dtype=np.float32)
        features = pad_pairs(pairs, self._pad_id, pad_left=self._pad_left)
        feed = {name: features.get(name, np.zeros_like(features["input_ids"])) for name in self.exported.inputs}
        logits = self.session.run(None, feed)[0]
        return np.asarray(logits, dtype=np.float32).reshape(len(pairs), -1)[:, 0]


def load_onnx_scorer(location: str, name: str, *, int8: bool = False, device: str = "cpu",
                     max_length: int | None = None, threads: int | None = None,
                     cache_dir: str | None = None, quantization: str = "recipe",
                     **_ignored: object) -> OnnxScorer:
    """An OnnxScorer for the cross-encoder at `location`, exporting (once) when no ONNX file exists yet.

    int8 `quantization`: `recipe` (the project's mixed precision, which the documented agreement
    with fp32 rests on) or `shipped` (the folder's own `onnx/model_qint8_*.onnx`, as is).
    """
    import onnxruntime as ort
    from transformers import AutoConfig, AutoTokenizer

    from searchcore.models import downloads_allowed
    from sidecar.rerank.torch_backend import usable_max_length

    folder = _local_folder(location, offline=not downloads_allowed())
    config = AutoConfig.from_pretrained(folder)
    if getattr(config, "num_labels", 1) != 1:
        raise ValueError(f"cross-encoder [{name}] has {config.num_labels} labels: "
                         "reranking needs a model with a single relevance logit")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    exported = exported_model(folder, int8=int8, cache_dir=cache_dir,
                              shipped_int8=int8 and quantization == "shipped")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(exported.path), options, providers=providers)
    length = max_length or usable_max_length(tokenizer, config)
    scorer = OnnxScorer(session, exported, tokenizer, name, length, batch_tokens=call_tokens_for(device))
    log.info("cross-encoder %s on ONNX Runtime (%s, %s%s, %d threads) from %s", name,
             "int8" if int8 else "fp32", session.get_providers()[0],
             ", fused" if exported.fused else "", options.intra_op_num_threads, exported.path)
    return scorer


def _local_folder(location: str, offline: bool) -> str:
    """A folder holding the model's files: `location` itself, or the hub's local snapshot of it."""
    if Path(location).is_dir():
        return location
    from huggingface_hub import snapshot_download

    return snapshot_download(location, local_files_only=offline)


def load_onnx_int8_scorer(location: str, name: str, **options: Any) -> OnnxScorer:
    return load_onnx_scorer(location, name, int8=True, **options)


register_backend("onnx", load_onnx_scorer)
register_backend("onnx-int8", load_onnx_int8_scorer, options={
    "quantization": Option(str, default="recipe", choices=("recipe", "shipped")),
})

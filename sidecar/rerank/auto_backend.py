"""The `auto` backend: fp16 torch on a GPU; on a CPU, fp32 ONNX Runtime (same logits, faster), else torch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sidecar.rerank.base import Scorer
from sidecar.rerank.onnx_backend import load_onnx_scorer
from sidecar.rerank.registry import register_backend
from sidecar.rerank.torch_backend import load_torch_scorer

log = logging.getLogger(__name__)


def load_auto_scorer(location: str, name: str, **options: Any) -> Scorer:
    if str(options.get("device", "cpu")).startswith("cuda"):
        return load_torch_scorer(location, name, **options)
    try:
        return load_onnx_scorer(location, name, **options)
    except ImportError:
        pass  # onnxruntime not installed: torch it is, quietly
    except Exception as exc:  # an architecture the exporter cannot handle
        if not Path(location).is_dir():
            raise  # not found here: the next candidate location is tried
        log.warning("cross-encoder %s: ONNX export failed (%s: %s); using torch", name, type(exc).__name__, exc)
    return load_torch_scorer(location, name, **options)


register_backend("auto", load_auto_scorer)

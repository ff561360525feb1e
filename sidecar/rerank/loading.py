"""Load a cross-encoder by name or path with a chosen backend, once per process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from searchcore.models import (
    MODELS_DIR_ENV,
    ModelNotFound,
    default_device,
    hub_offline,
    load_with_fallback,
)
from sidecar.rerank.base import Scorer

log = logging.getLogger(__name__)

# backend name -> factory(location, name, device=..., max_length=..., threads=..., **options) -> Scorer;
# a backend that fails for one location (not found, not a cross-encoder) raises and the next
# candidate location is tried.
BackendFactory = Callable[..., Scorer]


def _torch_factory(location: str, name: str, **options: Any) -> Scorer:
    from sidecar.rerank.torch_backend import load_torch_scorer

    return load_torch_scorer(location, name, **options)


def _onnx_factory(location: str, name: str, **options: Any) -> Scorer:
    from sidecar.rerank.onnx_backend import load_onnx_scorer

    return load_onnx_scorer(location, name, **options)


def _onnx_int8_factory(location: str, name: str, **options: Any) -> Scorer:
    from sidecar.rerank.onnx_backend import load_onnx_scorer

    return load_onnx_scorer(location, name, int8=True, **options)


def _remote_factory(location: str, name: str, **options: Any) -> Scorer:
    from sidecar.rerank.remote import load_remote_scorer

    return load_remote_scorer(location, name, **options)


def _auto_factory(location: str, name: str, **options: Any) -> Scorer:
    """fp16 torch on a GPU; on a CPU, fp32 ONNX Runtime (same logits, faster), else torch."""
    if str(options.get("device", "cpu")).startswith("cuda"):
        return _torch_factory(location, name, **options)
    try:
        return _onnx_factory(location, name, **options)
    except ImportError:
        pass  # onnxruntime not installed: torch it is, quietly
    except Exception as exc:  # an architecture the exporter cannot handle
        if not Path(location).is_dir():
            raise  # not found here: the next candidate location is tried
        log.warning("cross-encoder %s: ONNX export failed (%s: %s); using torch", name, type(exc).__name__, exc)
    return _torch_factory(location, name, **options)


BACKENDS: dict[str, BackendFactory] = {"torch": _torch_factory, "onnx": _onnx_factory,
                                       "onnx-int8": _onnx_int8_factory, "remote": _remote_factory,
                                       "auto": _auto_factory}
REMOTE_BACKENDS = {"remote"}  # not loaded from a local folder: no candidate locations to try

_scorers: dict[tuple[Any, ...], Scorer] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory, *, remote: bool = False) -> None:
    """Make `backend=name` loadable."""
    BACKENDS[name] = factory
    if remote:
        REMOTE_BACKENDS.add(name)


def load_scorer(name_or_path: str, backend: str = "torch", device: str | None = None,
                max_length: int | None = None, threads: int | None = None, **options: Any) -> Scorer:
    """The scorer for a model, loaded on first use and shared by every request of the process.

    `name_or_path` is a folder, a folder name under RERANK_MODELS_DIR, or a hub name (when the
    hub is reachable). `options` go to the backend (`url`, `tokenizer`, `timeout_s`, `retries`,
    `max_client_batch` for remote; `cache_dir` for the ONNX ones). Raises `ModelNotFound` naming
    the model and how to supply one.
    """
    factory = BACKENDS.get(backend)
    if factory is None:
        raise ValueError(f"unknown rerank backend [{backend}]: expected one of {sorted(BACKENDS)}")
    device = device or default_device()
    key = (name_or_path, backend, device, max_length, tuple(sorted(options.items())))
    with _lock:
        scorer = _scorers.get(key)
        if scorer is None:
            kwargs = {"device": device, "max_length": max_length, "threads": threads, **options}
            if backend in REMOTE_BACKENDS:
                scorer = factory(name_or_path, name_or_path, **kwargs)
            else:
                try:
                    scorer = load_with_fallback(name_or_path, lambda location: factory(
                        location, name_or_path, **kwargs))
                except ModelNotFound as exc:
                    raise ModelNotFound(missing_model_message(name_or_path, str(exc))) from exc
            _scorers[key] = scorer
        return scorer


def missing_model_message(name: str, detail: str) -> str:
    """Why a cross-encoder could not be loaded and the ways to supply one."""
    models_dir = os.environ.get(MODELS_DIR_ENV)
    where = (f"{MODELS_DIR_ENV}={models_dir} has no folder [{Path(name).name}]" if models_dir
             else f"{MODELS_DIR_ENV} is not set")
    hub = ("the Hugging Face hub is off (HF_HUB_OFFLINE)" if hub_offline()
           else "the Hugging Face hub did not provide it")
    return (f"no cross-encoder [{name}] could be loaded ({where}; {hub}). Supply one as a path "
            f"to a sentence-transformers CrossEncoder folder (--reranker /path/to/model), or put "
            f"that folder under {MODELS_DIR_ENV} and name it by its folder name. Details: {detail}")


def clear_loaded() -> None:
    """Forget loaded scorers (tests)."""
    with _lock:
        _scorers.clear()

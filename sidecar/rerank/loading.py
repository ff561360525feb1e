"""Load a cross-encoder by name or path with a chosen backend, once per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from sidecar.models import (
    MODELS_DIR_ENV,
    ModelNotFound,
    default_device,
    hub_offline,
    load_with_fallback,
)
from sidecar.rerank.base import Scorer

# backend name -> factory(location, name, device=..., max_length=..., threads=...) -> Scorer;
# a backend that fails for one location (not found, not a cross-encoder) raises and the next
# candidate location is tried.
BackendFactory = Callable[..., Scorer]


def _torch_factory(location: str, name: str, **options: object) -> Scorer:
    from sidecar.rerank.torch_backend import load_torch_scorer

    return load_torch_scorer(location, name, **options)  # type: ignore[arg-type]


BACKENDS: dict[str, BackendFactory] = {"torch": _torch_factory}

_scorers: dict[tuple[str, str, str, int | None], Scorer] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make `backend=name` loadable (onnx, onnx-int8, remote ... plug in here)."""
    BACKENDS[name] = factory


def load_scorer(name_or_path: str, backend: str = "torch", device: str | None = None,
                max_length: int | None = None, threads: int | None = None) -> Scorer:
    """The scorer for a model, loaded on first use and shared by every request of the process.

    `name_or_path` is a folder, a folder name under RERANK_MODELS_DIR, or a hub name (when the
    hub is reachable). Raises `ModelNotFound` naming the model and how to supply one.
    """
    factory = BACKENDS.get(backend)
    if factory is None:
        raise ValueError(f"unknown rerank backend [{backend}]: expected one of {sorted(BACKENDS)}")
    device = device or default_device()
    key = (name_or_path, backend, device, max_length)
    with _lock:
        scorer = _scorers.get(key)
        if scorer is None:
            try:
                scorer = load_with_fallback(name_or_path, lambda location: factory(
                    location, name_or_path, device=device, max_length=max_length, threads=threads))
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

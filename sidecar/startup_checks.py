"""What `serve` checks before gunicorn starts: the models it names, TLS files, the port. Each problem is one line.

A problem stops the start (`serve` exits 2): a model folder that does not exist or holds no model, a model name
that cannot be found here (not under RERANK_MODELS_DIR, not packaged, not in the hub's cache, and downloads not
allowed: `searchcore.models.model_candidates`), a TLS
file that cannot be read, a port already taken. A remote cross-encoder that does not answer is only a warning:
the sidecar starts, its searches fail open until it answers, and `/-/ready` names it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from searchcore.models import (
    ALLOW_DOWNLOAD_ENV,
    MODELS_DIR_ENV,
    downloads_allowed,
    hub_offline,
    in_hub_cache,
    model_candidates,
)

PROBE_TIMEOUT_S = 2.0


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)     # each stops the start
    warnings: list[str] = field(default_factory=list)   # each is logged, and the start goes on


def check_startup(settings: Any, *, host: str, port: int, certfile: str | None = None,
                  keyfile: str | None = None) -> Findings:
    found = Findings()
    _check_models(settings, found)
    for flag, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path and not os.access(path, os.R_OK):
            found.errors.append(f"{flag} [{path}]: " + ("cannot be read" if Path(path).exists() else "no such file"))
    problem = port_problem(host, port)
    if problem:
        found.errors.append(problem)
    return found


def _check_models(settings: Any, found: Findings) -> None:
    from sidecar.rerank.registry import get_backend
    rerankers = [settings.defaults.reranker, *(p.reranker for p in settings.profiles)]
    if settings.rerank_endpoint and settings.rerank_endpoint_model:
        rerankers.append(settings.rerank_endpoint_model)
    for name in dict.fromkeys(rerankers):
        spec = settings.model_spec(name)
        if get_backend(spec.backend or settings.rerank_backend).remote:
            warning = remote_problem(name, spec.options.get("url"))
            if warning:
                found.warnings.append(warning)
            continue
        problem = local_model_problem(spec.path or name, "--reranker" if name == settings.defaults.reranker
                                      else "reranker")
        if problem:
            found.errors.append(problem)
    for profile in settings.profiles:
        if profile.bi_encoder:
            problem = local_model_problem(profile.bi_encoder, f"profiles[{profile.pattern}].bi_encoder")
            if problem:
                found.errors.append(problem)


def local_model_problem(name: str, what: str) -> str | None:
    """Why the model `name` cannot be loaded on this machine, in one line; None when a load can be tried."""
    path = Path(name).expanduser()
    if looks_like_path(name) or path.exists():
        if not path.exists():
            return f"{what} [{name}]: no such folder ({path.resolve()})"
        return folder_problem(path, f"{what} [{name}]")
    local = [Path(c) for c in model_candidates(name) if Path(c).is_dir()]
    if local:
        return folder_problem(local[0], f"{what} [{name}] (found at {local[0]})")
    if in_hub_cache(name) or downloads_allowed():
        return None
    here = f"no folder [{name}] under {Path.cwd()}, " if "/" in name else ""
    models_dir = os.environ.get(MODELS_DIR_ENV)
    if models_dir:
        where = f"{MODELS_DIR_ENV}={models_dir} has no folder [{name.rsplit('/', 1)[-1]}]"
    else:
        where = (f"{MODELS_DIR_ENV} is not set (make sets it to ../shared/models; outside make, export it or pass "
                 "the folder's path)")
    hub = ("the Hugging Face hub is off (HF_HUB_OFFLINE)" if hub_offline()
           else f"models are not downloaded unless {ALLOW_DOWNLOAD_ENV}=1")
    return f"{what} [{name}]: model not found: {here}{where}, it is not in the hub's cache, and {hub}"


def looks_like_path(name: str) -> bool:
    """Written as a path (absolute, ./, ../ or ~), not as a name: it must then be a folder."""
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..")


def folder_problem(path: Path, shown: str) -> str | None:
    if not path.is_dir():
        return f"{shown}: not a folder ({path.resolve()})"
    if not (path / "config.json").is_file():
        return f"{shown}: the folder holds no config.json, so it is not a model folder ({path.resolve()})"
    return None


def remote_problem(name: str, url: Any) -> str | None:
    """A warning when the remote cross-encoder's server does not accept a connection."""
    parts = urlsplit(str(url or ""))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT_S):
            return None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return (f"reranker [{name}]: its server at {parts.scheme}://{parts.netloc.rpartition('@')[2]} does not "
                f"answer ({reason}); starting anyway: its searches fail open until it answers, and /-/ready "
                "names it")


def port_problem(host: str, port: int) -> str | None:
    """Whether gunicorn will be able to listen there (checked the way it binds: SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"--host [{host}]: the name does not resolve ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None

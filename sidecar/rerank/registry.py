"""The rerank backends by name: each backend module registers its factory and the options it takes."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.rerank.base import Scorer

# factory(location, name, *, device, max_length, threads, cache_dir, **options) -> Scorer. A local
# backend that fails for one location (not found, not a cross-encoder) raises and the next
# candidate location is tried; a remote one is called once, with the model's name.
BackendFactory = Callable[..., Scorer]

# the modules that register the built-in backends, imported on first look-up; a new backend
# adds its module here
BUILTIN_MODULES = (
    "sidecar.rerank.auto_backend",
    "sidecar.rerank.torch_backend",
    "sidecar.rerank.onnx_backend",
    "sidecar.rerank.tei_backend",
    "sidecar.rerank.cohere_backend",
)


class OptionError(ValueError):
    """A backend option is wrong; the message starts with the option's key."""


@dataclass(frozen=True)
class Option:
    """One option a backend takes: its type, default, and what a valid value is."""

    kind: type                          # str, int, float or bool
    default: Any = None
    required: bool = False
    check: Callable[[Any], bool] | None = None
    rule: str = ""                      # what `check` wants, for the message: "must be positive"
    choices: tuple[str, ...] = ()
    secret: bool = False                # masked where options are shown

    def parse(self, key: str, value: Any) -> Any:
        try:
            value = _typed(self.kind, value)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"{key}: {exc} (got {value!r})") from None
        if self.choices and value not in self.choices:
            raise OptionError(f"{key} must be one of {list(self.choices)}, got [{value}]")
        if self.check is not None and not self.check(value):
            raise OptionError(f"{key} {self.rule}, got {value!r}")
        return value


@dataclass(frozen=True)
class Backend:
    """A registered backend: how to load it and which options it validates."""

    name: str
    factory: BackendFactory
    options: Mapping[str, Option] = field(default_factory=dict)
    remote: bool = False                # served elsewhere: no model folder to look for, no local model

    def validate(self, given: Mapping[str, Any], where: str = "options") -> dict[str, Any]:
        """`given` checked against the options this backend takes, defaults filled in.

        Raises OptionError naming the key as `where.key`.
        """
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = sorted(self.options) or "none"
            raise OptionError(f"{where}.{unknown[0]} is not an option of backend {self.name} (its options: {known})")
        options: dict[str, Any] = {}
        for key, option in self.options.items():
            if given.get(key) is not None:
                options[key] = option.parse(f"{where}.{key}", given[key])
            elif option.required:
                raise OptionError(f"{where}.{key} is required with backend {self.name}")
            else:
                options[key] = option.default
        return options

    def masked(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """`options` with secrets hidden, for logs and reprs."""
        return {k: ("***" if v is not None and k in self.options and self.options[k].secret else v)
                for k, v in options.items()}


_backends: dict[str, Backend] = {}
_lock = threading.Lock()
_imported = False


def register_backend(name: str, factory: BackendFactory, *, options: Mapping[str, Option] | None = None,
                     remote: bool = False) -> Backend:
    """Make `backend: name` configurable and loadable (a backend module calls this at import)."""
    backend = Backend(name, factory, dict(options or {}), remote)
    _backends[name] = backend
    return backend


def backends() -> dict[str, Backend]:
    """Every registered backend, the built-in ones imported first."""
    global _imported
    if not _imported:
        with _lock:
            if not _imported:
                for module in BUILTIN_MODULES:
                    importlib.import_module(module)
                _imported = True
    return dict(_backends)


def backend_names() -> tuple[str, ...]:
    return tuple(backends())


def get_backend(name: str) -> Backend:
    backend = backends().get(name)
    if backend is None:
        raise ValueError(f"unknown rerank backend [{name}]: expected one of {sorted(backends())}")
    return backend


def positive(value: float) -> bool:
    return value > 0


def at_least(least: int) -> Callable[[int], bool]:
    return lambda value: value >= least


def _typed(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return str(value).lower() in ("true", "1", "yes", "on")
        raise ValueError("expected true or false")
    if kind in (int, float):
        wanted = "an integer" if kind is int else "a number"
        if isinstance(value, (bool, dict, list)) or (kind is int and isinstance(value, float)
                                                     and not value.is_integer()):
            raise ValueError(f"expected {wanted}")
        try:
            return kind(float(value)) if kind is int and isinstance(value, float) else kind(value)
        except ValueError:
            raise ValueError(f"expected {wanted}") from None
    if kind is str:
        if isinstance(value, (dict, list)):
            raise ValueError("expected a string")
        return str(value)
    return value

"""Raw setting values (YAML, RERANK_* variables) made typed and checked; a wrong one is a ConfigError naming its key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any


class ConfigError(ValueError):
    """A setting is wrong; the message names the key."""


def typed_dataclass(kind: type, data: Mapping[str, Any], where: str, base: Any = None) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting [{where}.{unknown[0]}]; known: {sorted(known)}")
    typed = {k: coerce(f"{where}.{k}", v, field_type(kind, k)) for k, v in data.items()}
    return replace(base, **typed) if base is not None else kind(**typed)


def field_type(kind: type, name: str) -> str:
    return str(next(f.type for f in fields(kind) if f.name == name))


def coerce(key: str, value: Any, annotation: str) -> Any:
    try:
        if value is None:
            return None
        if annotation.startswith("bool"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return str(value).lower() in ("true", "1", "yes", "on")
            raise ValueError("expected true or false")
        if annotation.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected an integer")
            return int(value)
        if annotation.startswith("float"):
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if annotation.startswith("tuple[str"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if annotation.startswith("tuple[float"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(float(v) for v in items)
        if annotation.startswith("str"):
            if isinstance(value, (dict, list)):
                raise ValueError("expected a string")
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc} (got {value!r})") from exc
    return value


def one_of(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got [{value}]")

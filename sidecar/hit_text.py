"""The text of a hit that the cross-encoder reads: the profile's text fields from `_source`, in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def candidate_text(source: Mapping[str, Any], fields: tuple[str, ...], separator: str) -> str:
    """The profile's text fields from `_source`, in order, joined (lists flattened, dotted paths followed)."""
    parts: list[str] = []
    for path in fields:
        for value in _values_at(source, path.split(".")):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                text = str(value).strip()
                if text:
                    parts.append(text)
    return separator.join(parts)


def _values_at(node: Any, parts: list[str]) -> list[Any]:
    if isinstance(node, list):
        return [v for item in node for v in _values_at(item, parts)]
    if not parts:
        return [node]
    if not isinstance(node, Mapping):
        return []
    if parts[0] in node:
        return _values_at(node[parts[0]], parts[1:])
    joined = ".".join(parts)  # a flattened key like {"a.b": ...}
    return [node[joined]] if joined in node else []

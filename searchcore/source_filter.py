"""`_source` filtering as OpenSearch applies it: includes/excludes with wildcards on dotted paths."""

from __future__ import annotations

import fnmatch
from typing import Any

SourceSpec = tuple[list[str], list[str]] | bool


def parse_source_spec(value: Any, includes: str | None = None, excludes: str | None = None) -> SourceSpec:
    """Normalize a body's `_source` value and the `_source_includes`/`_source_excludes` parameters.

    Returns False (no source), True (whole source) or (includes, excludes) patterns.
    """
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if value is False:
        return False
    inc: list[str] = []
    exc: list[str] = []
    if isinstance(value, str):
        inc = [p for p in value.split(",") if p]
    elif isinstance(value, list):
        inc = [str(p) for p in value]
    elif isinstance(value, dict):
        inc = _as_list(value.get("includes", value.get("include", [])))
        exc = _as_list(value.get("excludes", value.get("exclude", [])))
    if includes:
        inc += [p for p in includes.split(",") if p]
    if excludes:
        exc += [p for p in excludes.split(",") if p]
    if not inc and not exc:
        return True
    return inc, exc


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value or []]


def filter_source(source: dict[str, Any], spec: SourceSpec) -> dict[str, Any] | None:
    """The source as the response shows it, or None when `_source` is off."""
    if spec is False:
        return None
    if spec is True:
        return source
    includes, excludes = spec
    return _filter(source, "", includes, excludes)


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _could_match_below(path: str, patterns: list[str]) -> bool:
    # an include like "a.b.*" must keep walking into object "a"
    return any(p.startswith(path + ".") or fnmatch.fnmatchcase(path + ".", p.split("*")[0] + "*")
               for p in patterns)


def _filter(obj: dict[str, Any], prefix: str, includes: list[str], excludes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if excludes and _matches(path, excludes):
            continue
        included = not includes or _matches(path, includes)
        if isinstance(value, dict):
            child_includes = [] if included else includes
            if included or _could_match_below(path, includes):
                child = _filter(value, f"{path}.", child_includes, excludes)
                if child or included:
                    out[key] = child
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            child_includes = [] if included else includes
            items = [(_filter(v, f"{path}.", child_includes, excludes) if isinstance(v, dict) else v)
                     for v in value if isinstance(v, dict) or included]
            items = [v for v in items if v != {} or included]
            if items or included:
                out[key] = items
        elif included:
            out[key] = value
    return out

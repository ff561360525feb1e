"""highlight(): the `highlight` options per field, and each requested field's fragments for one hit."""

from __future__ import annotations

import fnmatch
from typing import Any

from localsearch.coercion import coerce_value, iter_leaf_values
from localsearch.highlight.fragments import highlight_values
from localsearch.highlight.matchers import extract_matchers
from localsearch.index import View
from localsearch.mappings import Mapping
from searchcore.errors import IllegalArgument, ParsingError, SearchError

DEFAULTS = {"pre_tags": ["<em>"], "post_tags": ["</em>"], "fragment_size": 100, "number_of_fragments": 5,
            "require_field_match": True, "no_match_size": 0, "order": "none", "encoder": "default",
            "type": "unified", "highlight_query": None}
STYLED_PRE_TAG = '<em class="hlt1">'


def highlight(spec: Any, query: Any, view: View, source: dict[str, Any]) -> dict[str, list[str]]:
    """Highlighted fragments per field of one hit; only fields with something to show appear."""
    if not isinstance(spec, dict):
        raise ParsingError(f"Unknown key for a {'START_ARRAY' if isinstance(spec, list) else 'VALUE_STRING'} in "
                           "[highlight].")
    base = _options(spec, DEFAULTS)
    out: dict[str, list[str]] = {}
    for path, field_spec in _requested_fields(spec.get("fields"), view.mapping):
        options = _options(field_spec, base)
        matchers = extract_matchers(options["highlight_query"] or query)
        if options["require_field_match"]:
            matchers = [m for m in matchers if m.targets(path)]
        values = _source_values(view.mapping, path, source)
        fragments = highlight_values(values, view.mapping.fields[path].type == "keyword", matchers, options)
        if fragments:
            out[path] = fragments
    return out


def _options(spec: dict[str, Any], inherited: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ParsingError("[highlight_field] options must be an object")
    options = dict(inherited)
    if spec.get("tags_schema") is not None:
        if spec["tags_schema"] != "styled":
            raise IllegalArgument(f"Unknown tag schema [{spec['tags_schema']}]")
        options["pre_tags"], options["post_tags"] = [STYLED_PRE_TAG], ["</em>"]
    if spec.get("pre_tags") is not None and spec.get("post_tags") is None:
        raise ParsingError("pre_tags are set but post_tags are not set")
    for key in ("pre_tags", "post_tags", "fragment_size", "number_of_fragments", "require_field_match",
                "no_match_size", "order", "encoder", "type", "highlight_query"):
        if spec.get(key) is not None:
            options[key] = spec[key]
    for key in ("pre_tags", "post_tags"):
        if isinstance(options[key], str):
            options[key] = [options[key]]
        if not options[key]:
            raise ParsingError(f"[{key}] must not be empty")
    if options["type"] == "fvh":
        raise IllegalArgument("[fvh] highlighting needs term vectors with positions and offsets, which localsearch "
                              "does not store; use the unified highlighter")
    if options["type"] not in ("unified", "plain"):
        raise IllegalArgument(f"unknown highlighter type [{options['type']}] for the field")
    for key in ("fragment_size", "number_of_fragments", "no_match_size"):
        try:
            options[key] = int(options[key])
        except (TypeError, ValueError) as exc:
            raise ParsingError(f"[highlight] failed to parse field [{key}]") from exc
    if options["number_of_fragments"] < 0:
        raise IllegalArgument(f"[number_of_fragments] must be non-negative, got [{options['number_of_fragments']}]")
    return options


def _requested_fields(fields: Any, mapping: Mapping) -> list[tuple[str, dict[str, Any]]]:
    """(path, field options) for every text or keyword field the request names or matches by wildcard."""
    if fields is None:
        return []
    entries: list[tuple[str, Any]] = []
    if isinstance(fields, dict):
        entries = list(fields.items())
    elif isinstance(fields, list):
        for entry in fields:
            if isinstance(entry, str):
                entries.append((entry, {}))
            elif isinstance(entry, dict) and len(entry) == 1:
                entries += list(entry.items())
            else:
                raise ParsingError("[highlight] fields must be an object or an array of single-field objects")
    else:
        raise ParsingError("[highlight] failed to parse field [fields]")
    out: dict[str, dict[str, Any]] = {}
    for name, options in entries:
        for path, spec in mapping.fields.items():
            if spec.type in ("text", "keyword") and fnmatch.fnmatchcase(path, name) and path not in out:
                out[path] = options or {}
    return list(out.items())


def _source_values(mapping: Mapping, path: str, source: dict[str, Any]) -> list[str]:
    """The field's values as the highlighter reads them from `_source` (subfields read their parent)."""
    spec = mapping.fields[path]
    parent = next((p for p, subs in mapping.subfields.items() if path in subs), path)
    out = []
    for leaf_path, values in iter_leaf_values(source):
        if leaf_path != parent:
            continue
        for value in values:
            try:
                text = coerce_value(spec, value, "highlight")
            except SearchError:
                continue
            if spec.ignore_above is not None and len(text) > spec.ignore_above:
                continue  # keyword values past ignore_above are not indexed, nor highlighted
            out.append(text)
    return out

"""Index settings and a new index's mapping: flatten, validate and show them as OpenSearch does."""

from __future__ import annotations

import re
from typing import Any

from localsearch.failures import Unsupported, WrappedError, unsupported
from localsearch.index import parse_interval
from localsearch.mapping_rules import JavaError, validate_mapping
from localsearch.mappings import Mapping
from searchcore.errors import (
    IllegalArgument,
    SearchError,
)

DYNAMIC_SETTINGS = {"refresh_interval", "number_of_replicas", "search.default_pipeline", "max_result_window",
                    "knn.algo_param.ef_search", "default_pipeline", "mapping.total_fields.limit"}
STATIC_SETTINGS = {"knn", "number_of_shards", "codec", "uuid", "creation_date", "provided_name", "version.created"}


def flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"index": {"knn": true}} and {"index.knn": true} both become {"knn": True}."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_settings(value, f"{full}."))
        else:
            flat[full] = value
    return {k.removeprefix("index."): v for k, v in flat.items()}


def new_mapping(body: Any, settings: dict[str, Any]) -> Mapping:
    """The mapping of a new index; errors worded as index creation words them ("Failed to parse mapping")."""
    try:
        if isinstance(body, dict):
            validate_mapping(body, settings)
        return Mapping(body)
    except (Unsupported, IllegalArgument):
        raise
    except SearchError as exc:
        cause: Any = {"type": exc.error_type, "reason": exc.reason} if isinstance(exc, JavaError) else exc
        raise WrappedError(f"Failed to parse mapping [_doc]: {exc.reason}", cause, status=400,
                           error_type="mapper_parsing_exception") from exc


class SettingsError(SearchError):
    status, error_type = 400, "settings_exception"


def normalize_settings(settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise SearchError("[settings] must be an object", status=400, error_type="parse_exception")
    flat = flatten_settings(settings)
    unknown = sorted(k for k in flat if k not in DYNAMIC_SETTINGS | STATIC_SETTINGS
                     and not k.startswith(("analysis.", "similarity.", "knn.")))
    if unknown:
        raise SettingsError(f"unknown setting [index.{unknown[0]}] please check that any required plugins are "
                            "installed, or check the breaking changes documentation for removed settings")
    if "refresh_interval" in flat:
        try:
            parse_interval(str(flat["refresh_interval"]))
        except ValueError as exc:
            raise IllegalArgument(f"failed to parse setting [index.refresh_interval] with value "
                                  f"[{flat['refresh_interval']}] as a time value: unit is missing or "
                                  "unrecognized") from exc
    if "knn" in flat and str(flat["knn"]).lower() not in ("true", "false"):
        raise IllegalArgument(f"Failed to parse value [{flat['knn']}] as only [true] or [false] are allowed.")
    for key in ("number_of_shards", "number_of_replicas"):
        if key in flat and not re.fullmatch(r"\d+", str(flat[key])):
            raise IllegalArgument(f"Failed to parse value [{flat[key]}] for setting [index.{key}]")
    if "number_of_shards" in flat and int(flat["number_of_shards"]) < 1:
        raise IllegalArgument(f"Failed to parse value [{flat['number_of_shards']}] for setting "
                              "[index.number_of_shards] must be >= 1")
    if "number_of_shards" in flat and int(flat["number_of_shards"]) > 1:
        # BM25 statistics are per shard in OpenSearch: one index of several shards scores differently
        raise unsupported("[index.number_of_shards] above 1")
    index: dict[str, Any] = {"number_of_shards": "1", "number_of_replicas": "1"}
    index.update({k: setting_text(v) for k, v in flat.items()})
    return {"index": index}


def setting_text(value: Any) -> Any:
    """Settings are strings (lists of strings for list settings), as OpenSearch returns them."""
    if isinstance(value, list):
        return [setting_text(v) for v in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


def nested_settings(flat: dict[str, Any]) -> dict[str, Any]:
    """Flat `index.*` keys as GET _settings shows them: nested on dots, except where a key is both a value and
    a prefix (`knn` and `knn.algo_param.ef_search` give `knn` and `knn.algo_param: {ef_search}`)."""
    leaves = {k: v for k, v in flat.items() if "." not in k}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if "." in key:
            head, rest = key.split(".", 1)
            groups.setdefault(head, {})[rest] = value
    out: dict[str, Any] = dict(leaves)
    for head, rest in groups.items():
        if head not in leaves:
            out[head] = nested_settings(rest)
            continue
        joined: dict[str, dict[str, Any]] = {}
        for key, value in rest.items():
            second, _, tail = key.partition(".")
            joined.setdefault(f"{head}.{second}", {})[tail] = value
        for key, sub in joined.items():
            out[key] = sub[""] if list(sub) == [""] else nested_settings(sub)
    return out

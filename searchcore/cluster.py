"""What a cluster is and has: read from its own answers (`GET /_cat/plugins?format=json`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NEURAL_SEARCH_PLUGIN = "opensearch-neural-search"
KNN_PLUGIN = "opensearch-knn"


def plugin_components(cat_plugins: Any) -> set[str]:
    """The plugin components in a `_cat/plugins` answer, JSON rows or the plain-text table."""
    if isinstance(cat_plugins, str):
        return {part for line in cat_plugins.splitlines() for part in line.split()[1:2]}
    if isinstance(cat_plugins, list):
        return {row.get("component", "") for row in cat_plugins if isinstance(row, Mapping)}
    return set()


def has_neural_search(cat_plugins: Any) -> bool:
    """Whether the cluster runs neural-search, which serves the `hybrid` query and its search pipelines."""
    return NEURAL_SEARCH_PLUGIN in plugin_components(cat_plugins)

"""What a cluster is and has: read from its own answers (`GET /`, `GET /_cat/plugins?format=json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


# ---- flavour: which engine answers, and its version ------------------------------------------------------------
OPENSEARCH, ELASTICSEARCH, UNKNOWN = "opensearch", "elasticsearch", "unknown"
# Elasticsearch 7.14+ writes it on every answer; its official clients refuse a 2xx answer without it
ELASTIC_PRODUCT_HEADER = "X-Elastic-Product"
# where Elasticsearch gives its version when `GET /` does not (a node without the rest-root module answers 405)
ELASTICSEARCH_NODES_PATH = "/_nodes/_local?filter_path=nodes.*.version,nodes.*.build_flavor"


@dataclass(frozen=True)
class ClusterFlavour:
    """The engine behind a URL: `opensearch`, `elasticsearch` or `unknown`, and its version when it said."""

    name: str
    version: str | None = None

    @property
    def is_elasticsearch(self) -> bool:
        return self.name == ELASTICSEARCH

    def describe(self) -> str:
        label = {OPENSEARCH: "OpenSearch", ELASTICSEARCH: "Elasticsearch"}.get(self.name, "an unknown engine")
        return f"{label} {self.version}" if self.version else label


def cluster_flavour(root: Any, headers: Mapping[str, str], nodes: Any = None) -> ClusterFlavour:
    """The flavour from `GET /`'s JSON answer (None when it was not JSON), that answer's headers, and, for an
    Elasticsearch node whose root gave no version, `ELASTICSEARCH_NODES_PATH`'s answer."""
    version = root.get("version") if isinstance(root, Mapping) else None
    version = version if isinstance(version, Mapping) else {}
    number = version.get("number") if isinstance(version.get("number"), str) else None
    if version.get("distribution") == OPENSEARCH:
        return ClusterFlavour(OPENSEARCH, number)
    product = next((v for k, v in headers.items() if k.lower() == ELASTIC_PRODUCT_HEADER.lower()), None)
    if product == "Elasticsearch" or "build_flavor" in version:
        return ClusterFlavour(ELASTICSEARCH, number or _node_version(nodes))
    return ClusterFlavour(UNKNOWN, number)


def _node_version(nodes: Any) -> str | None:
    found = nodes.get("nodes") if isinstance(nodes, Mapping) else None
    for node in (found or {}).values() if isinstance(found, Mapping) else ():
        if isinstance(node, Mapping) and isinstance(node.get("version"), str):
            return node["version"]
    return None

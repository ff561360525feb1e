"""What a cluster is and has: read from its own answers (`GET /`, its headers, `GET /_cat/plugins?format=json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NEURAL_SEARCH_PLUGIN = "opensearch-neural-search"
KNN_PLUGIN = "opensearch-knn"

OPENSEARCH = "opensearch"
ELASTICSEARCH = "elasticsearch"
# Elasticsearch 7.14+ sends it on every answer, errors included; OpenSearch never does.
ELASTIC_PRODUCT_HEADER = "X-Elastic-Product"


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
UNKNOWN = "unknown"
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

    @property
    def major(self) -> int | None:
        head = (self.version or "").split(".")[0]
        return int(head) if head.isdigit() else None

    def describe(self) -> str:
        label = {OPENSEARCH: "OpenSearch", ELASTICSEARCH: "Elasticsearch"}.get(self.name, "an unknown engine")
        return f"{label} {self.version}" if self.version else label


def detect_flavour(root: Any = None, headers: Mapping[str, str] | None = None, version: str | None = None,
                   nodes: Any = None) -> ClusterFlavour:
    """The flavour from `GET /`'s JSON answer (None or anything else when it was not one), any answer's headers,
    and for a version `version`, else the root's, else `ELASTICSEARCH_NODES_PATH`'s answer in `nodes`. Never raises.

    The product header decides first: an Elasticsearch node without the rest-root module answers `GET /` with
    405, yet its header still names it. Then the root answer: OpenSearch names itself in `version.distribution`
    (localsearch too), Elasticsearch has a `build_flavor` there. Anything else is `unknown`.
    """
    root_version = root.get("version") if isinstance(root, Mapping) else None
    root_version = root_version if isinstance(root_version, Mapping) else {}
    number = version or (root_version.get("number") if isinstance(root_version.get("number"), str) else None)
    product = next((str(value) for key, value in (headers or {}).items()
                    if key.lower() == ELASTIC_PRODUCT_HEADER.lower()), None)
    if product == "Elasticsearch" or (root_version.get("distribution") != OPENSEARCH
                                      and "build_flavor" in root_version):
        return ClusterFlavour(ELASTICSEARCH, number or nodes_version(nodes))
    if root_version.get("distribution") == OPENSEARCH:
        return ClusterFlavour(OPENSEARCH, number)
    return ClusterFlavour(UNKNOWN, number)


def nodes_version(nodes_info: Any) -> str | None:
    """The version of the first node in a `GET /_nodes/...` answer (for clusters whose `GET /` is unavailable)."""
    nodes = nodes_info.get("nodes") if isinstance(nodes_info, Mapping) else None
    for node in (nodes.values() if isinstance(nodes, Mapping) else ()):
        if isinstance(node, Mapping) and isinstance(node.get("version"), str):
            return node["version"]
    return None

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


@dataclass(frozen=True)
class UpstreamFlavour:
    """Which search engine answers upstream, "opensearch" or "elasticsearch", and its version when known."""

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
        product = "Elasticsearch" if self.is_elasticsearch else "OpenSearch"
        return f"{product} {self.version}" if self.version else product


def detect_flavour(root: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                   version: str | None = None) -> UpstreamFlavour:
    """The flavour of a cluster from its `GET /` answer and/or any answer's headers; `version` wins when given.

    The product header decides first: an Elasticsearch node without the rest-root module answers `GET /` with
    405, yet its header still names it. Then the root answer: OpenSearch names itself in `version.distribution`,
    Elasticsearch has a `build_flavor` there. Anything else is taken for OpenSearch, which the product assumed
    before it knew Elasticsearch (localsearch answers as OpenSearch).
    """
    root_version = (root or {}).get("version")
    root_version = root_version if isinstance(root_version, Mapping) else {}
    number = version or root_version.get("number")
    number = str(number) if number else None
    product = next((str(value) for key, value in (headers or {}).items()
                    if key.lower() == ELASTIC_PRODUCT_HEADER.lower()), None)
    if product == "Elasticsearch":
        return UpstreamFlavour(ELASTICSEARCH, number)
    if root_version.get("distribution") == OPENSEARCH:
        return UpstreamFlavour(OPENSEARCH, number)
    if root_version.get("build_flavor"):
        return UpstreamFlavour(ELASTICSEARCH, number)
    return UpstreamFlavour(OPENSEARCH, number)


def nodes_version(nodes_info: Mapping[str, Any] | None) -> str | None:
    """The version of the first node in a `GET /_nodes/...` answer (for clusters whose `GET /` is unavailable)."""
    nodes = (nodes_info or {}).get("nodes")
    for node in (nodes.values() if isinstance(nodes, Mapping) else ()):
        if isinstance(node, Mapping) and node.get("version"):
            return str(node["version"])
    return None

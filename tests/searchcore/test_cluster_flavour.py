"""`searchcore.cluster.cluster_flavour`: the engine and version from the answers each engine really gives."""

from __future__ import annotations

from searchcore.cluster import ClusterFlavour, cluster_flavour

OPENSEARCH_ROOT = {"name": "node-1", "version": {"distribution": "opensearch", "number": "3.6.0",
                                                 "build_type": "zip"}, "tagline": "The OpenSearch Project"}
# Elasticsearch 9.5.3's integ-test-zip has no rest-root module: `GET /` is a 405, with the product header
ELASTICSEARCH_405 = {"error": "Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]", "status": 405}
ELASTICSEARCH_NODES = {"nodes": {"bGZrI1bgS": {"version": "9.5.3", "build_flavor": "default"}}}


def test_opensearch_says_so_in_its_root_answer():
    assert cluster_flavour(OPENSEARCH_ROOT, {}) == ClusterFlavour("opensearch", "3.6.0")


def test_an_elasticsearch_node_without_a_root_api_is_known_by_its_header_and_versioned_by_its_nodes():
    headers = {"x-elastic-product": "Elasticsearch"}
    assert cluster_flavour(ELASTICSEARCH_405, headers) == ClusterFlavour("elasticsearch", None)
    found = cluster_flavour(ELASTICSEARCH_405, headers, ELASTICSEARCH_NODES)
    assert found == ClusterFlavour("elasticsearch", "9.5.3")
    assert found.is_elasticsearch and found.describe() == "Elasticsearch 9.5.3"


def test_an_elasticsearch_root_answer_gives_its_own_version():
    root = {"version": {"number": "8.15.0", "build_flavor": "default"}, "tagline": "You Know, for Search"}
    assert cluster_flavour(root, {"X-Elastic-Product": "Elasticsearch"}) == ClusterFlavour("elasticsearch", "8.15.0")
    assert cluster_flavour(root, {}) == ClusterFlavour("elasticsearch", "8.15.0")   # a proxy that drops headers


def test_anything_else_is_unknown_and_never_raises():
    for root, headers, nodes in ((None, {}, None), ("<html>", {}, None), ({"version": "x"}, {}, []),
                                 ({"version": {"number": 7}}, {"X-Elastic-Product": "Other"}, {"nodes": []})):
        assert cluster_flavour(root, headers, nodes).name == "unknown"
    assert cluster_flavour(None, {"X-Elastic-Product": "Elasticsearch"}, {"nodes": {"a": {}}}) == ClusterFlavour(
        "elasticsearch", None)

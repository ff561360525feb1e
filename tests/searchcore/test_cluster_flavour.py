"""`searchcore.cluster.detect_flavour`: the engine and version from the answers each engine really gives."""

from __future__ import annotations

import pytest

from searchcore.cluster import ClusterFlavour, detect_flavour, nodes_version

OPENSEARCH_ROOT = {"name": "node-1", "version": {"distribution": "opensearch", "number": "3.6.0",
                                                 "build_type": "zip"},
                   "tagline": "The OpenSearch Project: https://opensearch.org/"}
ELASTICSEARCH_ROOT = {"name": "es-1", "version": {"number": "9.5.3", "build_flavor": "default",
                                                  "build_type": "tar"}, "tagline": "You Know, for Search"}
# Elasticsearch 9.5.3's integ-test-zip has no rest-root module: `GET /` is a 405, with the product header
ELASTICSEARCH_405 = {"error": "Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]", "status": 405}
ELASTIC_HEADERS = {"X-elastic-product": "Elasticsearch", "content-type": "application/json"}
NODES_ANSWER = {"nodes": {"bGZrI1bgS-mlPRWwutgqAA": {"version": "9.5.3", "build_flavor": "default"}}}


def test_opensearch_names_itself_in_its_root_answer():
    assert detect_flavour(OPENSEARCH_ROOT, {}) == ClusterFlavour("opensearch", "3.6.0")


def test_elasticsearch_with_a_root_answer_with_or_without_its_header():
    flavour = detect_flavour(ELASTICSEARCH_ROOT)
    assert flavour == ClusterFlavour("elasticsearch", "9.5.3")
    assert flavour.is_elasticsearch and flavour.major == 9
    assert detect_flavour(ELASTICSEARCH_ROOT, ELASTIC_HEADERS) == flavour   # and a proxy that drops headers: above


def test_elasticsearch_without_a_root_api_is_known_by_its_header_and_versioned_by_its_nodes():
    assert detect_flavour(ELASTICSEARCH_405, ELASTIC_HEADERS) == ClusterFlavour("elasticsearch", None)
    found = detect_flavour(ELASTICSEARCH_405, ELASTIC_HEADERS, nodes=NODES_ANSWER)
    assert found == ClusterFlavour("elasticsearch", "9.5.3")
    assert found.describe() == "Elasticsearch 9.5.3"
    assert detect_flavour(headers=ELASTIC_HEADERS, version=nodes_version(NODES_ANSWER)) == found


def test_the_header_wins_over_the_root_answer_and_an_explicit_version_over_the_root():
    assert detect_flavour(OPENSEARCH_ROOT, {"x-elastic-product": "Elasticsearch"},
                          version="9.0.0") == ClusterFlavour("elasticsearch", "9.0.0")


@pytest.mark.parametrize("root, headers, nodes", [
    (None, {}, None), ("<html>", {}, None), ({}, {"content-type": "application/json"}, None),
    ({"version": "x"}, {}, []), ({"version": {"number": 7}}, {"X-Elastic-Product": "Other"}, {"nodes": []}),
    ({"version": {"number": "2.19.1"}}, None, None)])
def test_anything_else_is_unknown_and_never_raises(root, headers, nodes):
    flavour = detect_flavour(root, headers, nodes=nodes)
    assert flavour.name == "unknown" and not flavour.is_elasticsearch


def test_missing_versions():
    assert ClusterFlavour("elasticsearch").major is None
    assert ClusterFlavour("opensearch", "3.6.0").describe() == "OpenSearch 3.6.0"
    assert ClusterFlavour("unknown").describe() == "an unknown engine"
    assert nodes_version({}) is None and nodes_version({"nodes": {"x": {}}}) is None
    assert detect_flavour(None, ELASTIC_HEADERS, nodes={"nodes": {"a": {}}}) == ClusterFlavour("elasticsearch", None)

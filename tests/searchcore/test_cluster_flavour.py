"""Upstream flavour detection from a cluster's own answers: OpenSearch, Elasticsearch with and without `GET /`."""

from __future__ import annotations

import pytest

from searchcore.cluster import UpstreamFlavour, detect_flavour, nodes_version

OPENSEARCH_ROOT = {"name": "node-1", "version": {"distribution": "opensearch", "number": "3.6.0",
                                                 "build_type": "zip"},
                   "tagline": "The OpenSearch Project: https://opensearch.org/"}
ELASTICSEARCH_ROOT = {"name": "es-1", "version": {"number": "9.5.3", "build_flavor": "default",
                                                  "build_type": "tar"}, "tagline": "You Know, for Search"}
# The Elasticsearch 9.5.3 integ-test-zip (no rest-root module): `GET /` is a 405, its headers still say who it is.
ELASTIC_HEADERS = {"X-elastic-product": "Elasticsearch", "content-type": "application/json"}
NODES_ANSWER = {"nodes": {"bGZrI1bgS-mlPRWwutgqAA": {"version": "9.5.3", "build_flavor": "default"}}}


def test_opensearch_names_itself_in_its_root_answer():
    assert detect_flavour(root=OPENSEARCH_ROOT) == UpstreamFlavour("opensearch", "3.6.0")


def test_elasticsearch_with_a_root_answer():
    flavour = detect_flavour(root=ELASTICSEARCH_ROOT)
    assert flavour == UpstreamFlavour("elasticsearch", "9.5.3")
    assert flavour.is_elasticsearch and flavour.major == 9


def test_elasticsearch_without_a_root_answer_is_told_by_its_header_and_nodes_version():
    flavour = detect_flavour(headers=ELASTIC_HEADERS, version=nodes_version(NODES_ANSWER))
    assert flavour == UpstreamFlavour("elasticsearch", "9.5.3")
    assert flavour.describe() == "Elasticsearch 9.5.3"


def test_the_header_wins_over_the_root_answer_and_an_explicit_version_over_the_root():
    assert detect_flavour(root=OPENSEARCH_ROOT, headers={"x-elastic-product": "Elasticsearch"},
                          version="9.0.0") == UpstreamFlavour("elasticsearch", "9.0.0")


@pytest.mark.parametrize("root", [None, {}, {"version": "weird"}, {"version": {"number": "2.19.1"}}])
def test_anything_unrecognised_is_taken_for_opensearch(root):
    flavour = detect_flavour(root=root, headers={"content-type": "application/json"})
    assert flavour.name == "opensearch" and not flavour.is_elasticsearch


def test_an_unknown_version_has_no_major():
    assert UpstreamFlavour("elasticsearch").major is None
    assert UpstreamFlavour("opensearch", "3.6.0").describe() == "OpenSearch 3.6.0"
    assert nodes_version({}) is None and nodes_version({"nodes": {"x": {}}}) is None

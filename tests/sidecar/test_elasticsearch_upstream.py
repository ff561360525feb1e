"""An Elasticsearch upstream, in pieces: the flavour probe, the k-NN leg in Elasticsearch's form, client fusion in
place of server mode, dense_vector mappings, and the media type and product header of the sidecar's answers."""

from __future__ import annotations

import json
import logging

from werkzeug.wrappers import Request, Response

from searchcore.cluster import ClusterFlavour
from searchcore.contract import vector_field_dimension, vector_field_space_type, vector_field_spec
from searchcore.fusion import FusionConfig
from sidecar.elastic_compat import answer_content_type, refused_by_the_node
from sidecar.index_mapping import has_knn_field
from sidecar.retrieve import FirstStageRequest, Retriever
from sidecar.upstream import Upstream, UpstreamConfig
from sidecar.upstream_flavour import UpstreamFlavour
from tests.standins import stand_in

COMPATIBLE = "application/vnd.elasticsearch+json; compatible-with=9"


def elasticsearch_node(request: Request) -> Response:
    """Enough of Elasticsearch 9.5.3's integ-test-zip: no root API, the product header on every answer."""
    headers = {"X-Elastic-Product": "Elasticsearch"}
    if request.path == "/":
        return Response(json.dumps({"error": "Incorrect HTTP method", "status": 405}), status=405, headers=headers,
                        content_type="application/json")
    if request.path == "/_nodes/_local":
        body = {"nodes": {"n1": {"version": "9.5.3", "build_flavor": "default"}}}
    elif request.path == "/_msearch":
        hit = {"_index": "docs", "_id": "a", "_score": 1.0, "_source": {"text": "x"}}
        answer = {"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                  "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": 1.0, "hits": [hit]}}
        body = {"took": 1, "responses": [answer, answer]}
    else:
        body = {}
    return Response(json.dumps(body), headers=headers, content_type="application/json")


def first_stage(vector_field: str = "embedding") -> FirstStageRequest:
    return FirstStageRequest(index="docs", lexical_query={"match": {"text": "x"}}, filters=[{"term": {"c": "a"}}],
                             vector=[0.5, 0.5], vector_field=vector_field, depth=10,
                             fusion=FusionConfig("min_max", "arithmetic_mean"), source=True, hit_options={},
                             summary_body={"size": 0}, params={})


def test_the_knn_leg_in_each_engines_form():
    request = first_stage()
    filters = {"bool": {"filter": [{"term": {"c": "a"}}]}}
    assert request.knn_query() == {"knn": {"embedding": {"vector": [0.5, 0.5], "k": 10, "filter": filters}}}
    assert request.knn_query(elasticsearch=True) == {"knn": {
        "field": "embedding", "query_vector": [0.5, 0.5], "k": 10, "num_candidates": 100, "filter": filters}}


def test_the_flavour_is_probed_once_and_again_after_the_upstream_was_lost():
    with stand_in(elasticsearch_node) as node:
        flavour = UpstreamFlavour(Upstream(UpstreamConfig(url=node.url)))
        found = flavour.current()
        assert (found.name, found.version) == ("elasticsearch", "9.5.3")
        assert flavour.current() is found and len(node.seen) == 2   # `/` then `/_nodes/_local`, once
        flavour.observer(None)("/docs/_search", "unavailable", 0.1)
        assert flavour.known() is None
        assert flavour.current() == found and len(node.seen) == 4


def test_an_unreachable_upstream_has_no_flavour_yet():
    flavour = UpstreamFlavour(Upstream(UpstreamConfig(url="http://127.0.0.1:9", connect_timeout_s=0.5)))
    assert flavour.current() is None and flavour.known() is None


def test_server_mode_on_elasticsearch_is_client_fusion_with_its_knn_query(caplog):
    with stand_in(elasticsearch_node) as node:
        retriever = Retriever(Upstream(UpstreamConfig(url=node.url)))
        with caplog.at_level(logging.WARNING):
            result = retriever.retrieve(first_stage(), "server", {})
        assert result.mode == "client" and [c.hit["_id"] for c in result.candidates] == ["a"]
        assert "using client-side fusion" in caplog.text
        assert not any("/_search/pipeline" in call["path"] for call in node.seen)
        (msearch,) = [call for call in node.seen if call["path"] == "/_msearch"]
        knn_leg = json.loads(msearch["body"].decode().splitlines()[3])
        assert knn_leg["query"]["knn"]["field"] == "embedding"


def test_an_indexed_dense_vector_is_a_vector_field():
    mapping = {"docs": {"mappings": {"properties": {
        "embedding": {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine"},
        "raw": {"type": "dense_vector", "dims": 3, "index": False},
        "nested": {"properties": {"v": {"type": "dense_vector", "dims": 2, "similarity": "l2_norm"}}}}}}}
    assert has_knn_field(mapping, "embedding") and has_knn_field(mapping, "nested.v")
    assert not has_knn_field(mapping, "raw") and not has_knn_field(mapping, "missing")
    assert vector_field_dimension(mapping, "embedding") == 384
    assert vector_field_space_type(vector_field_spec(mapping, "embedding")) == "cosinesimil"
    assert vector_field_space_type({"type": "dense_vector", "similarity": "l2_norm"}) == "l2"
    assert vector_field_space_type({"type": "dense_vector", "similarity": "dot_product"}) == "innerproduct"
    assert vector_field_space_type({"type": "dense_vector"}) == "cosinesimil"   # Elasticsearch's default
    assert vector_field_space_type({"type": "knn_vector", "dimension": 2}) == "l2"   # unchanged for OpenSearch


def test_the_sidecars_answers_take_the_media_type_the_client_asked_for():
    default = "application/json; charset=UTF-8"
    assert answer_content_type({"Accept": COMPATIBLE}, default) == "application/vnd.elasticsearch+json;compatible-with=9"
    assert answer_content_type({"Accept": "application/vnd.elasticsearch+json;compatible-with=8"}, default) == \
        "application/vnd.elasticsearch+json;compatible-with=8"
    assert answer_content_type({"Accept": "application/json"}, default) == default
    assert answer_content_type({}, default) == default


class KnownFlavour:
    """An UpstreamFlavour that already knows its answer (no cluster asked)."""

    def __init__(self, flavour: ClusterFlavour | None) -> None:
        self.flavour = flavour

    def current(self) -> ClusterFlavour | None:
        return self.flavour


def media(major: int, kind: str = "json") -> str:
    return f"application/vnd.elasticsearch+{kind}; compatible-with={major}"


def test_media_types_an_elasticsearch_node_refuses_are_left_to_the_node():
    """As Elasticsearch 8.19.9 and 9.5.3 answer (tests/elasticsearch/test_node.py checks the nodes): a node reads
    its own major and the one before, on Accept and Content-Type alike, with the same version on both."""
    eight, nine = KnownFlavour(ClusterFlavour("elasticsearch", "8.19.9")), KnownFlavour(ClusterFlavour(
        "elasticsearch", "9.5.3"))
    refused = {"Accept": media(9), "Content-Type": media(9)}   # the 9.x client, unchanged
    assert refused_by_the_node(refused, eight) and not refused_by_the_node(refused, nine)
    read = {"Accept": media(8), "Content-Type": media(8, "x-ndjson")}   # the 8.x client's _msearch
    assert not refused_by_the_node(read, eight) and not refused_by_the_node(read, nine)
    assert refused_by_the_node({"Accept": media(7)}, nine) and not refused_by_the_node({"Accept": media(7)}, eight)
    assert refused_by_the_node({"Accept": media(8), "Content-Type": "application/json"}, eight)   # versions differ
    assert not refused_by_the_node({"Accept": media(8)}, eight)   # no body: Accept alone
    assert not refused_by_the_node({"Accept": "application/json", "Content-Type": "application/json"}, eight)


def test_opensearch_and_an_unknown_upstream_never_refuse_a_media_type():
    for flavour in (KnownFlavour(ClusterFlavour("opensearch", "3.6.0")), KnownFlavour(None), None,
                    KnownFlavour(ClusterFlavour("elasticsearch", None))):
        assert not refused_by_the_node({"Accept": media(9), "Content-Type": media(7)}, flavour)

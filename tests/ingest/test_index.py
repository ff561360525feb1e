"""Target index set-up against an in-memory cluster: adopting, refusing, and the cluster's refusals."""

from __future__ import annotations

import pytest
from opensearchpy.exceptions import RequestError

from ingest.index import MappingRefused, cluster_reason, prepare_index
from searchcore.contract import ContractError, HnswSettings, IndexContract
from tests.ingest.fakes import FakeOpenSearch

CONTRACT = IndexContract(model="stub", dimension=8)
NMSLIB_REFUSAL = {"error": {
    "root_cause": [{"type": "mapper_parsing_exception", "reason": "Failed to parse mapping [_doc]: nmslib "
                    "engine is deprecated"}],
    "type": "mapper_parsing_exception", "reason": "Failed to parse mapping [_doc]: nmslib engine is deprecated",
    "caused_by": {"type": "illegal_argument_exception",
                  "reason": "nmslib engine is deprecated in OpenSearch  and cannot be used\nfor new indices."}},
    "status": 400}


def knn_field(dimension=8, **method):
    return {"type": "knn_vector", "dimension": dimension,
            "method": {"name": "hnsw", "engine": "lucene", **method}}


def knn_index(client, properties, meta=None):
    mappings = {"properties": properties, **({"_meta": meta} if meta else {})}
    client._create("docs", {"settings": {"index": {"knn": True}}, "mappings": mappings})


def test_a_refused_mapping_is_one_line_naming_the_index_engine_and_the_clusters_reason():
    client = FakeOpenSearch()

    def refuse(index, body):
        raise RequestError(400, "mapper_parsing_exception", NMSLIB_REFUSAL)

    client.indices.create = refuse
    with pytest.raises(MappingRefused) as caught:
        prepare_index(client, "docs", CONTRACT, HnswSettings(engine="nmslib"))
    message = str(caught.value)
    assert message == ("the cluster refused to create index [docs] with knn_vector field [embedding] (engine "
                       "[nmslib], space_type [cosinesimil], dimension 8): nmslib engine is deprecated in "
                       "OpenSearch and cannot be used for new indices.")


def test_cluster_reason_falls_back_to_the_error_type():
    assert cluster_reason(RequestError(400, "illegal_argument_exception", "plain text")) == \
        "illegal_argument_exception"


def test_a_field_in_another_space_is_not_adopted():
    client = FakeOpenSearch()
    knn_index(client, {"embedding": knn_field(space_type="l2")})
    with pytest.raises(ContractError, match=r"space_type \[l2\] but this run uses \[cosinesimil\]; "
                                            r"pass --space-type l2"):
        prepare_index(client, "docs", CONTRACT)
    assert "_meta" not in client.indices_data["docs"]["mappings"]


def test_a_field_without_space_type_scores_in_l2():
    client = FakeOpenSearch()
    knn_index(client, {"embedding": {"type": "knn_vector", "dimension": 8}})
    l2 = IndexContract(model="stub", dimension=8, space_type="l2")
    assert prepare_index(client, "docs", l2) == "adopted"
    assert IndexContract.from_mapping(client._get_mapping("docs")) == l2


def test_a_vector_field_name_taken_by_another_type_is_refused():
    client = FakeOpenSearch()
    knn_index(client, {"embedding": {"type": "float"}})
    with pytest.raises(ContractError, match=r"field \[embedding\] of type \[float\], not knn_vector"):
        prepare_index(client, "docs", CONTRACT)


def test_adding_the_vector_field_leaves_existing_fields_and_meta_alone():
    client = FakeOpenSearch()
    knn_index(client, {"title": {"type": "keyword"}}, meta={"owner": "search-team"})
    assert prepare_index(client, "docs", CONTRACT) == "adopted"
    mappings = client.indices_data["docs"]["mappings"]
    assert mappings["properties"]["title"] == {"type": "keyword"}
    assert mappings["properties"]["text"] == {"type": "text"}
    assert mappings["properties"]["embedding"]["method"]["engine"] == "lucene"
    assert mappings["_meta"]["owner"] == "search-team"
    assert IndexContract.from_mapping(mappings) == CONTRACT


def test_a_dry_run_adopts_nothing():
    client = FakeOpenSearch()
    knn_index(client, {"embedding": knn_field(space_type="cosinesimil")})
    assert prepare_index(client, "docs", CONTRACT, dry_run=True) == "would adopt"
    assert "_meta" not in client.indices_data["docs"]["mappings"]

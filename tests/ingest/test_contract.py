"""The index contract: `_meta` round trip, compatibility checks and the create-index body."""

from __future__ import annotations

import pytest

from searchcore.contract import (
    ContractError,
    HnswSettings,
    IndexContract,
    index_body,
    vector_field_dimension,
    vector_field_space_type,
)

MINILM = IndexContract(model="all-MiniLM-L6-v2", dimension=384)


def test_meta_has_the_documented_shape():
    assert MINILM.to_meta() == {"rerank_sidecar": {
        "contract_version": 1, "model": "all-MiniLM-L6-v2", "dimension": 384,
        "space_type": "cosinesimil", "normalized": True, "vector_field": "embedding",
        "text_fields": ["title", "text"]}}


@pytest.mark.parametrize("wrap", [
    lambda m: {"docs-v1": {"mappings": m}},  # GET /docs-v1/_mapping
    lambda m: {"mappings": m},  # one index's entry or a create body
    lambda m: m,  # the mappings body itself
])
def test_from_mapping_reads_every_response_shape(wrap):
    mappings = {"_meta": MINILM.to_meta(), "properties": {"title": {"type": "text"}}}
    assert IndexContract.from_mapping(wrap(mappings)) == MINILM


def test_from_mapping_without_contract_is_none():
    assert IndexContract.from_mapping({"docs": {"mappings": {"properties": {}}}}) is None
    assert IndexContract.from_mapping({"docs": {"mappings": {"_meta": {"team": "x"}}}}) is None


def test_alias_over_indices_with_different_contracts_is_refused():
    other = IndexContract(model="e5-small", dimension=384)
    response = {"a": {"mappings": {"_meta": MINILM.to_meta()}},
                "b": {"mappings": {"_meta": other.to_meta()}}}
    with pytest.raises(ContractError, match="different contracts"):
        IndexContract.from_mapping(response)


def test_newer_contract_version_is_refused():
    meta = MINILM.to_meta()
    meta["rerank_sidecar"]["contract_version"] = 2
    with pytest.raises(ContractError, match="contract_version"):
        IndexContract.from_mapping({"_meta": meta})


def test_check_compatible_names_both_models_and_dimensions():
    other = IndexContract(model="bge-base", dimension=768)
    with pytest.raises(ContractError) as caught:
        MINILM.check_compatible(other, index="docs")
    reason = caught.value.reason
    assert "bge-base" in reason and "768" in reason
    assert "all-MiniLM-L6-v2" in reason and "384" in reason and "[docs]" in reason
    assert caught.value.body()["status"] == 400


def test_check_compatible_accepts_the_same_contract_and_other_text_fields():
    MINILM.check_compatible(IndexContract(model="all-MiniLM-L6-v2", dimension=384,
                                          text_fields=("body",)))


def test_space_type_mismatch_is_incompatible():
    with pytest.raises(ContractError, match="space_type"):
        MINILM.check_compatible(IndexContract(model="all-MiniLM-L6-v2", dimension=384,
                                              space_type="l2"))


@pytest.mark.parametrize("bad", [{"dimension": 0}, {"dimension": "384"}, {"model": ""},
                                 {"space_type": "hamming"}])
def test_invalid_contracts_are_refused(bad):
    with pytest.raises(ContractError):
        IndexContract(**{"model": "m", "dimension": 384, **bad})


def test_index_body_defaults():
    body = index_body(MINILM)
    assert body["settings"] == {"index": {"knn": True}}
    props = body["mappings"]["properties"]
    assert props["title"] == {"type": "text"} and props["text"] == {"type": "text"}
    assert props["embedding"] == {"type": "knn_vector", "dimension": 384, "method": {
        "name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
        "parameters": {"m": 16, "ef_construction": 100}}}
    assert IndexContract.from_mapping(body) == MINILM
    assert vector_field_dimension(body, "embedding") == 384
    assert vector_field_dimension(body, "title") is None


def test_index_body_with_settings_and_kept_properties():
    body = index_body(MINILM, HnswSettings(engine="faiss", m=32, ef_construction=256,
                                           number_of_shards=2, number_of_replicas=0),
                      extra_properties={"sku": {"type": "keyword"},
                                        "title": {"type": "text", "analyzer": "english"}})
    assert body["settings"]["index"] == {"knn": True, "number_of_shards": 2,
                                         "number_of_replicas": 0}
    method = body["mappings"]["properties"]["embedding"]["method"]
    assert method["engine"] == "faiss" and method["parameters"] == {"m": 32,
                                                                     "ef_construction": 256}
    assert body["mappings"]["properties"]["sku"] == {"type": "keyword"}
    assert body["mappings"]["properties"]["title"]["analyzer"] == "english"


def test_unknown_engine_is_refused():
    with pytest.raises(ContractError, match="engine"):
        HnswSettings(engine="annoy")


@pytest.mark.parametrize(("spec", "space_type"), [
    ({"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "space_type": "innerproduct"}},
     "innerproduct"),
    ({"type": "knn_vector", "dimension": 3, "space_type": "cosinesimil"}, "cosinesimil"),  # 3.x top level
    ({"type": "knn_vector", "dimension": 3}, "l2"),  # the k-NN plugin's default
])
def test_vector_field_space_type(spec, space_type):
    assert vector_field_space_type(spec) == space_type


# ---- Elasticsearch: dense_vector ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("space_type", "similarity"), [
    ("cosinesimil", "cosine"), ("l2", "l2_norm"), ("innerproduct", "dot_product")])
def test_the_elasticsearch_body_has_a_dense_vector_field_in_the_contracts_space(space_type, similarity):
    contract = IndexContract(model="all-MiniLM-L6-v2", dimension=384, space_type=space_type)
    body = index_body(contract, HnswSettings(m=24, ef_construction=128, number_of_shards=2),
                      elasticsearch=True)
    assert body["settings"] == {"index": {"number_of_shards": 2}}  # no index.knn: Elasticsearch refuses it
    assert body["mappings"]["_meta"] == contract.to_meta()
    field = body["mappings"]["properties"]["embedding"]
    assert field == {"type": "dense_vector", "dims": 384, "index": True, "similarity": similarity,
                     "index_options": {"type": "hnsw", "m": 24, "ef_construction": 128}}
    assert vector_field_space_type(field) == space_type  # read back in the contract's names
    assert vector_field_dimension(body, "embedding") == 384
    assert IndexContract.from_mapping(body) == contract


def test_unnormalized_inner_product_is_max_inner_product_on_elasticsearch():
    contract = IndexContract(model="m", dimension=4, space_type="innerproduct", normalized=False)
    field = index_body(contract, elasticsearch=True)["mappings"]["properties"]["embedding"]
    assert field["similarity"] == "max_inner_product"
    assert vector_field_space_type(field) == "innerproduct"


def test_a_dense_vector_that_names_no_similarity_scores_in_cosine():
    assert vector_field_space_type({"type": "dense_vector", "dims": 3}) == "cosinesimil"
    assert vector_field_dimension({"mappings": {"properties": {"v": {"type": "dense_vector"}}}}, "v") is None

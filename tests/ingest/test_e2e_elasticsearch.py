"""Ingest end to end against each real Elasticsearch node (the 9.5.3 integ-test-zip, and 8.19.9 when the run was
given it) with the real all-MiniLM-L6-v2,
checked through the official elasticsearch client: what differs from OpenSearch. The dense_vector mapping and
contract, kNN, the refusals and adoption, and `--from-index` with its alias swap (the node has no `_reindex`).

What holds on every engine (each source format, dead letters, `--resume` after kill -9, dry runs) runs here too,
from test_e2e.py and test_e2e_rejections.py."""

from __future__ import annotations

import json

import pytest
from elasticsearch import Elasticsearch

from ingest.connect import ConnectionOptions, close_client, connect
from ingest.index import MappingRefused, prepare_index
from searchcore.contract import IndexContract
from tests.conftest import opensearch_url
from tests.ingest.conftest import ElasticTarget, elastic_target, small_docs, write_format

pytestmark = pytest.mark.elasticsearch

MINILM = IndexContract(model="all-MiniLM-L6-v2", dimension=384)
SIMILARITY = {"cosinesimil": "cosine", "l2": "l2_norm", "innerproduct": "dot_product"}


@pytest.fixture
def es_target(es_node, index_name, tmp_path):
    target = elastic_target(es_node, index_name, tmp_path / "state")
    yield target
    target.cleanup()


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("rerank-sidecar ingest: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_ingest_connects_with_the_client_each_flavour_needs(es_node):
    options = ConnectionOptions(url=es_node.url)
    client, flavour = connect(options)
    try:  # this node answers GET / with 405: the product header and _nodes tell it apart
        assert isinstance(client, Elasticsearch)
        assert flavour.is_elasticsearch and flavour.version == es_node.version
        # the client speaks the node's major: compatible-with=8 to an 8.x node (the node refuses 9)
        assert client.cluster.health().meta.headers["Content-Type"] == \
            f"application/vnd.elasticsearch+json;compatible-with={es_node.major}"
    finally:
        close_client(client, options)


@pytest.mark.opensearch
def test_an_opensearch_upstream_keeps_opensearch_py():
    from opensearchpy import OpenSearch

    options = ConnectionOptions(url=opensearch_url())
    client, flavour = connect(options)
    try:
        assert isinstance(client, OpenSearch) and flavour.name == "opensearch"
    finally:
        close_client(client, options)


@pytest.mark.parametrize("space_type", ["cosinesimil", "l2", "innerproduct"])
def test_a_jsonl_corpus_lands_as_dense_vectors_searchable_by_knn(space_type, es_target, tmp_path, minilm):
    docs = small_docs(6)
    summary = tmp_path / "summary.json"
    assert es_target(str(write_format("jsonl", tmp_path, docs)), "--space-type", space_type, "--m", "24",
                     "--ef-construction", "128", "--summary-json", str(summary)) == 0
    report = json.loads(summary.read_text())
    assert (report["index_status"], report["written"]) == ("created", 6)
    assert report["pipeline_status"] == "skipped: Elasticsearch has no search pipelines"
    mappings = es_target.mappings()
    assert mappings["properties"]["embedding"] == {
        "type": "dense_vector", "dims": 384, "index": True, "similarity": SIMILARITY[space_type],
        "index_options": {"type": "hnsw", "m": 24, "ef_construction": 128}}
    expected = IndexContract(model="all-MiniLM-L6-v2", dimension=384, space_type=space_type)
    assert mappings["_meta"] == expected.to_meta()
    assert IndexContract.from_mapping(es_target.client().indices.get_mapping(index=es_target.index).body) == expected
    settings = es_target.client().indices.get_settings(index=es_target.index).body[es_target.index]["settings"]
    assert "knn" not in settings["index"]
    stored = es_target.all_docs()
    assert set(stored) == {d["id"] for d in docs} and len(stored["d2"]["embedding"]) == 384
    # a document's own text finds it first, scored as Elasticsearch scores a perfect match in each similarity
    doc = docs[3]
    (top_id, top_score), *_ = es_target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0])
    assert top_id == doc["id"] and top_score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("other", "message"), [
    (IndexContract(model="BAAI/bge-base-en-v1.5", dimension=768),
     "index [{index}] was embedded with model [BAAI/bge-base-en-v1.5] (dimension 768) but this run uses model "
     "[all-MiniLM-L6-v2] (dimension 384); use the same model or write into a new index"),
    (IndexContract(model="all-MiniLM-L6-v2", dimension=768),
     "index [{index}] was embedded with model [all-MiniLM-L6-v2] (dimension 768) but this run uses model "
     "[all-MiniLM-L6-v2] (dimension 384)"),
], ids=["model", "dimension"])
def test_an_index_embedded_otherwise_is_refused(other, message, es_target, tmp_path, capsys):
    es_target.client().indices.create(index=es_target.index, mappings={"_meta": other.to_meta(), "properties": {
        "embedding": {"type": "dense_vector", "dims": other.dimension, "index": True, "similarity": "cosine"}}})
    assert es_target(str(write_format("jsonl", tmp_path, small_docs(3)))) == 2
    assert message.format(index=es_target.index) in error_line(capsys)
    assert es_target.client().count(index=es_target.index)["count"] == 0


def test_a_dense_vector_of_another_dimension_without_contract_is_refused(es_target, tmp_path, capsys):
    es_target.client().indices.create(index=es_target.index, mappings={"properties": {
        "embedding": {"type": "dense_vector", "dims": 768, "index": True, "similarity": "cosine"}}})
    assert es_target(str(write_format("jsonl", tmp_path, small_docs(3)))) == 2
    assert error_line(capsys).endswith(
        f"index [{es_target.index}] has a [embedding] field of dimension 768 but model [all-MiniLM-L6-v2] gives "
        "dimension 384")
    assert "_meta" not in es_target.mappings()


def test_an_index_without_the_vector_field_gets_it_added(es_target, tmp_path):
    """Elasticsearch has no index.knn: any index can take a dense_vector field, next to what it has."""
    es_target.client().indices.create(index=es_target.index, mappings={
        "_meta": {"owner": "search-team"}, "properties": {"title": {"type": "keyword"}}})
    summary = tmp_path / "s.json"
    assert es_target(str(write_format("jsonl", tmp_path, small_docs(4))), "--summary-json", str(summary)) == 0
    assert json.loads(summary.read_text())["index_status"] == "adopted"
    mappings = es_target.mappings()
    assert mappings["properties"]["title"] == {"type": "keyword"}
    assert mappings["properties"]["embedding"]["type"] == "dense_vector"
    assert mappings["_meta"] == {"owner": "search-team", **MINILM.to_meta()}


def dense_vector(dims: int = 384, **options) -> dict:
    return {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine", **options}


def test_an_index_with_a_matching_dense_vector_but_no_contract_is_adopted(es_target, tmp_path, minilm):
    es_target.client().indices.create(index=es_target.index, mappings={
        "_meta": {"owner": "search-team"}, "properties": {"embedding": dense_vector()}})
    summary = tmp_path / "s.json"
    assert es_target(str(write_format("jsonl", tmp_path, small_docs(4))), "--summary-json", str(summary)) == 0
    assert json.loads(summary.read_text())["index_status"] == "adopted"
    assert es_target.mappings()["_meta"] == {"owner": "search-team", **MINILM.to_meta()}
    doc = small_docs(4)[1]
    assert es_target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0])[0][0] == doc["id"]


@pytest.mark.parametrize(("field", "message"), [
    (dense_vector(similarity="l2_norm"), "has a [embedding] field with space_type [l2] but this run uses "
                                         "[cosinesimil]; pass --space-type l2 or write into a new index"),
    (dense_vector(index=False, similarity=None), "has a [embedding] field that is not indexed for kNN search "
                                                 "(index: false); write into a new index"),
    ({"type": "keyword"}, "has a field [embedding] of type [keyword], not dense_vector; choose another "
                          "--vector-field"),
], ids=["similarity", "not-indexed", "keyword"])
def test_a_vector_field_that_cannot_take_these_vectors_is_refused(field, message, es_target, tmp_path, capsys):
    field = {key: value for key, value in field.items() if value is not None}
    es_target.client().indices.create(index=es_target.index, mappings={"properties": {"embedding": field}})
    assert es_target(str(write_format("jsonl", tmp_path, small_docs(3)))) == 2
    assert error_line(capsys).endswith(f"index [{es_target.index}] {message}")
    assert "_meta" not in es_target.mappings()


def test_a_mapping_the_cluster_refuses_is_one_clear_error(es_target):
    contract = IndexContract(model="huge", dimension=4097)  # Elasticsearch's limit is 4096 dimensions
    with pytest.raises(MappingRefused) as caught:
        prepare_index(es_target.client(), es_target.index, contract)
    message = str(caught.value)
    assert message.startswith(f"the cluster refused to create index [{es_target.index}] with dense_vector field "
                              "[embedding] (space_type [cosinesimil], dimension 4097): ")
    assert "4096" in message and "\n" not in message
    assert not es_target.client().indices.exists(index=es_target.index)


# Only the server's own analysis parts: the integ-test-zip has no analysis-common module (no asciifolding).
LOWERED = {"analyzer": {"lowered": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}}


def plain_index(target: ElasticTarget, name: str, docs: list[dict]) -> None:
    """An index as clients have it before ingest: a custom analyzer, a keyword, and a vector field of their own
    (which Elasticsearch 9 leaves out of `_source` unless asked: the copy must keep it anyway)."""
    client = target.client()
    client.indices.create(index=name, settings={"index": {"analysis": LOWERED}}, mappings={"properties": {
        "title": {"type": "text", "analyzer": "lowered"}, "text": {"type": "text"}, "sku": {"type": "keyword"},
        "legacy_vector": {"type": "dense_vector", "dims": 2, "index": True, "similarity": "l2_norm"}}})
    for i, doc in enumerate(docs):
        client.index(index=name, id=doc["id"], document={
            "title": doc["title"], "text": doc["text"], "sku": doc["id"].upper(), "legacy_vector": [float(i), 1.0]})
    client.indices.refresh(index=name)


def test_from_index_copies_without_reindex_and_swaps_the_alias(es_target, minilm):
    old, new, alias = es_target.name("v1"), es_target.name("v2"), es_target.index
    docs = small_docs(12, prefix="k")
    plain_index(es_target, old, docs)
    client = es_target.client()
    client.indices.update_aliases(actions=[{"add": {"index": old, "alias": alias}}])
    assert es_target("--from-index", alias, "--batch-size", "5", index=new) == 0
    assert sorted(client.indices.get_alias(name=alias).body) == [new]
    stored = es_target.all_docs(new)
    assert set(stored) == {d["id"] for d in docs}
    assert stored["k7"]["sku"] == "K7" and stored["k7"]["legacy_vector"] == [7.0, 1.0]
    assert len(stored["k7"]["embedding"]) == 384
    mappings = es_target.mappings(new)
    assert mappings["properties"]["title"]["analyzer"] == "lowered"
    assert mappings["properties"]["embedding"]["type"] == "dense_vector"
    assert IndexContract.from_mapping(mappings) == MINILM
    analysis = client.indices.get_settings(index=new).body[new]["settings"]["index"]["analysis"]
    assert analysis == client.indices.get_settings(index=old).body[old]["settings"]["index"]["analysis"]
    # through the alias: lexical and kNN reach the new index
    hits = client.search(index=alias, query={"term": {"sku": "K5"}})["hits"]["hits"]
    assert [(hit["_index"], hit["_id"]) for hit in hits] == [(new, "k5")]
    doc = docs[9]
    assert es_target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0], index=alias)[0][0] == "k9"


def test_from_index_replaces_the_index_and_a_resumed_run_skips_what_is_there(es_target, tmp_path):
    name, new = es_target.index, es_target.name("knn")
    docs = small_docs(12, prefix="k")
    plain_index(es_target, name, docs)
    checkpoint, summary = tmp_path / "cp.json", tmp_path / "s.json"
    args = ("--from-index", name, "--checkpoint", str(checkpoint), "--summary-json", str(summary))
    assert es_target(*args, index=new) == 0
    client = es_target.client()
    assert client.count(index=new)["count"] == 12
    # As if the run had stopped part way with three documents unwritten: --resume reads the source again and
    # writes only what the new index lacks (an `ids` query per batch; nothing reads vectors back).
    saved = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**saved, "complete": False, "position": 5}))
    for doc_id in ("k1", "k4", "k10"):  # one by one: the node has no _delete_by_query (the reindex module's)
        client.delete(index=new, id=doc_id, refresh=True)
    assert es_target(*args, "--resume", "--alias", name, "--replace-index", index=new) == 0
    report = json.loads(summary.read_text())
    assert (report["written"], report["skipped"], report["failed"]) == (3, 9, 0)
    assert sorted(client.indices.get_alias(name=name).body) == [new]  # the old index is now this alias
    assert client.count(index=name)["count"] == 12
    assert len(es_target.all_docs(name)["k4"]["embedding"]) == 384

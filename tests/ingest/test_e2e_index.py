"""The index ingest creates or adopts, against localsearch and the real OpenSearch node: the k-NN mapping as the
cluster stores it, the `_meta` contract, and the refusals (model, dimension, space type, mappings the cluster
rejects), each one line with exit status 2 and nothing written."""

from __future__ import annotations

import json

import pytest
from opensearchpy import OpenSearch

from ingest.index import MappingRefused, prepare_index
from searchcore.contract import HnswSettings, IndexContract
from sidecar.cli import main
from tests.conftest import opensearch_url
from tests.ingest.conftest import IngestTarget, small_docs, write_format

MINILM = IndexContract(model="all-MiniLM-L6-v2", dimension=384)

# k-NN scores per space type for a query equal to the document's own unit vector (design section 4).
SELF_SCORE = {"cosinesimil": 1.0, "l2": 1.0, "innerproduct": 2.0}


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("rerank-sidecar ingest: error:")]
    assert len(lines) == 1, err
    return lines[0]


def create_index(target: IngestTarget, properties: dict, *, meta: dict | None = None, knn: bool = True) -> None:
    mappings = {"properties": properties, **({"_meta": meta} if meta else {})}
    target.client().indices.create(index=target.index, body={
        "settings": {"index": {"knn": knn}}, "mappings": mappings})


def summary_of(target: IngestTarget, tmp_path, *args: str) -> dict:
    path = write_format("jsonl", tmp_path, small_docs(4))
    summary = tmp_path / "summary.json"
    assert target(str(path), "--summary-json", str(summary), *args) == 0
    return json.loads(summary.read_text())


@pytest.mark.parametrize("space_type", ["cosinesimil", "l2", "innerproduct"])
def test_the_knn_mapping_as_the_cluster_stores_it(space_type, target, tmp_path, minilm):
    summary = summary_of(target, tmp_path, "--space-type", space_type, "--m", "24", "--ef-construction", "128")
    assert summary["index_status"] == "created" and summary["written"] == 4
    client = target.client()
    mappings = client.indices.get_mapping(index=target.index)[target.index]["mappings"]
    field = mappings["properties"]["embedding"]
    assert field["type"] == "knn_vector" and field["dimension"] == 384
    assert field["method"]["name"] == "hnsw"
    assert field["method"]["engine"] == target.backend.knn_engine
    assert field["method"]["space_type"] == space_type
    assert {k: int(v) for k, v in field["method"]["parameters"].items()} == {"m": 24, "ef_construction": 128}
    assert mappings["properties"]["title"]["type"] == "text" and mappings["properties"]["text"]["type"] == "text"
    expected = IndexContract(model="all-MiniLM-L6-v2", dimension=384, space_type=space_type)
    assert mappings["_meta"] == expected.to_meta()
    settings = client.indices.get_settings(index=target.index)[target.index]["settings"]["index"]
    assert str(settings["knn"]).lower() == "true"
    # the cluster scores the stored vectors in that space: a document's own text scores as itself
    doc = small_docs(4)[2]
    (top_id, top_score), *_ = target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0])
    assert top_id == doc["id"]
    assert top_score == pytest.approx(SELF_SCORE[space_type], abs=1e-4)


def test_the_hybrid_pipeline_is_created_once(target, tmp_path):
    assert summary_of(target, tmp_path)["pipeline_status"] == "created"
    stored = target.client().search_pipeline.get(id=target.pipeline)[target.pipeline]
    processor = stored["phase_results_processors"][0]["normalization-processor"]
    assert processor["normalization"]["technique"] == "min_max"
    assert processor["combination"]["technique"] == "arithmetic_mean"
    assert summary_of(target, tmp_path)["pipeline_status"] == "exists"


@pytest.mark.parametrize(("other", "message"), [
    (IndexContract(model="BAAI/bge-base-en-v1.5", dimension=768),
     "index [{index}] was embedded with model [BAAI/bge-base-en-v1.5] (dimension 768) but this run uses model "
     "[all-MiniLM-L6-v2] (dimension 384); use the same model or write into a new index"),
    (IndexContract(model="all-MiniLM-L6-v2", dimension=768),  # same name, another dimension
     "index [{index}] was embedded with model [all-MiniLM-L6-v2] (dimension 768) but this run uses model "
     "[all-MiniLM-L6-v2] (dimension 384)"),
], ids=["model", "dimension"])
def test_an_index_embedded_otherwise_is_refused(other, message, target, tmp_path, capsys):
    create_index(target, {"embedding": target.knn_field(other.dimension)}, meta=other.to_meta())
    path = write_format("jsonl", tmp_path, small_docs(3))
    assert target(str(path)) == 2
    assert message.format(index=target.index) in error_line(capsys)
    assert target.client().count(index=target.index)["count"] == 0


def test_a_vector_field_of_another_dimension_without_contract_is_refused(target, tmp_path, capsys):
    create_index(target, {"embedding": target.knn_field(768)})
    path = write_format("jsonl", tmp_path, small_docs(3))
    assert target(str(path)) == 2
    assert error_line(capsys).endswith(
        f"index [{target.index}] has a [embedding] field of dimension 768 but model [all-MiniLM-L6-v2] gives "
        "dimension 384")
    mappings = target.client().indices.get_mapping(index=target.index)[target.index]["mappings"]
    assert "_meta" not in mappings and target.client().count(index=target.index)["count"] == 0


def test_an_index_with_the_vector_field_but_no_contract_is_adopted(target, tmp_path, minilm):
    create_index(target, {"embedding": target.knn_field(384), "title": {"type": "text"}},
                 meta={"owner": "search-team"})
    summary = summary_of(target, tmp_path)
    assert (summary["index_status"], summary["written"]) == ("adopted", 4)
    mappings = target.client().indices.get_mapping(index=target.index)[target.index]["mappings"]
    assert mappings["_meta"] == {"owner": "search-team", **MINILM.to_meta()}  # others' _meta is kept
    assert mappings["properties"]["embedding"]["method"]["engine"] == target.backend.knn_engine
    doc = small_docs(4)[1]
    assert target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0])[0][0] == doc["id"]


def test_a_knn_index_without_the_vector_field_gets_it_added(target, tmp_path):
    create_index(target, {"title": {"type": "keyword"}})
    summary = summary_of(target, tmp_path)
    assert (summary["index_status"], summary["written"]) == ("adopted", 4)
    mappings = target.client().indices.get_mapping(index=target.index)[target.index]["mappings"]
    assert mappings["properties"]["title"] == {"type": "keyword"}  # left as it was
    field = mappings["properties"]["embedding"]
    assert (field["dimension"], field["method"]["engine"]) == (384, target.backend.knn_engine)
    assert IndexContract.from_mapping(mappings) == MINILM


def test_a_vector_field_in_another_space_is_adopted_only_in_that_space(target, tmp_path, capsys):
    create_index(target, {"embedding": target.knn_field(384, space_type="l2")})
    path = write_format("jsonl", tmp_path, small_docs(3))
    assert target(str(path)) == 2
    assert error_line(capsys).endswith(
        f"index [{target.index}] has a [embedding] field with space_type [l2] but this run uses [cosinesimil]; "
        "pass --space-type l2 or write into a new index")
    assert target(str(path), "--space-type", "l2") == 0
    contract = IndexContract.from_mapping(target.client().indices.get_mapping(index=target.index))
    assert contract.space_type == "l2"


def test_an_index_without_knn_is_refused_with_a_pointer_to_from_index(target, tmp_path, capsys):
    create_index(target, {"title": {"type": "text"}}, knn=False)
    path = write_format("jsonl", tmp_path, small_docs(3))
    assert target(str(path)) == 2
    assert f"vectorize it into a new index with --from-index {target.index} --index NEW_NAME" in \
        error_line(capsys)
    assert target.client().count(index=target.index)["count"] == 0


def test_a_mapping_the_cluster_refuses_is_one_clear_error(target):
    # Lucene's limit is 16,000 dimensions; both engines refuse more.
    contract = IndexContract(model="huge", dimension=16_001)
    with pytest.raises(MappingRefused) as caught:
        prepare_index(target.client(), target.index, contract, HnswSettings(engine=target.backend.knn_engine))
    message = str(caught.value)
    assert message.startswith(f"the cluster refused to create index [{target.index}] with knn_vector field "
                              f"[embedding] (engine [{target.backend.knn_engine}], space_type [cosinesimil], "
                              "dimension 16001): ")
    assert "16000" in message and "\n" not in message
    assert not target.client().indices.exists(index=target.index)


@pytest.mark.opensearch
def test_the_reference_node_refuses_nmslib_in_one_line(tmp_path, index_name, capsys):
    """OpenSearch 3.x refuses nmslib for new indices (localsearch accepts it: reported, not mirrored here)."""
    url = opensearch_url()
    path = write_format("jsonl", tmp_path, small_docs(3))
    code = main(["ingest", str(path), "--index", index_name, "--opensearch", url, "--engine", "nmslib",
                 "--no-pipeline", "--state-dir", str(tmp_path / "state")])
    assert code == 2
    line = error_line(capsys)
    assert line.startswith(f"rerank-sidecar ingest: error: the cluster refused to create index [{index_name}] "
                           "with knn_vector field [embedding] (engine [nmslib], space_type [cosinesimil], "
                           "dimension 384): nmslib engine is deprecated")
    assert not OpenSearch(url, timeout=60).indices.exists(index=index_name)

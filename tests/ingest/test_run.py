"""The ingest job against an in-memory cluster: dead letters, idempotence, resume, contract."""

from __future__ import annotations

import json
import threading

import pytest

from ingest.index import DEFAULT_PIPELINE, ensure_pipeline
from ingest.read_embed_write import FlowSettings, Interrupted
from ingest.reindex import IndexSource
from ingest.run import IngestJob, JobError, run_job
from ingest.sources import open_source
from ingest.write import ClusterUnavailable, RetryPolicy
from searchcore.contract import ContractError, IndexContract
from searchcore.fusion import FusionConfig, pipeline_body, pipeline_name
from tests.ingest.fakes import FakeOpenSearch, StubEmbedder, connection_refused

FAST = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)


def write_corpus(path, n, bad_lines=()):
    lines = []
    for i in range(n):
        if i in bad_lines:
            lines.append('{"id": "broken" ')
        else:
            lines.append(json.dumps({"id": f"d{i}", "title": f"T{i}", "text": f"text {i}"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def make_job(tmp_path, **changes):
    settings = {"index": "docs", "model": "stub", "flow": FlowSettings(batch_size=4, bulk_docs=8),
                "retry": FAST, "checkpoint_path": tmp_path / "state" / "cp.json",
                "dead_letter_path": tmp_path / "state" / "dl.jsonl", "progress_interval": 0.0}
    return IngestJob(**{**settings, **changes})


def dead_letters(job):
    return [json.loads(x) for x in job.dead_letter_path.read_text().splitlines()]


def test_a_run_writes_documents_with_vectors_and_the_contract(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    source = open_source(write_corpus(tmp_path / "c.jsonl", 10))
    summary = run_job(job, source, client, StubEmbedder())
    assert (summary.read, summary.embedded, summary.written, summary.failed) == (10, 10, 10, 0)
    assert summary.exit_code == 0 and summary.index_status == "created"
    assert sorted(client.docs["docs"]) == sorted(f"d{i}" for i in range(10))
    assert len(client.docs["docs"]["d3"]["embedding"]) == 8
    contract = IndexContract.from_mapping(client._get_mapping("docs"))
    assert contract == IndexContract(model="stub", dimension=8)
    assert client.pipelines == {}  # no neural-search plugin on this cluster


def test_bad_lines_go_to_the_dead_letter_file_and_the_rest_is_written(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    source = open_source(write_corpus(tmp_path / "c.jsonl", 10, bad_lines={2, 7}))
    summary = run_job(job, source, client, StubEmbedder())
    assert (summary.read, summary.written, summary.failed, summary.exit_code) == (10, 8, 2, 1)
    entries = dead_letters(job)
    assert [(e["line"], e["stage"]) for e in entries] == [(3, "read"), (8, "read")]
    assert all(e["reason"].startswith("malformed JSON") for e in entries)
    assert entries[0]["record"] == '{"id": "broken" '


def test_a_document_that_breaks_the_model_is_isolated(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    path = write_corpus(tmp_path / "c.jsonl", 6)
    path.write_text(path.read_text().replace("text 4", "poison"))
    summary = run_job(job, open_source(path), client, StubEmbedder(fail_on="poison"))
    assert (summary.written, summary.failed) == (5, 1)
    (entry,) = dead_letters(job)
    assert entry["id"] == "d4" and entry["stage"] == "embed" and entry["line"] == 5


def test_re_running_updates_instead_of_duplicating(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    path = write_corpus(tmp_path / "c.jsonl", 9)
    run_job(job, open_source(path), client, StubEmbedder())
    first = json.dumps(client.docs, sort_keys=True)
    summary = run_job(job, open_source(path), client, StubEmbedder())
    assert summary.index_status == "exists" and summary.written == 9
    assert json.dumps(client.docs, sort_keys=True) == first


def test_resume_after_an_outage_writes_exactly_the_rest(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    path = write_corpus(tmp_path / "c.jsonl", 40, bad_lines={1, 30})
    # bulk 1 and 2 land, then the cluster is down for longer than the retry budget
    client.bulk_script = ["ok", "ok"] + [connection_refused() for _ in range(FAST.max_attempts)]
    with pytest.raises(ClusterUnavailable):
        run_job(job, open_source(path), client, StubEmbedder())
    saved = json.loads(job.checkpoint_path.read_text())
    assert 0 < saved["position"] < 40 and not saved["complete"]
    landed = set(client.docs["docs"])
    assert len(landed) == saved["counts"]["written"]

    summary = run_job(make_job(tmp_path, resume=True), open_source(path), client,
                      StubEmbedder())
    assert summary.resumed_from == saved["position"]
    assert sorted(client.docs["docs"]) == sorted(f"d{i}" for i in range(40) if i not in (1, 30))
    assert (summary.read, summary.written, summary.failed) == (40, 38, 2)
    assert [e["line"] for e in dead_letters(job)] == [2, 31]  # no duplicate dead letters
    again = run_job(make_job(tmp_path, resume=True), open_source(path), client, StubEmbedder())
    assert again.complete and again.written == 38


class InterruptingEmbedder(StubEmbedder):
    def __init__(self, at_call):
        super().__init__()
        self.at_call = at_call

    def embed(self, texts):
        if self.calls + 1 == self.at_call:
            self.calls += 1
            raise KeyboardInterrupt
        return super().embed(texts)


def test_ctrl_c_saves_what_was_embedded_and_resume_finishes(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path)
    path = write_corpus(tmp_path / "c.jsonl", 30)
    with pytest.raises(Interrupted):
        run_job(job, open_source(path), client, InterruptingEmbedder(at_call=4))
    saved = json.loads(job.checkpoint_path.read_text())
    assert saved["position"] == 12  # the three embedded batches of 4 were written
    summary = run_job(make_job(tmp_path, resume=True), open_source(path), client,
                      StubEmbedder())
    assert summary.written == 30 and len(client.docs["docs"]) == 30


def test_resume_refuses_a_changed_source(tmp_path):
    from ingest.checkpoint import CheckpointError

    client, job = FakeOpenSearch(), make_job(tmp_path)
    path = write_corpus(tmp_path / "c.jsonl", 5)
    run_job(job, open_source(path), client, StubEmbedder())
    write_corpus(path, 6)
    with pytest.raises(CheckpointError, match="different job"):
        run_job(make_job(tmp_path, resume=True), open_source(path), client, StubEmbedder())


def test_an_index_embedded_with_another_model_is_refused(tmp_path):
    client = FakeOpenSearch()
    other = IndexContract(model="bge-base", dimension=768)
    client._create("docs", {"mappings": {"_meta": other.to_meta()}})
    source = open_source(write_corpus(tmp_path / "c.jsonl", 3))
    with pytest.raises(ContractError, match="bge-base"):
        run_job(make_job(tmp_path), source, client, StubEmbedder())
    assert client.bulk_calls == 0


def test_an_index_without_knn_points_to_from_index(tmp_path):
    client = FakeOpenSearch()
    client._create("docs", {"mappings": {"properties": {"text": {"type": "text"}}}})
    source = open_source(write_corpus(tmp_path / "c.jsonl", 3))
    with pytest.raises(ContractError, match="--from-index docs"):
        run_job(make_job(tmp_path), source, client, StubEmbedder())


def test_the_hybrid_pipeline_is_created_when_the_cluster_has_neural_search(tmp_path):
    client = FakeOpenSearch(plugins=("opensearch-knn", "opensearch-neural-search"))
    source = open_source(write_corpus(tmp_path / "c.jsonl", 3))
    summary = run_job(make_job(tmp_path), source, client, StubEmbedder())
    assert summary.pipeline_status == "created"
    processor = client.pipelines[DEFAULT_PIPELINE]["phase_results_processors"][0]
    assert processor["normalization-processor"]["normalization"] == {"technique": "min_max"}


def test_the_pipeline_is_the_one_the_sidecar_uses_for_its_default_profile():
    from sidecar.retrieve import Retriever
    from sidecar.settings import Settings

    fusion = Settings().defaults.fusion_config()
    client = FakeOpenSearch(plugins=("opensearch-neural-search",))
    assert ensure_pipeline(client) == "created"
    assert client.pipelines == {pipeline_name(fusion): pipeline_body(fusion)}

    class Upstream:   # the cluster as the sidecar sees it: the pipeline is there, nothing is created
        def json(self, method, path, body, headers):
            assert (method, path) == ("GET", f"/_search/pipeline/{DEFAULT_PIPELINE}")
            return 200, client.search_pipeline.get(id=DEFAULT_PIPELINE)

    assert Retriever(Upstream()).ensure_pipeline(fusion, {}) == DEFAULT_PIPELINE


def test_a_pipeline_under_another_name_is_created_with_a_warning(caplog):
    client = FakeOpenSearch(plugins=("opensearch-neural-search",))
    assert ensure_pipeline(client, "my-hybrid") == "created"
    assert client.pipelines["my-hybrid"] == pipeline_body(FusionConfig())
    assert f"not the one the sidecar looks up ({DEFAULT_PIPELINE})" in caplog.text


def test_dry_run_writes_nothing_and_reports_bad_records(tmp_path):
    client, job = FakeOpenSearch(), make_job(tmp_path, dry_run=True)
    source = open_source(write_corpus(tmp_path / "c.jsonl", 10, bad_lines={4}))
    summary = run_job(job, source, client, StubEmbedder())
    assert (summary.read, summary.failed, summary.exit_code) == (10, 1, 1)
    assert summary.index_status == "would create"
    assert client.indices_data == {} and not job.checkpoint_path.exists()
    assert not job.dead_letter_path.exists()


class GatedClient(FakeOpenSearch):
    """Its first bulk write waits until the model has started on a later batch."""

    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def bulk(self, body, **params):
        if not self.gate.wait(timeout=10):
            raise AssertionError("embedding did not continue while a write was in flight")
        return super().bulk(body, **params)


class SignallingEmbedder(StubEmbedder):
    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def embed(self, texts):
        if self.calls >= 2:
            self.gate.set()
        return super().embed(texts)


def test_embedding_continues_while_a_bulk_write_is_in_flight(tmp_path):
    gate = threading.Event()
    client = GatedClient(gate)
    job = make_job(tmp_path, flow=FlowSettings(batch_size=4, bulk_docs=4))
    source = open_source(write_corpus(tmp_path / "c.jsonl", 24))
    summary = run_job(job, source, client, SignallingEmbedder(gate))
    assert summary.written == 24


def test_from_index_copies_into_a_new_index_and_moves_the_alias(tmp_path):
    client = FakeOpenSearch()
    client._create("docs-v1", {"mappings": {"properties": {"sku": {"type": "keyword"}}}})
    client.docs["docs-v1"] = {f"k{i}": {"sku": f"S{i}", "title": f"T{i}", "text": f"x {i}"}
                              for i in range(7)}
    client.aliases["docs"] = {"docs-v1"}

    source = IndexSource(client, "docs")
    source.records = lambda start=0: _fake_scan(client, "docs-v1")
    source.properties = lambda: {"sku": {"type": "keyword"}}
    summary = run_job(make_job(tmp_path, index="docs-v2"), source, client, StubEmbedder())
    assert summary.written == 7 and summary.alias == "docs -> docs-v2"
    assert client.aliases["docs"] == {"docs-v2"}
    assert sorted(client.docs["docs-v2"]) == sorted(client.docs["docs-v1"])
    props = client.indices_data["docs-v2"]["mappings"]["properties"]
    assert props["sku"] == {"type": "keyword"} and props["embedding"]["type"] == "knn_vector"


def test_from_index_refuses_to_replace_a_concrete_index_unasked(tmp_path):
    client = FakeOpenSearch()
    client._create("docs", {"mappings": {}})
    job = make_job(tmp_path, index="docs-knn", alias="docs")
    with pytest.raises(JobError, match="--replace-index"):
        run_job(job, IndexSource(client, "docs"), client, StubEmbedder())


def _fake_scan(client, index):
    from ingest.records import SourceRecord

    for position, (doc_id, fields) in enumerate(sorted(client.docs[index].items())):
        yield SourceRecord(position=position, where=f"document {doc_id}", fields=dict(fields),
                           default_id=doc_id)


def test_an_index_with_matching_vectors_but_no_contract_is_adopted(tmp_path):
    client = FakeOpenSearch()
    client._create("docs", {"settings": {"index": {"knn": True}}, "mappings": {
        "_meta": {"owner": "search-team"},
        "properties": {"embedding": {"type": "knn_vector", "dimension": 8, "method": {
            "name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}}}}})
    summary = run_job(make_job(tmp_path), open_source(write_corpus(tmp_path / "c.jsonl", 2)),
                      client, StubEmbedder())
    assert summary.index_status == "adopted" and summary.written == 2
    meta = client.indices_data["docs"]["mappings"]["_meta"]
    assert meta["owner"] == "search-team" and meta["rerank_sidecar"]["dimension"] == 8

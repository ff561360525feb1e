"""Ingest end to end over HTTP with the real all-MiniLM-L6-v2, against localsearch, the real OpenSearch node and
the real Elasticsearch node.

Tests that kill the cluster or need the embedded engine's data folder run on localsearch only (said at each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ingest.documents import content_id
from searchcore.contract import IndexContract
from searchcore.fusion import FusionConfig, pipeline_body
from sidecar.cli import main
from tests.conftest import REPO
from tests.ingest.conftest import small_docs, write_format

FORMATS = ["jsonl", "csv", "parquet", "beir", "dir"]


@pytest.fixture
def target(any_target):
    """What these tests expect holds on every engine ingest writes to."""
    return any_target


def all_docs(client, index) -> dict[str, dict]:
    client.indices.refresh(index=index)
    response = client.search(index=index, body={"query": {"match_all": {}}, "size": 10000})
    return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_source_format(fmt, target, tmp_path, minilm):
    docs = small_docs(6)
    path = write_format(fmt, tmp_path, docs)
    assert target(str(path)) == 0
    stored = target.all_docs()
    expected_ids = {f"{d['id']}.md" for d in docs} if fmt == "dir" else {d["id"] for d in docs}
    assert set(stored) == expected_ids
    some = stored[sorted(stored)[2]]
    assert len(some["embedding"]) == 384
    assert abs(np.linalg.norm(some["embedding"]) - 1.0) < 1e-3
    contract = IndexContract.from_mapping(target.client().indices.get_mapping(index=target.index))
    assert contract == IndexContract(model="all-MiniLM-L6-v2", dimension=384)
    # the vectors are the model's: a k-NN search for a document's own text finds it first
    doc = docs[3]
    vector = minilm.embed([f"{doc['title']} {doc['text']}"])[0]
    assert target.knn_ids(vector)[0][0] in (doc["id"], f"{doc['id']}.md")


def test_re_running_keeps_the_same_ids_and_count(target, tmp_path):
    path = write_format("jsonl", tmp_path, small_docs(8))
    assert target(str(path)) == 0
    first = target.all_docs()
    assert target(str(path)) == 0
    second = target.all_docs()
    assert sorted(first) == sorted(second) and len(second) == 8
    assert target.client().count(index=target.index)["count"] == 8
    assert first == second


def test_planted_bad_lines_go_to_the_dead_letter_file(target, tmp_path, capsys):
    good = [json.dumps(d) for d in small_docs(5)]
    lines = [good[0].encode(), b'{"id": "x1", "title": ', good[1].encode(),
             b'{"id": "x2", "title": "", "text": "   "}', good[2].encode(),
             b'{"id": "x3", "text": "caf\xe9"}', good[3].encode(),
             b'{"id": "x4", "body": "no text fields"}',
             b'{"id": "x5", "text": "' + b"long " * 400 + b'"}', good[4].encode()]
    path = tmp_path / "planted.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    dead = tmp_path / "dead.jsonl"
    summary = tmp_path / "summary.json"
    code = target(str(path), "--dead-letter", str(dead), "--max-doc-bytes", "1000",
                  "--summary-json", str(summary))
    assert code == 1  # finished, but not everything made it
    entries = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(e["line"], e["reason"].split(":")[0]) for e in entries] == [
        (2, "malformed JSON"), (4, "empty text in fields ['title', 'text']"),
        (6, "invalid UTF-8 at byte 25 of the line"),
        (8, "missing text fields ['title', 'text']"),
        (9, "document is 2024 bytes, over the limit of 1000 (--max-doc-bytes)")]
    assert entries[1]["record"] == {"id": "x2", "title": "", "text": "   "}
    assert all(e["stage"] == "read" and e["source"].endswith("planted.jsonl") for e in entries)
    report = json.loads(summary.read_text())
    assert (report["read"], report["written"], report["failed"]) == (10, 5, 5)
    assert set(target.all_docs()) == {f"d{i}" for i in range(5)}
    assert "failed     5" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_after_kill_9_gives_exactly_the_full_set(target, tmp_path):
    # No id field: ids are content hashes, so a duplicate would show up as an extra document.
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    docs = [{"title": f"Record {i}", "text": " ".join(words[(i + k) % 12] for k in range(40))
             + f" number {i}"} for i in range(800)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    checkpoint = tmp_path / "cp.json"
    args = target.args(str(path), "--checkpoint", str(checkpoint), "--dead-letter", str(tmp_path / "dl.jsonl"),
                       "--batch-size", "32", "--bulk-size", "32")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sidecar.cli", *args], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _position(checkpoint) < 160:  # a few acknowledged bulk writes
            assert process.poll() is None, "ingest ended before it could be killed"
            assert time.monotonic() < deadline, "no progress within 120s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = _position(checkpoint)
    assert 160 <= killed_at < 800

    assert main([*args, "--resume", "--summary-json", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["resumed_from"] >= killed_at and summary["written"] == 800
    stored = target.all_docs()
    assert target.client().count(index=target.index)["count"] == 800
    assert set(stored) == {content_id(d) for d in docs}
    by_id = {content_id(d): d for d in docs}
    for doc_id, source in stored.items():
        assert {k: source[k] for k in ("title", "text")} == by_id[doc_id]
        assert len(source["embedding"]) == 384


@pytest.mark.slow
def test_cluster_killed_mid_run_then_resume_gives_exactly_the_full_set(start_localsearch, index_name, tmp_path):
    """The cluster (not the job) dies with kill -9 mid-run: the job gives up with its progress saved, and once
    the cluster is back (same data, same port) --resume writes exactly the rest: count and content checked.

    localsearch only: the real node is shared with other test runs and must not be killed.
    """
    server = start_localsearch(tmp_path / "cluster-data")
    words = "north south east west river stone cloud field".split()
    docs = [{"title": f"Entry {i}", "text": " ".join(words[(i * 3 + k) % 8] for k in range(12)) + f" item {i}"}
            for i in range(240)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    checkpoint = tmp_path / "cp.json"
    args = ["ingest", str(path), "--index", index_name, "--opensearch", server.url, "--checkpoint",
            str(checkpoint), "--dead-letter", str(tmp_path / "dl.jsonl"), "--batch-size", "16", "--bulk-size", "16",
            "--progress-interval", "0", "--max-retries", "3", "--retry-backoff", "0.1"]
    process = subprocess.Popen([sys.executable, "-m", "sidecar.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 180
        while _position(checkpoint) < 32:
            assert process.poll() is None, "ingest ended before the cluster could be killed"
            assert time.monotonic() < deadline, "no progress within 180s"
            time.sleep(0.02)
        server.kill()
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0 and b"continue with --resume" in stderr, stderr[-2000:]
    stopped_at = _position(checkpoint)
    assert 32 <= stopped_at < 240

    back = start_localsearch(tmp_path / "cluster-data", port=server.port)
    assert main([*args, "--resume", "--summary-json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["resumed_from"] == stopped_at
    client = back.client()
    stored = all_docs(client, index_name)
    assert client.count(index=index_name)["count"] == 240
    by_id = {content_id(d): d for d in docs}
    assert set(stored) == set(by_id)
    for doc_id, source in stored.items():
        assert {k: source[k] for k in ("title", "text")} == by_id[doc_id]
        assert len(source["embedding"]) == 384


def _position(path) -> int:
    try:
        return json.loads(path.read_text())["position"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_the_embedded_engine_is_the_default(tmp_path, monkeypatch, minilm):
    # localsearch only: the embedded engine is opened in-process, there is no server to choose.
    from localsearch.connection import close_engine, local_client

    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    data = tmp_path / "data"
    path = write_format("beir", tmp_path, small_docs(4))
    try:
        assert main(["ingest", str(path), "--index", "notes", "--data-dir", str(data),
                     "--state-dir", str(tmp_path / "st")]) == 0
        client = local_client(data)
        client.indices.refresh(index="notes")
        assert client.count(index="notes")["count"] == 4
        name = "rerank-sidecar-min_max-arithmetic_mean"   # the sidecar's own, for its default fusion
        assert client.search_pipeline.get(id=name)[name] == pipeline_body(FusionConfig())
    finally:
        close_engine(data)


def test_dry_run_checks_without_writing(target, tmp_path, capsys, caplog):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(small_docs(1)[0]) + "\n" + '{"id": "bad"}\n')
    code = target(str(path), "--dry-run")
    out = capsys.readouterr()
    assert code == 1  # one record would fail
    assert "dry run (nothing written)" in out.out and "(would create)" in out.out
    assert "line 2: missing text fields ['title', 'text']" in caplog.text
    assert not target.client().indices.exists(index=target.index)
    assert not target.state_dir.exists()


@pytest.mark.slow
def test_scifact_slice_is_searchable_by_meaning(target, tmp_path, minilm):
    from ingest.corpora import scifact_documents, scifact_folder, write_beir_corpus

    if scifact_folder() is None:
        pytest.skip("SciFact not found: set RERANK_DATA_ROOT or add ../shared/data/beir-scifact")
    limit = int(os.environ.get("RERANK_SCIFACT_DOCS", "200"))
    folder = write_beir_corpus(scifact_documents(), tmp_path / "scifact", limit=limit)
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    assert target(str(folder)) == 0
    target.client().indices.refresh(index=target.index)
    assert target.client().count(index=target.index)["count"] == len(docs)
    # a document's title, embedded as a query, finds that document among the first three
    found = sum(doc["_id"] in [doc_id for doc_id, _ in target.knn_ids(minilm.embed([doc["title"]])[0])]
                for doc in docs[:20])
    assert found >= 18


def test_a_data_folder_held_by_a_server_is_a_clear_error(start_localsearch, tmp_path, capsys,
                                                        monkeypatch):
    # localsearch only: about the embedded engine's data folder.
    # --opensearch defaults to $OPENSEARCH_URL: with it set (make test sets it) this run would
    # write into the real node instead of opening the data folder.
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    server = start_localsearch(tmp_path / "held")
    path = write_format("jsonl", tmp_path, small_docs(2))
    code = main(["ingest", str(path), "--index", "x", "--data-dir", str(server.data_dir),
                 "--state-dir", str(tmp_path / "st")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "is in use by another localsearch process; point --opensearch at that server" in err

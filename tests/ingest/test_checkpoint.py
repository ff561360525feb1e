"""Checkpoints and dead letters: atomic saves, job matching, truncation on resume."""

from __future__ import annotations

import json

import pytest

from ingest.checkpoint import Checkpoint, CheckpointError, CheckpointStore
from ingest.deadletter import DeadLetterFile

JOB = {"source": {"path": "/x.jsonl", "size": 10}, "index": "docs", "model": "m"}


def test_save_then_load_round_trips_and_leaves_no_temp_files(tmp_path):
    store = CheckpointStore(tmp_path / "state" / "docs.checkpoint.json")
    store.save(Checkpoint(job=JOB, position=512, dead_letter_bytes=90, counts={"written": 500}))
    loaded = store.load()
    assert (loaded.position, loaded.dead_letter_bytes, loaded.counts) == (512, 90, {"written": 500})
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["docs.checkpoint.json"]


def test_missing_checkpoint_means_start_over(tmp_path):
    assert CheckpointStore(tmp_path / "none.json").resume_point(JOB) is None


def test_checkpoint_of_another_job_is_refused(tmp_path):
    store = CheckpointStore(tmp_path / "c.json")
    store.save(Checkpoint(job=JOB, position=5))
    changed = {**JOB, "source": {"path": "/x.jsonl", "size": 11}}
    with pytest.raises(CheckpointError, match="differs in: source"):
        store.resume_point(changed)
    assert store.resume_point(JOB).position == 5


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        CheckpointStore(path).load()
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(CheckpointError, match="unknown format"):
        CheckpointStore(path).load()


def test_dead_letters_are_json_lines_and_sync_reports_the_size(tmp_path):
    path = tmp_path / "dl.jsonl"
    dead = DeadLetterFile(path)
    assert dead.sync() == 0 and not path.exists()  # no failures: no file
    dead.add(reason="malformed JSON", stage="read", where="line 2", line=2, position=1,
             record='{"id": ')
    size = dead.sync()
    dead.close()
    entry = json.loads(path.read_text())
    assert size == path.stat().st_size
    assert (entry["reason"], entry["line"], entry["record"]) == ("malformed JSON", 2, '{"id": ')


def test_resume_truncates_dead_letters_written_after_the_checkpoint(tmp_path):
    path = tmp_path / "dl.jsonl"
    dead = DeadLetterFile(path)
    dead.add(reason="first", stage="read")
    kept = dead.sync()
    dead.add(reason="after the checkpoint", stage="read")
    dead.close()
    DeadLetterFile(path, keep_bytes=kept).close()
    assert [json.loads(x)["reason"] for x in path.read_text().splitlines()] == ["first"]
    DeadLetterFile(path).close()  # a fresh run starts an empty file
    assert path.read_text() == ""

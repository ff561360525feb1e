"""Documents the cluster itself rejects (field types that do not fit the mapping), against localsearch and the real
OpenSearch and Elasticsearch nodes: exactly those go to the dead-letter file, and everything else, written now or
before, stays."""

from __future__ import annotations

import json

import pytest

from tests.ingest.conftest import small_docs, write_format

# The error type each engine gives a value that does not fit its field.
REJECTION_TYPE = {"elasticsearch": "document_parsing_exception", "elasticsearch8": "document_parsing_exception"}


@pytest.fixture
def target(any_target):
    return any_target


def with_fields(docs: list[dict], **fields) -> list[dict]:
    return [{**doc, **fields} for doc in docs]


def test_documents_the_cluster_rejects_are_dead_lettered_and_nothing_written_is_lost(target, tmp_path):
    # The first run fixes the field types through dynamic mapping: count long, rating an object, published a date.
    earlier = with_fields(small_docs(4, prefix="e"), count=3, rating={"stars": 4}, published="2024-05-01")
    assert target(str(write_format("jsonl", tmp_path / "first", earlier))) == 0

    good = with_fields(small_docs(3, prefix="g"), count=7, rating={"stars": 2}, published="2025-01-31")
    rejected = {  # id -> (the field that does not fit, its value)
        "r-count": ("count", "many"),
        "r-rating": ("rating", "five stars"),
        "r-published": ("published", "next tuesday"),
        "r-count-object": ("count", {"value": 3}),
    }
    bad = [{"id": doc_id, "title": f"Rejected {doc_id}", "text": "volcanoes erupt molten rock", field: value}
           for doc_id, (field, value) in rejected.items()]
    mixed = [good[0], bad[0], bad[1], good[1], bad[2], bad[3], good[2]]  # rejections between accepted documents
    dead = tmp_path / "dead.jsonl"
    summary = tmp_path / "summary.json"
    code = target(str(write_format("jsonl", tmp_path / "second", mixed)), "--dead-letter", str(dead),
                  "--summary-json", str(summary))

    assert code == 1  # finished, with failures
    report = json.loads(summary.read_text())
    assert (report["read"], report["embedded"], report["written"], report["failed"]) == (7, 7, 3, 4)
    entries = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(entry["id"] for entry in entries) == sorted(rejected)
    for entry in entries:
        field, _ = rejected[entry["id"]]
        assert entry["stage"] == "write"
        error_type = REJECTION_TYPE.get(target.backend.name, "mapper_parsing_exception")
        assert entry["reason"].startswith(f"status 400: {error_type}: ")
        assert f"[{field}]" in entry["reason"]
        # the record as sent, without the vector, so it can be fixed and ingested again
        assert entry["record"] == next(doc for doc in bad if doc["id"] == entry["id"])

    stored = target.all_docs()
    assert set(stored) == {doc["id"] for doc in earlier + good}
    assert target.client().count(index=target.index)["count"] == len(earlier) + len(good)
    for doc in earlier + good:
        assert stored[doc["id"]]["count"] == doc["count"] and len(stored[doc["id"]]["embedding"]) == 384

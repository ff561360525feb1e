"""Field mapping: stable ids, the text to embed, the fields kept, and what makes a record bad."""

from __future__ import annotations

import pytest

from ingest.documents import BadRecord, FieldMapping, content_id, to_document
from ingest.records import SourceRecord


def record(fields, **extra):
    return SourceRecord(position=0, where="line 1", line=1, fields=fields, **extra)


def test_id_comes_from_the_first_known_id_field_and_metadata_fields_are_dropped():
    doc = to_document(record({"_id": "a", "id": "b", "title": "T", "text": "x"}), FieldMapping())
    assert doc.id == "a"
    assert "_id" not in doc.source and doc.source["id"] == "b"
    assert doc.text == "T x"


def test_integer_ids_become_strings():
    assert to_document(record({"doc_id": 42, "text": "x"}), FieldMapping()).id == "42"


def test_content_hash_id_is_stable_and_ignores_key_order():
    a = to_document(record({"title": "T", "text": "x", "tags": ["a"]}), FieldMapping())
    b = to_document(record({"tags": ["a"], "text": "x", "title": "T"}), FieldMapping())
    c = to_document(record({"title": "T", "text": "y", "tags": ["a"]}), FieldMapping())
    assert a.id == b.id != c.id
    assert len(a.id) == 32
    assert a.id == content_id({"title": "T", "text": "x", "tags": ["a"]})


def test_hash_ids_overrides_an_id_field():
    fields = {"id": "given", "text": "x"}
    assert to_document(record(fields), FieldMapping(hash_ids=True)).id == content_id(fields)


def test_the_source_id_wins_over_auto_fields():
    doc = to_document(record({"id": "x", "text": "t"}, default_id="notes/a.md"), FieldMapping())
    assert doc.id == "notes/a.md"


def test_explicit_id_field_must_be_present():
    with pytest.raises(BadRecord, match=r"missing id field \[sku\]"):
        to_document(record({"id": "x", "text": "t"}), FieldMapping(id_field="sku"))


def test_keep_fields_limit_source_but_keep_text_fields():
    mapping = FieldMapping(text_fields=("body",), keep_fields=("sku",))
    doc = to_document(record({"id": "1", "sku": "S", "body": "b", "junk": 1, "embedding": [1]}),
                      mapping)
    assert doc.source == {"sku": "S", "body": "b"}


def test_an_old_vector_is_not_kept():
    doc = to_document(record({"id": "1", "text": "t", "embedding": [0.1]}), FieldMapping())
    assert "embedding" not in doc.source


def test_list_of_sentences_is_text():
    doc = to_document(record({"id": "1", "text": ["One.", "Two."]}), FieldMapping())
    assert doc.text == "One. Two."


@pytest.mark.parametrize(("fields", "reason"), [
    ({"id": "1", "body": "x"}, "missing text fields ['title', 'text']"),
    ({"id": "1", "title": "  ", "text": ""}, "empty text in fields ['title', 'text']"),
    ({"id": "1", "text": {"nested": 1}}, "text field [text] is a dict, not text"),
    ({"id": "", "text": "x"}, "empty id"),
    ({"id": 1.5, "text": "x"}, "is a float"),
    ({"id": "x" * 600, "text": "x"}, "longer than 512 bytes"),
])
def test_bad_records(fields, reason):
    with pytest.raises(BadRecord) as caught:
        to_document(record(fields), FieldMapping())
    assert reason in str(caught.value)


def test_unreadable_record_keeps_its_reason():
    bad = SourceRecord(position=3, where="line 4", error="malformed JSON: x")
    with pytest.raises(BadRecord, match="malformed JSON"):
        to_document(bad, FieldMapping())

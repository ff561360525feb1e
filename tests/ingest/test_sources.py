"""Sources: every format reads its records; planted bad records carry a line and a reason."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.sources import SourceError, guess_format, open_source


def good(i: int) -> bytes:
    return json.dumps({"id": f"d{i}", "title": f"Title {i}", "text": f"body {i}"}).encode()


def write_planted_jsonl(path):
    lines = [
        good(1),
        b'{"id": "d2", "title": "broken", ',  # line 2: malformed JSON
        good(3),
        b'{"id": "d4", "text": "caf\xe9"}',  # line 4: Latin-1 byte, not UTF-8
        b"",  # blank line, ignored
        b'["not", "an", "object"]',  # line 6
        b'{"id": "d7", "text": "' + b"x" * 5000 + b'"}',  # line 7: over the size limit
        good(8),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_jsonl_planted_bad_lines_have_line_numbers_and_reasons(tmp_path):
    path = tmp_path / "docs.jsonl"
    write_planted_jsonl(path)
    records = list(open_source(path, max_doc_bytes=1000).records())
    assert [r.line for r in records] == [1, 2, 3, 4, 6, 7, 8]
    assert [r.position for r in records] == list(range(7))
    errors = {r.line: r.error for r in records if r.error}
    assert set(errors) == {2, 4, 6, 7}
    assert errors[2].startswith("malformed JSON")
    assert "invalid UTF-8" in errors[4]
    assert errors[6] == "expected a JSON object, got list"
    assert "over the limit of 1000" in errors[7]
    assert records[0].fields == {"id": "d1", "title": "Title 1", "text": "body 1"}
    assert records[3].raw is not None and "caf" in records[3].raw


def test_jsonl_resume_skips_by_position(tmp_path):
    path = tmp_path / "docs.jsonl"
    write_planted_jsonl(path)
    source = open_source(path, max_doc_bytes=1000)
    assert [r.line for r in source.records(start=4)] == [6, 7, 8]
    assert [r.position for r in source.records(start=4)] == [4, 5, 6]


def test_jsonl_with_bom_reads_the_first_line(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good(1) + b"\n")
    (record,) = open_source(path).records()
    assert record.error is None and record.fields["id"] == "d1"


def test_csv_rows_and_planted_errors(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_bytes(
        b"id,title,text\n"
        b'd1,First,"a body\nthat spans lines"\n'  # lines 2-3
        b"d2,Second\n"  # line 4: too few fields
        b"d3,Th\xe9rd,latin-1\n"  # line 5: not UTF-8
        b"d4,Fourth,ok\n")  # line 6
    records = list(open_source(path).records())
    assert [r.line for r in records] == [2, 4, 5, 6]
    assert records[0].fields == {"id": "d1", "title": "First", "text": "a body\nthat spans lines"}
    assert records[1].error == "row has 2 fields but the header has 3"
    assert records[2].error == "invalid UTF-8 in the row"
    assert records[3].fields["id"] == "d4"
    assert [r.fields["id"] for r in open_source(path).records(start=3)] == ["d4"]


def test_tsv_uses_tabs(tmp_path):
    path = tmp_path / "docs.tsv"
    path.write_text("id\ttext\nd1\thello, world\n", encoding="utf-8")
    (record,) = open_source(path).records()
    assert record.fields == {"id": "d1", "text": "hello, world"}


def test_parquet_rows_and_resume(tmp_path):
    path = tmp_path / "docs.parquet"
    table = pa.table({"id": [f"p{i}" for i in range(2500)],
                      "text": [f"text {i}" for i in range(2500)],
                      "score": [float(i) for i in range(2500)]})
    pq.write_table(table, path, row_group_size=700)
    source = open_source(path)
    assert source.estimate_total() == 2500
    records = list(source.records(start=2001))
    assert records[0].position == 2001 and records[0].fields["id"] == "p2001"
    assert len(records) == 499 and records[-1].where == "row 2500"


def test_beir_folder(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "b1", "title": "", "text": "only text", "metadata": {"year": 2020}}\n')
    source = open_source(tmp_path)
    assert source.default_id_field == "_id"
    (record,) = source.records()
    assert record.fields["metadata"] == {"year": 2020}


def test_directory_of_text_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "guide.md").write_text("intro\n# Install guide\nsteps", encoding="utf-8")
    (tmp_path / "a-note.txt").write_text("plain note", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.md").write_text("skip me", encoding="utf-8")
    records = list(open_source(tmp_path, "dir").records())
    assert [r.default_id for r in records] == ["a-note.txt", "bad.txt", "sub/guide.md"]
    assert records[0].fields["title"] == "a note"
    assert records[1].error.startswith("invalid UTF-8")
    assert records[2].fields == {"path": "sub/guide.md", "title": "Install guide",
                                 "text": "intro\n# Install guide\nsteps"}


def test_guessing_formats(tmp_path):
    assert guess_format(tmp_path) == "dir"
    (tmp_path / "corpus.jsonl").touch()
    assert guess_format(tmp_path) == "beir"
    assert guess_format(tmp_path / "x.ndjson") == "jsonl"
    assert guess_format(tmp_path / "x.parquet") == "parquet"
    with pytest.raises(SourceError, match="--format"):
        guess_format(tmp_path / "x.bin")


def test_missing_and_mismatched_sources_are_one_line_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "absent.jsonl")
    with pytest.raises(SourceError, match="needs a directory"):
        (tmp_path / "f.jsonl").touch()
        open_source(tmp_path / "f.jsonl", "beir")
    with pytest.raises(SourceError, match="corpus.jsonl"):
        open_source(tmp_path, "beir")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="not a readable Parquet"):
        list(open_source(tmp_path / "bad.parquet").records())

"""Judgments in the formats users have: BEIR folders, TREC topics and qrels, runs with candidate texts."""

from __future__ import annotations

import gzip
import json

import pytest

from relevance.datasets import DatasetError, load_dataset, read_qrels, read_topics


def test_trec_topics_plain_and_gzipped_and_jsonl(tmp_path):
    plain = tmp_path / "topics.tsv"
    plain.write_text("1\tfirst query\n\n2\tsecond\tquery with a tab\n")
    packed = tmp_path / "topics.tsv.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write("7\tpacked query\n")
    lines = tmp_path / "queries.jsonl"
    lines.write_text(json.dumps({"_id": "a", "text": "beir style"}) + "\n" + json.dumps({"qid": 3, "query": "x"}) + "\n")
    assert read_topics(plain) == {"1": "first query", "2": "second\tquery with a tab"}
    assert read_topics(packed) == {"7": "packed query"}
    assert read_topics(lines) == {"a": "beir style", "3": "x"}


def test_qrels_trec_and_beir_with_header(tmp_path):
    trec = tmp_path / "qrels.txt"
    trec.write_text("1 0 d1 2\n1 0 d2 0\n2 Q0 d3 1\n")
    beir = tmp_path / "test.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    assert read_qrels(trec) == {"1": {"d1": 2, "d2": 0}, "2": {"d3": 1}}
    assert read_qrels(beir) == {"q": {"d": 1}}


@pytest.mark.parametrize("content, message", [("1 0 d1\n1 0 d2 x\n", "is not a number"), ("1 d1\n", "expected"),
                                              ("", "no judgments")])
def test_bad_qrels_name_the_line(tmp_path, content, message):
    path = tmp_path / "qrels.txt"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_qrels(path)


def test_beir_folder_keeps_judged_queries_only(beir_folder):
    dataset = load_dataset(beir_folder)
    assert dataset.corpus == beir_folder and not dataset.is_run
    assert dataset.judged_queries() == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert dataset.qrels["q1"] == {"d0": 2, "d1": 1, "d11": 0}


def test_run_with_texts_is_detected_and_needs_qrels(given_run):
    run, qrels = given_run
    dataset = load_dataset(run, qrels=qrels)
    assert dataset.is_run and dataset.corpus is None
    assert len(dataset.candidates["q1"]) == 20 and dataset.candidates["q1"][0].doc_id == "d0"
    with pytest.raises(DatasetError, match="--qrels"):
        load_dataset(run)


def test_corpus_without_topics_says_what_is_missing(tmp_path):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"id": "1", "text": "x"}\n')
    with pytest.raises(DatasetError, match="--topics"):
        load_dataset(corpus)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing")

"""Tiny judged collections for the relevance tooling: a BEIR folder and a run with candidate texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import TOPICS

# (query id, text, {doc id: grade}) over the e2e corpus (d0..d19)
JUDGED = [
    ("q1", "read a text file line by line", {"d0": 2, "d1": 1, "d11": 0}),
    ("q2", "difference between two dates", {"d2": 2, "d3": 0}),
    ("q3", "run a shell command and capture its output", {"d4": 1, "d5": 0}),
    ("q4", "pick a random element of a list", {"d6": 2, "d7": 0}),
    ("q5", "compress bytes to save disk space", {"d12": 2}),
    ("q6", "wait for a thread to finish", {"d13": 1, "d19": 0}),
]


def corpus_rows() -> list[dict[str, str]]:
    return [{"_id": f"d{i}", "title": t, "text": x} for i, (t, x, _, _) in enumerate(TOPICS)]


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t, _ in JUDGED))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, _, judged in JUDGED for d, g in judged.items()))
    return folder


@pytest.fixture(scope="session")
def beir_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "tiny")


@pytest.fixture
def given_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run with candidate texts (rank_llm's JSON) over every document, BM25-like scores, and its qrels."""
    rows = corpus_rows()
    entries = []
    for q, text, _ in JUDGED:
        hits = [{"qid": q, "docid": r["_id"], "content": f"{r['title']} {r['text']}", "rank": rank,
                 "score": float((len(rows) - rank) // 2)}  # ties between pairs of ranks: trec_eval's order decides
                for rank, r in enumerate(rows, start=1)]
        entries.append({"query": text, "hits": hits})
    run = tmp_path / "run.json"
    run.write_text(json.dumps(entries))
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, _, judged in JUDGED for d, g in judged.items()))
    return run, qrels

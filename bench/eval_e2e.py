"""SciFact or Cranfield end to end: ingest into localsearch, then `rerank-sidecar eval` through the sidecar.

The data come from ../shared/data, converted to BEIR folders under bench/out/data (bench/eval_data.py);
the index is ingested once and reused while the corpus is unchanged. Extra arguments go to `eval`.

    .venv/bin/python bench/eval_e2e.py cranfield --reranker minilm-l6-distilled-ce --windows 10,20,50
    .venv/bin/python bench/eval_e2e.py scifact --reranker minilm-l6-distilled-ce --windows 10,20 --max-queries 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def prepare() -> Path:
    data = OUT / "data"
    if not (data / "cranfield" / "corpus.jsonl").is_file() or not (data / "scifact-train" / "qrels.txt").is_file():
        subprocess.run([sys.executable, str(REPO / "bench" / "eval_data.py"), str(data)], check=True)
    return data


def eval_command(dataset: str, extra: list[str], out_name: str | None = None) -> list[str]:
    data = prepare()
    return [sys.executable, "-m", "sidecar.cli", "eval", str(data / dataset), "--out", str(OUT / (out_name or dataset)),
            "--data-dir", str(OUT / "localsearch"), *extra]


def run(command: list[str]) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("RERANK_MODELS_DIR", str(REPO.parent / "shared" / "models"))
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Other arguments go to `rerank-sidecar eval` (see its --help).")
    parser.add_argument("dataset", choices=("scifact", "cranfield"))
    args, extra = parser.parse_known_args()
    return run(eval_command(args.dataset, extra))


if __name__ == "__main__":
    sys.exit(main())

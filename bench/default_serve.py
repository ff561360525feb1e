"""Does a fresh `serve` with default settings rerank every search of one client fully on this machine?

Starts localsearch, ingests the demo's corpus (docstrings of Python's standard library, up to 800 characters:
`sidecar.demo.write_corpus`), then starts `rerank-sidecar serve --reranker MODEL` with no window and no budget
configured and sends it distinct queries one at a time. Counts each answer's X-Rerank-Status, reads the window
the sidecar chose from /-/ready and reports the per-search latency (`took`). `--compare-window 100` runs the same
queries against a second sidecar with that window configured (the former default) for comparison.

    RERANK_MODELS_DIR=../shared/models .venv/bin/python bench/default_serve.py --compare-window 100   # ~6 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # children too

from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402
from sidecar.demo import INDEX, QUERIES, ingest, write_corpus  # noqa: E402

MORE_QUERIES = [
    "parse a date from a string", "sort a list of dictionaries by a key", "read rows of a csv file",
    "compute a hash of a file", "find every match of a regular expression", "format a number with commas",
    "copy a directory tree", "create a temporary file", "serialize an object to bytes", "parse command line options",
    "count how often each item occurs", "join paths in a portable way", "wrap long text into lines",
    "measure how long a function takes", "decode a base64 string", "open a url and read the page",
    "walk all files below a folder", "merge two sorted lists", "round a decimal number", "log a warning message",
    "make a copy of a nested list", "check whether a file exists", "schedule a function to run later",
    "read a configuration file with sections",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", default="minilm-l6-distilled-ce", help="folder, or name under RERANK_MODELS_DIR")
    parser.add_argument("--docs", type=int, default=1000, help="docstrings to index (default 1000)")
    parser.add_argument("--compare-window", type=int, default=None, help="also run a sidecar with this window")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "default-serve"))
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    models_dir = os.environ.get("RERANK_MODELS_DIR", str(REPO.parent / "shared" / "models"))
    model = args.reranker if Path(args.reranker).exists() else str(Path(models_dir) / args.reranker)
    queries = QUERIES + MORE_QUERIES
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"reranker": model, "queries": len(queries), "cpus": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="default-serve-") as work:
        corpus = Path(work) / "corpus.jsonl"
        count = write_corpus(corpus, args.docs)
        engine_port = free_port()
        engine = Child(["localsearch", "--data", str(Path(work) / "localsearch"), "--port", str(engine_port)], work)
        try:
            engine_url = f"http://127.0.0.1:{engine_port}"
            wait_until_ready(engine_url + "/", engine.process, timeout=120, ready=ok, name="localsearch")
            ingest(corpus, engine_url)
            report["docs"] = count
            for window in [None] + ([args.compare_window] if args.compare_window else []):
                report["runs"].append(run_sidecar(engine_url, model, window, queries, work))
        finally:
            engine.stop()
    (out / "default_serve.json").write_text(json.dumps(report, indent=2) + "\n")
    for run in report["runs"]:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(run["statuses"].items()))
        print(f"{run['label']}: window {run['window']} ({run['chosen']}), {run['speed']} -> {statuses} of "
              f"{report['queries']}; took p50 {run['p50_ms']:.0f} ms, max {run['max_ms']:.0f} ms")
    print(f"wrote {out / 'default_serve.json'}")
    return 0 if report["runs"][0]["statuses"] == {"reranked": len(queries)} else 1


class Child:
    """`rerank-sidecar ARGUMENTS` in a subprocess, its output in a log file under `work`."""

    def __init__(self, arguments: list[str], work: str, env: dict[str, str] | None = None) -> None:
        self.log = Path(work) / f"{arguments[0]}-{time.monotonic_ns()}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "sidecar.cli", *arguments], stdout=log,
                                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_sidecar(engine_url: str, model: str, window: int | None, queries: list[str], work: str) -> dict:
    port = free_port()
    env = {"RERANK_WINDOW": str(window)} if window else {}
    sidecar = Child(["serve", "--opensearch", engine_url, "--port", str(port), "--reranker", model], work, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/-/ready", sidecar.process, timeout=600, ready=ok, name="the sidecar",
                         log_tail=lambda: sidecar.log.read_text(errors="replace")[-3000:])
        rerank = requests.get(url + "/-/ready", timeout=30).json()["rerank"]
        statuses: dict[str, int] = {}
        took = []
        for query in queries:   # one client, one search at a time
            answer = requests.post(f"{url}/{INDEX}/_search", json={"query": {"match": {"text": query}}},
                                   timeout=120)
            answer.raise_for_status()
            status = answer.headers.get("X-Rerank-Status", "-")
            statuses[status] = statuses.get(status, 0) + 1
            took.append(answer.json()["took"])
        chosen = rerank["windows"]["defaults"]
        speed = next(iter(rerank["models"].values()), {})
        return {"label": f"window {window} configured" if window else "defaults", "window": chosen["window"],
                "chosen": chosen["chosen"], "speed": f"{speed.get('pairs_per_s')} pairs/s measured",
                "statuses": statuses, "p50_ms": float(np.percentile(took, 50)), "max_ms": float(max(took))}
    finally:
        sidecar.stop()


if __name__ == "__main__":
    sys.exit(main())

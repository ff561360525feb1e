"""Memory of a running sidecar per gunicorn worker, for sizing (figures in docs/operations.md).

Starts localsearch and `rerank-sidecar serve` with the given workers and cross-encoder, ingests the compose
sample corpus, sends searches (so the models and caches are in use), then reads each process's RSS and PSS
from /proc. Each worker loads its own models (no preload: torch and fork do not mix), so memory grows by one
worker's figure per worker.

    .venv/bin/python bench/sidecar_memory.py --reranker minilm-l6-distilled-ce --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from searchcore.local_server import free_port

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "deploy" / "sample" / "docs.jsonl"


def start(args: list[str], url: str, log: Path, ready_path: str = "/") -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "sidecar.cli", *args], cwd=REPO, stdout=log.open("ab"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{args[0]} exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + ready_path, timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{args[0]} not ready in 300 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB: PSS shares pages among the processes that map them, so PSS adds up."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields["Rss"] / 1024, fields["Pss"] / 1024


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def measure(workers: int, reranker: str, localsearch_url: str, workdir: Path, searches: int) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sidecar = start(["--log-level", "WARNING", "serve", "--opensearch", localsearch_url, "--port", str(port),
                     "--workers", str(workers), "--reranker", reranker], url, workdir / f"sidecar-{workers}.log",
                    "/-/ready")
    try:
        for i in range(searches):
            with requests.Session() as session:   # fresh connections reach every worker
                answer = session.post(f"{url}/docs/_search", json={"query": {"match": {"text": f"read files {i}"}}},
                                      headers={"Connection": "close"}, timeout=120)
                assert answer.headers.get("X-Rerank-Status") == "reranked", answer.text[:300]
        master = memory_mib(sidecar.pid)
        worker_figures = [memory_mib(pid) for pid in children(sidecar.pid)]
    finally:
        stop(sidecar)
    return {"workers": workers, "reranker": reranker, "master_rss_mib": round(master[0]),
            "worker_rss_mib": [round(w[0]) for w in worker_figures],
            "worker_pss_mib": [round(w[1]) for w in worker_figures],
            "total_pss_mib": round(master[1] + sum(w[1] for w in worker_figures))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", default="minilm-l6-distilled-ce", help="name under RERANK_MODELS_DIR or path")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        localsearch_url = f"http://127.0.0.1:{port}"
        engine = start(["--log-level", "WARNING", "localsearch", "--data", str(workdir / "data"), "--port",
                        str(port)], localsearch_url, workdir / "localsearch.log")
        try:
            subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "ingest", str(SAMPLE),
                            "--index", "docs", "--opensearch", localsearch_url, "--id-field", "id",
                            "--text-field", "title,text", "--state-dir", str(workdir / "state")],
                           cwd=REPO, check=True, capture_output=True)
            results = [measure(n, args.reranker, localsearch_url, workdir, args.searches) for n in args.workers]
        finally:
            stop(engine)
    for row in results:
        print(f"workers={row['workers']} reranker={row['reranker']}: master RSS {row['master_rss_mib']} MiB, "
              f"worker RSS {row['worker_rss_mib']} MiB, worker PSS {row['worker_pss_mib']} MiB, "
              f"total PSS {row['total_pss_mib']} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

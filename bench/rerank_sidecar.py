"""The concurrency part of the rerank benchmark: 1, 4 and 8 clients against a gunicorn-served sidecar.

localsearch holds the DL19 candidate passages (ingested with their vectors); each request asks for
one DL19 query's given BM25 top-100 (an `ids` filter), so the sidecar reranks exactly those 100
documents. Score and window caches are off: every request costs its full inference. Each answer is checked:
all 100 hits come back (`size` 100), each with a cross-encoder logit (`explain`); a request that reranked fewer
stops the run, so docs/s counts documents actually reranked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests
import yaml

from searchcore.local_server import free_port, ok, wait_until_ready

REPO = Path(__file__).resolve().parents[1]


def _cli(*arguments: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", *arguments], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def corpus_server(workdir: Path, queries: list[tuple[str, str, list[dict]]]) -> Iterator[str]:
    """localsearch with the candidates of `queries` ingested (vectors and the index contract)."""
    corpus = workdir / "dl19-passages.jsonl"
    passages = {hit["docid"]: hit["content"] for _qid, _query, hits in queries for hit in hits}
    corpus.write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in passages.items()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(_cli("localsearch", "--data", str(workdir / "localsearch"), "--port", str(port))) as engine:
        wait_until_ready(url + "/", engine, timeout=600, ready=ok)
        print(f"  ingesting {len(passages)} passages into localsearch ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "ingest", str(corpus),
                               "--index", "dl19", "--opensearch", url, "--format", "jsonl", "--id-field", "id",
                               "--text-field", "text"], cwd=REPO, check=False)
        if done.returncode != 0:
            raise SystemExit(f"ingest failed with status {done.returncode}")
        yield url


@contextmanager
def sidecar(upstream: str, workdir: Path, model: str, backend: str, batch_wait_ms: float) -> Iterator[str]:
    config = {"rerank_backend": backend, "batch_wait_ms": batch_wait_ms, "score_cache_entries": 0,
              "window_cache_ttl_s": 0, "defaults": {"window": 100, "max_window": 100, "budget_ms": 600000,
                                                    "text_fields": ["text"]}}
    path = workdir / f"sidecar-{backend}.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _cli("serve", "--opensearch", upstream, "--port", str(port), "--config", str(path), "--reranker",
                   model, "--workers", "1", "--threads", "8", log=workdir / f"sidecar-{backend}.log")
    with running(process):
        wait_until_ready(url + "/-/ready", process, timeout=600, ready=ok)
        yield url


CANDIDATES = 100


def search_body(query: str, hits: list[dict]) -> dict:
    return {"size": CANDIDATES, "_source": False, "ext": {"rerank": {"window": CANDIDATES, "explain": True}},
            "query": {"bool": {"must": [{"match": {"text": query}}],
                               "filter": [{"ids": {"values": [h["docid"] for h in hits]}}]}}}


def load_test(url: str, queries: list[tuple[str, str, list[dict]]], clients: int, requests_per_client: int
              ) -> dict[str, float]:
    """`clients` threads, each sending `requests_per_client` searches back to back (closed loop)."""
    latencies: list[float] = []
    statuses: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        with requests.Session() as session:
            for n in range(requests_per_client):
                _qid, query, hits = queries[(offset + n * clients) % len(queries)]
                started = time.perf_counter()
                response = session.post(f"{url}/dl19/_search", json=search_body(query, hits), timeout=900)
                elapsed = time.perf_counter() - started
                status = response.headers.get("X-Rerank-Status", str(response.status_code))
                scored = reranked_hits(response)
                with lock:
                    latencies.append(elapsed)
                    statuses.append(status)
                    if status == "reranked" and scored != CANDIDATES:
                        problems.append(f"query {_qid}: {scored} of {CANDIDATES} documents reranked")

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if problems:
        raise SystemExit("MISMATCH: a reranked answer did not rerank the whole window:\n" + "\n".join(problems[:10]))
    reranked = sum(1 for s in statuses if s == "reranked")
    p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99))
    return {"clients": clients, "requests": len(latencies), "reranked": reranked,
            "docs_per_s": reranked * CANDIDATES / wall, "requests_per_s": len(latencies) / wall,
            "p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "p99_over_p50": p99 / p50}


def reranked_hits(response: requests.Response) -> int:
    """How many hits of the answer carry a cross-encoder logit (0 for an error answer)."""
    if response.status_code != 200:
        return 0
    return sum(1 for hit in response.json()["hits"]["hits"] if hit.get("_rerank", {}).get("logit") is not None)


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(description=__doc__, epilog="A part of bench/rerank.py: run that script.").parse_args()
    raise SystemExit("bench/rerank_sidecar.py is a module of bench/rerank.py: run that script")

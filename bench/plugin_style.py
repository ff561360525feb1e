"""The proxy and OpenSearch's in-cluster `rerank` processor calling the sidecar, side by side: reranked-search latency.

    .venv/bin/python bench/plugin_style.py --opensearch http://127.0.0.1:9280 --docs 1000 --queries 40

Same data, same model, same sidecar process, one run:
1. The first `--docs` SciFact abstracts go into one index through `rerank-sidecar ingest` (all-MiniLM-L6-v2
   vectors, the index contract, title and text), so the proxy can do what it does in production.
2. One `rerank-sidecar serve` (gunicorn, 1 worker, the cross-encoder `--reranker`, score and window caches off)
   is both the proxy and the model server; `rerank-sidecar connect` gives the cluster a connector to its
   /v1/rerank, a deployed remote model and a search pipeline with the `rerank` processor (fields title,text).
3. Each SciFact test claim is searched as a BM25 `match` on title and text, a page of 10, four ways in rotating
   order: through the proxy with window 10 and 50 (hybrid BM25 + k-NN retrieval, rerank the window, return the
   top 10), and through the cluster's pipeline with `size` 10 and 50 (the processor reranks exactly the page it
   returns, so its "window" is the page size). Latency is the client's, keep-alive HTTP included.

Needs the node with ml-commons (deploy/nodes/opensearch.py; without --opensearch/$OPENSEARCH_URL one is started
and stopped) with the sidecar's loopback address trusted (the reference node's settings). Prints p50/p99 per
configuration and the ratios processor / proxy; writes bench/out/plugin_style.json. The index, the connector,
model and pipeline are named bench-plugin-<random> and removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")        # models come from packages and folders, never the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RERANK_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from bench.rerank_sidecar import _cli, running  # noqa: E402
from ingest.corpora import scifact_documents, scifact_folder  # noqa: E402
from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402

OUT = REPO / "bench" / "out"
PAGE = 10
WINDOWS = (10, 50)
WARMUP_QUERIES = 5   # per configuration: the first searches load the model's sessions and the JVM's code paths


def timed_claims(limit: int) -> list[str]:
    with gzip.open(scifact_folder() / "topics.beir-v1.0.0-scifact.test.tsv.gz", "rt", encoding="utf-8") as handle:
        claims = [line.rstrip("\n").split("\t", 1)[1] for line in handle if line.strip()]
    return claims[:limit]


def warmup_claims(limit: int) -> list[str]:
    import csv
    with (scifact_folder() / "claims_train.csv").open(encoding="utf-8", newline="") as handle:
        return list(dict.fromkeys(row["claim"] for row in csv.DictReader(handle)))[:limit]


def cli(*arguments: str) -> str:
    result = subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", *arguments], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"rerank-sidecar {arguments[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def ingest(url: str, index: str, docs: int, workdir: Path) -> None:
    path = workdir / "scifact.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for doc in islice(scifact_documents(), docs):
            out.write(json.dumps({"id": doc["_id"], "title": doc["title"], "text": doc["text"]}) + "\n")
    started = time.monotonic()
    cli("ingest", str(path), "--index", index, "--opensearch", url, "--format", "jsonl", "--id-field", "id",
        "--text-field", "title,text")
    print(f"ingested {docs} SciFact abstracts into {index} in {time.monotonic() - started:.0f} s", flush=True)


@contextlib.contextmanager
def node(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    script = REPO / "deploy" / "nodes" / "opensearch.py"
    home = Path(os.environ.get("RERANK_NODES_DIR", REPO / ".nodes"))
    port = str(free_port(9290))
    started = subprocess.run([sys.executable, str(script), "--home", str(home), "--port", port, "start"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(f"the node did not start:\n{started.stderr[-3000:]}")
    try:
        yield started.stdout.strip().split("=", 1)[1]
    finally:
        subprocess.run([sys.executable, str(script), "--home", str(home), "--port", port, "stop"])


@contextlib.contextmanager
def sidecar(url: str, reranker: str, workdir: Path) -> Iterator[str]:
    # caches off: every timed search costs its full inference; windows are per request (ext.rerank.window)
    config = {"score_cache_entries": 0, "window_cache_ttl_s": 0, "embedding_cache_entries": 0,
              "defaults": {"window": max(WINDOWS), "max_window": max(WINDOWS), "budget_ms": 600_000}}
    path = workdir / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    front = f"http://127.0.0.1:{port}"
    with running(_cli("serve", "--opensearch", url, "--port", str(port), "--config", str(path), "--reranker",
                      reranker, "--workers", "1", log=workdir / "sidecar.log")) as process:
        wait_until_ready(front + "/-/ready", process, timeout=900, ready=ok)
        yield front


def proxy_search(session: requests.Session, front: str, index: str, claim: str, window: int) -> dict[str, Any]:
    body = {"query": {"multi_match": {"query": claim, "fields": ["title", "text"]}}, "size": PAGE,
            "ext": {"rerank": {"window": window}}}
    response = session.post(f"{front}/{index}/_search", json=body, timeout=600)
    response.raise_for_status()
    if response.headers.get("X-Rerank-Status") != "reranked":
        raise SystemExit(f"the proxy did not rerank: {response.headers.get('X-Rerank-Status')}")
    return response.json()


def processor_search(session: requests.Session, url: str, index: str, pipeline: str, claim: str,
                     size: int) -> dict[str, Any]:
    body = {"query": {"multi_match": {"query": claim, "fields": ["title", "text"]}}, "size": size,
            "ext": {"rerank": {"query_context": {"query_text": claim}}}}
    response = session.post(f"{url}/{index}/_search", json=body, params={"search_pipeline": pipeline}, timeout=600)
    response.raise_for_status()
    return response.json()


def latency(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 1), "p99_ms": round(float(np.percentile(values, 99)), 1),
            "mean_ms": round(float(values.mean()), 1)}


def v1_calls(front: str) -> float:
    total = 0.0
    for line in requests.get(f"{front}/metrics", timeout=30).text.splitlines():
        if line.startswith("rerank_sidecar_requests_total{") and 'route="v1_rerank"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench-plugin-{uuid.uuid4().hex[:8]}"
    claims, warmup = timed_claims(args.queries), warmup_claims(WARMUP_QUERIES)
    with node(args.opensearch) as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ingest(url, name, args.docs, workdir)
        try:
            with sidecar(url, args.reranker, workdir) as front:
                print(cli("connect", "--opensearch", url, "--sidecar", front, "--name", name,
                          "--text-field", "title,text"), end="", flush=True)
                configs = {f"proxy_w{w}": (lambda s, c, w=w: proxy_search(s, front, name, c, w)) for w in WINDOWS}
                configs |= {f"processor_w{w}": (lambda s, c, w=w: processor_search(s, url, name, name, c, w))
                            for w in WINDOWS}
                session = requests.Session()
                for claim in warmup:
                    for search in configs.values():
                        search(session, claim)
                calls_before = v1_calls(front)
                samples: dict[str, list[float]] = {key: [] for key in configs}
                keys = list(configs)
                for i, claim in enumerate(claims):
                    for key in keys[i % len(keys):] + keys[:i % len(keys)]:   # rotate: noise hits all alike
                        started = time.perf_counter()
                        configs[key](session, claim)
                        samples[key].append(time.perf_counter() - started)
                calls = v1_calls(front) - calls_before
        finally:
            cli("connect", "--opensearch", url, "--remove", "--name", name)
            requests.delete(f"{url}/{name}", timeout=60)
    summary = {key: latency(values) for key, values in samples.items()}
    ratios = {f"w{w}": {p: round(summary[f"processor_w{w}"][p] / summary[f"proxy_w{w}"][p], 2)
                        for p in ("p50_ms", "p99_ms")} for w in WINDOWS}
    return {"queries": len(claims), "docs": args.docs, "reranker": args.reranker, "page": PAGE,
            "latency": summary, "processor_over_proxy": ratios, "v1_rerank_calls": calls,
            "load_average": os.getloadavg(), "commit": commit()}


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip()


def print_report(result: dict[str, Any]) -> None:
    print(f"\n{result['queries']} SciFact claims, {result['docs']} abstracts, page of {PAGE}, "
          f"reranker {Path(result['reranker']).name}, commit {result['commit']}")
    print(f"{'configuration':<16} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for key, values in result["latency"].items():
        print(f"{key:<16} {values['p50_ms']:>8} {values['p99_ms']:>8} {values['mean_ms']:>8}")
    for window, ratio in result["processor_over_proxy"].items():
        print(f"processor / proxy, {window}: p50 {ratio['p50_ms']}, p99 {ratio['p99_ms']}")
    print(f"/v1/rerank calls during the timed run: {result['v1_rerank_calls']:.0f} "
          f"(= 2 per claim: one per processor search)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opensearch", default=os.environ.get("OPENSEARCH_URL"),
                        help="a node with ml-commons (default: start the reference node)")
    parser.add_argument("--docs", type=int, default=1000, help="SciFact abstracts to index (default 1000)")
    parser.add_argument("--queries", type=int, default=40, help="test claims to time (default 40)")
    parser.add_argument("--reranker", default=str(REPO.parent / "shared" / "models" / "minilm-l2-dl20-ce"),
                        help="the cross-encoder (default: the shared minilm-l2-dl20-ce)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if scifact_folder() is None:
        raise SystemExit("needs SciFact under the shared data folder (RERANK_DATA_ROOT)")
    result = run(args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "plugin_style.json").write_text(json.dumps(result, indent=2))
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

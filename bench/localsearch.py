"""Benchmark localsearch: index N synthetic documents with 384-d vectors, time BM25, k-NN and hybrid queries.

    python bench/localsearch.py --docs 100000 --queries 300

Starts `rerank-sidecar localsearch` on a loopback port (a real HTTP server, as users run it), bulk-indexes
the documents with opensearch-py, then times each query type through the same client. Prints indexing
docs/s and p50/p99 per query type, and writes JSON + a PNG latency chart under bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from opensearchpy import OpenSearch, helpers
from tqdm import tqdm

from searchcore.local_server import free_port

REPO = Path(__file__).resolve().parent.parent
TARGET_P50_MS = 20.0


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "localsearch",
                                "--data", str(data_dir), "--port", str(port)], cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("localsearch did not start")


def synthetic_corpus(n: int, dim: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Zipf-distributed words (like real text) and clustered unit vectors (like real embeddings)."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(30_000)]
    ranks = np.arange(1, len(vocabulary) + 1)
    weights = 1 / ranks
    weights /= weights.sum()
    lengths = rng.integers(20, 80, size=n)
    words = rng.choice(len(vocabulary), size=int(lengths.sum()), p=weights)
    texts, start = [], 0
    for length in lengths:
        texts.append(" ".join(vocabulary[w] for w in words[start:start + length]))
        start += length
    centers = rng.normal(size=(64, dim)).astype(np.float32)
    vectors = centers[rng.integers(0, 64, size=n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors, vocabulary


def percentiles(samples: list[float]) -> dict[str, float]:
    array = np.array(samples) * 1000
    return {"p50_ms": float(np.percentile(array, 50)), "p99_ms": float(np.percentile(array, 99)),
            "mean_ms": float(array.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()

    texts, vectors, vocabulary = synthetic_corpus(args.docs, args.dim, args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="localsearch-bench-"))
    port = free_port()
    server = start_server(data_dir, port)
    try:
        client = OpenSearch(f"http://127.0.0.1:{port}", timeout=300)
        client.indices.create(index="bench", body={
            "settings": {"index": {"knn": True, "refresh_interval": "-1"}},
            "mappings": {"properties": {"text": {"type": "text"}, "embedding": {
                "type": "knn_vector", "dimension": args.dim,
                "method": {"name": "hnsw", "engine": "faiss", "space_type": "cosinesimil",
                           "parameters": {"m": 16, "ef_construction": 100}}}}}})
        actions = ({"_index": "bench", "_id": str(i), "_source": {"text": texts[i],
                                                                  "embedding": vectors[i].round(5).tolist()}}
                   for i in range(args.docs))
        started = time.perf_counter()
        with tqdm(total=args.docs, desc="indexing", unit="doc") as bar:
            for ok, _ in helpers.streaming_bulk(client, actions, chunk_size=500, max_chunk_bytes=50_000_000):
                bar.update(1)
                if not ok:
                    raise SystemExit("bulk item failed")
        client.indices.refresh(index="bench")
        index_seconds = time.perf_counter() - started
        assert client.count(index="bench")["count"] == args.docs

        client.transport.perform_request("PUT", "/_search/pipeline/bench-hybrid", body={
            "phase_results_processors": [{"normalization-processor": {
                "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]})
        rng = random.Random(args.seed)
        query_words = vocabulary[50:5000]  # mid-frequency terms, as in natural queries
        query_vectors = vectors[np.random.default_rng(args.seed + 1).integers(0, args.docs, args.queries)]
        bodies = {
            "bm25": lambda i: {"query": {"match": {"text": " ".join(rng.sample(query_words, 3))}}},
            "knn": lambda i: {"query": {"knn": {"embedding": {"vector": query_vectors[i].tolist(), "k": 10}}}},
            "hybrid": lambda i: {"query": {"hybrid": {"queries": [
                {"match": {"text": " ".join(rng.sample(query_words, 3))}},
                {"knn": {"embedding": {"vector": query_vectors[i].tolist(), "k": 10}}}]}}},
        }
        results: dict[str, dict[str, float]] = {}
        for name, make in bodies.items():
            params = {"search_pipeline": "bench-hybrid"} if name == "hybrid" else {}
            for i in range(10):  # warm-up
                client.search(index="bench", body=make(i), params=params)
            samples = []
            for i in tqdm(range(args.queries), desc=name, unit="q"):
                body = make(i)
                t0 = time.perf_counter()
                client.search(index="bench", body=body, params=params, size=10)
                samples.append(time.perf_counter() - t0)
            results[name] = percentiles(samples)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)

    report = {"docs": args.docs, "dim": args.dim, "queries": args.queries, "index_seconds": index_seconds,
              "index_docs_per_s": args.docs / index_seconds, "latency": results,
              "target_p50_ms": TARGET_P50_MS, "cpu_count": os.cpu_count()}
    print(f"\nlocalsearch, {args.docs} docs x {args.dim}-d vectors, over HTTP with opensearch-py")
    print(f"indexing: {report['index_docs_per_s']:.0f} docs/s ({index_seconds:.1f} s, bulk 500 + refresh)")
    print(f"{'query':8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}  target p50 < {TARGET_P50_MS:.0f} ms")
    for name, stats in results.items():
        verdict = "ok" if stats["p50_ms"] < TARGET_P50_MS else "MISSED"
        print(f"{name:8} {stats['p50_ms']:8.2f} {stats['p99_ms']:8.2f} {stats['mean_ms']:8.2f}  {verdict}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "localsearch.json").write_text(json.dumps(report, indent=2))
    _plot(results, args.out / "localsearch.png", args.docs)
    print(f"wrote {args.out / 'localsearch.json'} and {args.out / 'localsearch.png'}")


def _plot(results: dict[str, dict[str, float]], path: Path, docs: int) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return
    names = list(results)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [results[n]["p50_ms"] for n in names], 0.4, label="p50")
    ax.bar(x + 0.2, [results[n]["p99_ms"] for n in names], 0.4, label="p99")
    ax.axhline(TARGET_P50_MS, color="red", linestyle="--", label="p50 target")
    ax.set_xticks(x, names)
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"localsearch query latency, {docs:,} docs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

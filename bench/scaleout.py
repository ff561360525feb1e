"""Paging behind a load balancer: sidecar replicas behind nginx, clients paging pages 1-3, memory vs redis caches.

Starts localsearch on a loopback port and ingests the first `--docs` SciFact abstracts, then for each cache
backend in `--backends`: redis-server (for `redis`), `--replicas` sidecars (`rerank-sidecar serve`, one worker
each) and nginx round-robin in front of them. `--clients` closed-loop clients each take a fresh query (a SciFact
claim with a random word, so no two sessions share a cache entry) and fetch its pages 1 to `--pages` through the
balancer, one after the other, as a user paging does. Reported per backend: p50/p99 latency per page, model calls
and scored pairs per query and the window-cache hit rate (from the sidecars' own /metrics), and how many pages
came back in another order than a single instance gives. Traffic goes only to 127.0.0.1.

    RERANK_MODELS_DIR=../shared/models .venv/bin/python bench/scaleout.py --sessions 48 --json bench/out/scaleout.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.load import WORDS, queries_and_corpus, work_folder_and_reranker  # noqa: E402
from bench.rerank_sidecar import _cli, running  # noqa: E402
from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402
from tests.scaleout_servers import NginxBalancer, RedisServer  # noqa: E402

INDEX = "scale-scifact"
PAGE = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="SciFact abstracts to index")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=48, help="queries paged through, per backend")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--backends", default="memory,redis")
    parser.add_argument("--reranker", default=None, help="default: $RERANK_MODELS_DIR/minilm-l2-dl20-ce")
    parser.add_argument("--work", default=None)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--json", default=None)
    parser.add_argument("--png", default=None, help="a chart of p50/p99 per page and backend")
    parser.add_argument("--replot", default=None, help="draw --png from an earlier --json report, run nothing")
    return parser.parse_args(argv)


def plot(report: dict[str, Any], path: Path) -> None:
    """p50 and p99 per page, one group of bars per backend (log scale: hits take ms, computed windows seconds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    pages = list(next(iter(results.values()))["pages"])
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / (2 * len(results))
    for i, (backend, result) in enumerate(results.items()):
        for j, stat in enumerate(("p50_ms", "p99_ms")):
            offset = (2 * i + j) * width - 0.4 + width / 2
            values = [result["pages"][page][stat] for page in pages]
            axis.bar([k + offset for k in range(len(pages))], values, width,
                     label=f"{backend} {stat.removesuffix('_ms')} ({result['model_calls_per_query']} model calls/query,"
                           f" window hit rate {result['window_hit_rate']})")
    axis.set_xticks(range(len(pages)), pages)
    axis.set_yscale("log")
    axis.set_ylabel("latency (ms, log scale)")
    axis.set_title(f"{report['replicas']} replicas behind nginx, {report['clients']} clients paging, window "
                   f"{report['window']}, {report['reranker']}", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def metrics_of(url: str) -> dict[str, float]:
    """The sums this benchmark reads from one sidecar's /metrics."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    wanted = {"rerank_sidecar_model_call_duration_seconds_count": "model_calls",
              "rerank_sidecar_batch_pairs_sum": "pairs"}
    out = {"model_calls": 0.0, "pairs": 0.0, "window_hit": 0.0, "window_miss": 0.0, "redis_unavailable": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                out[wanted[sample.name]] += sample.value
            elif sample.name == "rerank_sidecar_cache_requests_total" and sample.labels.get("cache") == "window":
                out[f"window_{sample.labels['result']}"] += sample.value
            elif sample.name == "rerank_sidecar_cache_backend_unavailable_total":
                out["redis_unavailable"] += sample.value
    return out


def summed(urls: list[str]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for url in urls:
        for key, value in metrics_of(url).items():
            totals[key] = totals.get(key, 0.0) + value
    return totals


@contextmanager
def replicas(work: Path, engine_url: str, reranker: str, count: int, config: dict[str, Any],
             threads_each: int) -> Any:
    """`count` sidecars (one worker each, `threads_each` model threads) and nginx round-robin in front of them."""
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        urls = []
        for i in range(count):
            port = free_port()
            path = work / f"sidecar-{i}.yaml"
            path.write_text(yaml.safe_dump(config))
            process = stack.enter_context(running(_cli(
                "serve", "--opensearch", engine_url, "--port", str(port), "--config", str(path), "--reranker",
                reranker, "--workers", "1", "--threads", "8", env={"RERANK_INFERENCE_THREADS": str(threads_each)},
                log=work / f"sidecar-{i}.log")))
            urls.append((f"http://127.0.0.1:{port}", process))
        for url, process in urls:
            wait_until_ready(url + "/-/ready", process, timeout=900, ready=ok)
        balancer = NginxBalancer(work / "nginx", [url.removeprefix("http://") for url, _ in urls])
        stack.callback(balancer.stop)
        yield balancer.url, [url for url, _ in urls]


def search(session: requests.Session, url: str, query: str, page: int) -> tuple[float, list[str], str]:
    body = {"query": {"match": {"text": query}}, "from": (page - 1) * PAGE, "size": PAGE}
    started = time.perf_counter()
    response = session.post(f"{url}/{INDEX}/_search", json=body, timeout=300)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    return seconds, [hit["_id"] for hit in response.json()["hits"]["hits"]], response.headers.get("X-Rerank-Status",
                                                                                                   "")


def page_sessions(url: str, queries: list[str], clients: int, pages: int) -> tuple[list[dict], float]:
    """Each client pages through its share of `queries`: pages 1..`pages` of one query, then the next query."""
    rows: list[dict] = []
    lock = threading.Lock()
    todo = iter(queries)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                query = next(todo, None)
            if query is None:
                return
            for page in range(1, pages + 1):
                seconds, ids, status = search(session, url, query, page)
                with lock:
                    rows.append({"query": query, "page": page, "seconds": seconds, "ids": ids, "status": status})

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rows, time.perf_counter() - started


def inconsistent_pages(rows: list[dict]) -> int:
    """Sessions whose pages repeat a document or leave one out (pages 1..n together are not n * PAGE distinct ids)."""
    by_query: dict[str, list[str]] = {}
    for row in rows:
        by_query.setdefault(row["query"], []).extend(row["ids"])
    return sum(len(ids) != len(set(ids)) for ids in by_query.values())


def summary(rows: list[dict], elapsed: float, before: dict, after: dict, sessions: int, pages: int) -> dict:
    per_page = {}
    for page in range(1, pages + 1):
        seconds = np.array([r["seconds"] for r in rows if r["page"] == page]) * 1000
        per_page[f"page {page}"] = {"p50_ms": round(float(np.percentile(seconds, 50)), 1),
                                    "p99_ms": round(float(np.percentile(seconds, 99)), 1), "n": int(seconds.size)}
    delta = {k: after[k] - before[k] for k in after}
    lookups = delta["window_hit"] + delta["window_miss"]
    return {"pages": per_page, "queries": sessions, "searches_per_s": round(len(rows) / elapsed, 2),
            "model_calls_per_query": round(delta["model_calls"] / sessions, 2),
            "pairs_per_query": round(delta["pairs"] / sessions, 1),
            "window_hit_rate": round(delta["window_hit"] / lookups, 3) if lookups else None,
            "sessions_with_repeated_or_missing_documents": inconsistent_pages(rows),
            "statuses": sorted({r["status"] for r in rows}), "redis_unavailable": delta["redis_unavailable"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        plot(json.loads(Path(args.replot).read_text()), Path(args.png or "scaleout.png"))
        return 0
    work, reranker = work_folder_and_reranker(args.work, args.reranker, "rerank-scaleout-")
    claims, corpus = queries_and_corpus(work, args.docs)
    rng = random.Random(args.seed)
    ls_port = free_port()
    engine_url = f"http://127.0.0.1:{ls_port}"
    report: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                              "replicas": args.replicas, "clients": args.clients, "window": args.window,
                              "page_size": PAGE, "reranker": Path(reranker).name, "docs": args.docs,
                              "cores": os.cpu_count(), "results": {}}
    with running(_cli("localsearch", "--data", str(work / "localsearch"), "--port", str(ls_port),
                      log=work / "localsearch.log")) as engine:
        wait_until_ready(engine_url + "/", engine, timeout=600, ready=ok)
        done = _cli("ingest", str(corpus), "--index", INDEX, "--opensearch", engine_url, "--format", "beir",
                    "--progress-interval", "0", log=work / "ingest.log")
        if done.wait() != 0:
            raise SystemExit(f"ingest failed: see {work / 'ingest.log'}")
        threads_each = max(1, (os.cpu_count() or 1) // args.replicas)
        for backend in args.backends.split(","):
            config: dict[str, Any] = {"defaults": {"window": args.window, "budget_ms": 120000},
                                      "cache_backend": backend}
            with ExitStack() as stack:
                if backend == "redis":
                    redis_server = RedisServer(work / "redis")
                    stack.callback(redis_server.stop)
                    config["cache_url"] = redis_server.url
                balancer, urls = stack.enter_context(replicas(work / backend, engine_url, reranker, args.replicas,
                                                              config, threads_each))
                warm = [f"{rng.choice(claims)} {rng.choice(WORDS)} warm{i}" for i in range(args.clients)]
                page_sessions(balancer, warm, args.clients, args.pages)
                queries = [f"{rng.choice(claims)} {rng.choice(WORDS)} {rng.randrange(10**6)}"
                           for _ in range(args.sessions)]
                load_before, before = os.getloadavg()[0], summed(urls)
                rows, elapsed = page_sessions(balancer, queries, args.clients, args.pages)
                result = summary(rows, elapsed, before, summed(urls), args.sessions, args.pages)
                result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                report["results"][backend] = result
                print(backend, json.dumps(result), flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.png:
        plot(report, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())

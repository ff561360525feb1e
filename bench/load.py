"""Mixed load and soak against gunicorn + localsearch: throughput, latency per route, errors, worker memory.

Starts localsearch on a loopback port, ingests the first `--docs` SciFact abstracts (vectors and the index
contract), starts `rerank-sidecar serve` with `--workers`, then runs `--clients` closed-loop client threads for
`--duration` seconds (or `--max-requests` in all, whichever comes first) with this mix:

- `rerank`: a reranked `_search` (SciFact claims as queries; `--fresh` of them made unique with a random
  extra word, the rest drawn from 50 hot queries, so caches both hit and fill), sometimes page 2;
- `passthrough`: the same search with `X-Rerank: off` (the cluster answers, byte for byte);
- `msearch`: an `_msearch` with a reranked item and a sorted (pass-through) item;
- `bulk`: a `_bulk` of 10 small documents into a plain index, ids in a bounded range (the index stays small).

A sampler reads each gunicorn worker's RSS and PSS from /proc every `--sample-s` seconds. Traffic goes only to
127.0.0.1 and stops by itself. The caches are bounded by entry counts (set smaller with `--score-cache` etc. to
watch them fill and the memory level off within the soak); `--cache-bytes` measures what one entry costs.

    .venv/bin/python bench/load.py --duration 60                  # a quick run
    .venv/bin/python bench/load.py --duration 600 --json bench/out/load-soak.json --png bench/out/load-soak.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.rerank_sidecar import _cli, running  # noqa: E402
from bench.sidecar_memory import children as workers_of  # noqa: E402
from bench.sidecar_memory import memory_mib  # noqa: E402
from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402

ROUTES = ("rerank", "passthrough", "msearch", "bulk")
INDEX, WRITES = "load-scifact", "load-writes"
WORDS = ("cell", "gene", "risk", "dose", "trial", "brain", "tumor", "virus", "protein", "immune", "mouse",
         "cancer", "blood", "heart", "liver", "insulin", "mutation", "therapy", "infection", "receptor")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60; soak: 600)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument("--docs", type=int, default=1000, help="SciFact abstracts to ingest (default 1000)")
    parser.add_argument("--reranker", default=None, help="cross-encoder (default: minilm-l2-dl20-ce from "
                        "RERANK_MODELS_DIR)")
    parser.add_argument("--window", type=int, default=20, help="candidates reranked per search (default 20)")
    parser.add_argument("--mix", default="rerank=0.55,passthrough=0.2,msearch=0.15,bulk=0.1")
    parser.add_argument("--fresh", type=float, default=0.5, help="share of reranked queries never seen before")
    parser.add_argument("--score-cache", type=int, default=None, help="score_cache_entries (default: settings)")
    parser.add_argument("--window-cache", type=int, default=None, help="window_cache_entries (default: settings)")
    parser.add_argument("--embedding-cache", type=int, default=None, help="embedding_cache_entries")
    parser.add_argument("--sample-s", type=float, default=5.0, help="memory sampling interval")
    parser.add_argument("--warmup-s", type=float, default=20.0, help="first seconds left out of the memory baseline")
    parser.add_argument("--cache-bytes", action="store_true", help="also measure the bytes one cache entry costs")
    parser.add_argument("--work", default=None, help="working folder (default: a new temporary one)")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--png", default=None, help="write memory and throughput over time here")
    return parser.parse_args()


def work_folder_and_reranker(work: str | None, reranker: str | None, prefix: str) -> tuple[Path, str]:
    """The run's work folder (a new temporary one unless given) and the cross-encoder: `reranker`, or the fast
    trained one under RERANK_MODELS_DIR; without either the run cannot start."""
    import tempfile

    folder = Path(work or tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    models = os.environ.get("RERANK_MODELS_DIR")
    reranker = reranker or (str(Path(models) / "minilm-l2-dl20-ce") if models else None)
    if reranker is None:
        raise SystemExit("--reranker is required when RERANK_MODELS_DIR is not set")
    return folder, reranker


def queries_and_corpus(work: Path, docs: int) -> tuple[list[str], Path]:
    import csv

    from ingest.corpora import scifact_documents, scifact_folder, write_beir_corpus
    folder = scifact_folder()
    if folder is None:
        raise SystemExit("SciFact not found: set RERANK_DATA_ROOT or add ../shared/data/beir-scifact")
    corpus = write_beir_corpus(scifact_documents(folder), work / "scifact", limit=docs)
    with (folder / "claims_train.csv").open(encoding="utf-8", newline="") as handle:
        claims = [row["claim"] for row in csv.DictReader(handle) if row["claim"].strip()]
    return claims, corpus


class Traffic:
    """One client's requests: which route, what body; results go to the shared Recorder."""

    def __init__(self, url: str, claims: list[str], mix: dict[str, float], fresh: float, seed: int) -> None:
        self.url, self.claims, self.fresh = url, claims, fresh
        self.hot = claims[:50]
        self.routes, self.weights = list(mix), list(mix.values())
        self.random = random.Random(seed)

    def query(self) -> str:
        if self.random.random() < self.fresh:
            return f"{self.random.choice(self.claims)} {self.random.choice(WORDS)} {self.random.randrange(10**6)}"
        return self.random.choice(self.hot)

    def send(self, session: requests.Session) -> tuple[str, requests.Response]:
        route = self.random.choices(self.routes, self.weights)[0]
        text = self.query()
        search = {"query": {"match": {"text": text}}, "size": 10, "from": self.random.choice((0, 0, 0, 10))}
        if route == "rerank":
            return route, session.post(f"{self.url}/{INDEX}/_search", json=search, timeout=120)
        if route == "passthrough":
            return route, session.post(f"{self.url}/{INDEX}/_search", json=search, headers={"X-Rerank": "off"},
                                       timeout=120)
        if route == "msearch":
            lines = [{"index": INDEX}, search, {"index": INDEX}, {**search, "sort": [{"_doc": "asc"}]}]
            return route, session.post(f"{self.url}/_msearch", data="".join(json.dumps(x) + "\n" for x in lines),
                                       headers={"Content-Type": "application/x-ndjson"}, timeout=120)
        lines = []
        for _ in range(10):
            lines += [{"index": {"_index": WRITES, "_id": str(self.random.randrange(1000))}},
                      {"title": text[:60], "text": text, "n": self.random.randrange(100)}]
        return route, session.post(f"{self.url}/_bulk", data="".join(json.dumps(x) + "\n" for x in lines),
                                   headers={"Content-Type": "application/x-ndjson"}, timeout=120)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[float, str, int, float, str]] = []   # (t, route, status, seconds, rerank status)

    def add(self, *row: object) -> None:
        with self.lock:
            self.rows.append(row)  # type: ignore[arg-type]


def run_clients(url: str, claims: list[str], args: argparse.Namespace, recorder: Recorder) -> float:
    mix = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    unknown = set(mix) - set(ROUTES)
    if unknown:
        raise SystemExit(f"--mix: unknown routes {sorted(unknown)}; known: {ROUTES}")
    started = time.monotonic()
    deadline = started + args.duration
    budget = threading.Semaphore(args.max_requests)

    def client(seed: int) -> None:
        traffic = Traffic(url, claims, mix, args.fresh, seed)
        with requests.Session() as session:
            while time.monotonic() < deadline and budget.acquire(blocking=False):
                t0 = time.monotonic()
                try:
                    route, response = traffic.send(session)
                    status, rerank = response.status_code, response.headers.get("X-Rerank-Status", "-")
                except requests.RequestException:
                    route, status, rerank = "error", 0, "-"
                recorder.add(t0 - started, route, status, time.monotonic() - t0, rerank)

    threads = [threading.Thread(target=client, args=(seed,), daemon=True) for seed in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + 300)
    return time.monotonic() - started


def sample_memory(master: int, every: float, stop: threading.Event, samples: list[dict]) -> None:
    started = time.monotonic()
    while not stop.wait(0 if not samples else every):
        row: dict = {"t": round(time.monotonic() - started, 1), "workers": {}}
        for pid in workers_of(master):
            try:
                rss, pss = memory_mib(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            row["workers"][str(pid)] = {"rss_mib": round(rss, 1), "pss_mib": round(pss, 1)}
        samples.append(row)


def summarize(rows: list[tuple], elapsed: float) -> dict:
    by_route: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_route[row[1]].append(row)
    routes = {}
    for route, items in sorted(by_route.items()):
        seconds = np.array([r[3] for r in items]) * 1000
        ok = sum(1 for r in items if 200 <= r[2] < 300)
        searches = rerank_statuses(items)
        routes[route] = {"requests": len(items), "per_s": round(len(items) / elapsed, 2),
                         "p50_ms": round(float(np.percentile(seconds, 50)), 1),
                         "p95_ms": round(float(np.percentile(seconds, 95)), 1),
                         "p99_ms": round(float(np.percentile(seconds, 99)), 1),
                         "errors": len(items) - ok, "statuses": dict(Counter(str(r[2]) for r in items)),
                         "reranked": searches["reranked"], "partial": searches["partial"],
                         "fail_open": sum(n for status, n in searches.items() if status.startswith("skipped")),
                         "rerank_status": dict(searches.most_common())}
    total = len(rows)
    errors = sum(1 for r in rows if not 200 <= r[2] < 300)
    return {"seconds": round(elapsed, 1), "requests": total, "per_s": round(total / elapsed, 2),
            "error_rate": round(errors / total, 5) if total else None, "routes": routes}


def rerank_statuses(items: list[tuple]) -> Counter:
    """Each search's X-Rerank-Status (an `_msearch` answer lists one per search, comma-separated): reranked,
    partial (the budget ran out part-way), skipped-<reason> (fail-open: first-stage order), passthrough, error."""
    return Counter(status for r in items if r[4] != "-" for status in r[4].split(","))


def print_table(load: dict) -> None:
    """The figures a benchmark table needs, fail-open and partial searches next to the HTTP errors."""
    print(f"\n{'route':<12} {'requests':>8} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'errors':>6} "
          f"{'reranked':>8} {'partial':>7} {'fail-open':>9}  X-Rerank-Status")
    for route, r in load["routes"].items():
        print(f"{route:<12} {r['requests']:>8} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} {r['p99_ms']:>9.1f} "
              f"{r['errors']:>6} {r['reranked']:>8} {r['partial']:>7} {r['fail_open']:>9}  {r['rerank_status']}")


def memory_summary(samples: list[dict], warmup_s: float) -> dict:
    pids = sorted({pid for s in samples for pid in s["workers"]})
    out = {}
    for pid in pids:
        series = [(s["t"], s["workers"][pid]["rss_mib"], s["workers"][pid]["pss_mib"]) for s in samples
                  if pid in s["workers"]]
        steady = [row for row in series if row[0] >= warmup_s] or series
        half = [row for row in steady if row[0] >= (steady[0][0] + steady[-1][0]) / 2] or steady
        slope = np.polyfit([r[0] for r in half], [r[1] for r in half], 1)[0] * 60 if len(half) > 2 else 0.0
        out[pid] = {"rss_start_mib": steady[0][1], "rss_end_mib": steady[-1][1],
                    "rss_max_mib": max(r[1] for r in series), "growth_mib": round(steady[-1][1] - steady[0][1], 1),
                    "second_half_slope_mib_per_min": round(float(slope), 2), "pss_end_mib": steady[-1][2]}
    return out


def cache_entry_bytes(window: int) -> dict:
    """Bytes one entry of each cache holds (tracemalloc over many synthetic, realistic entries)."""
    import tracemalloc

    from ingest.corpora import scifact_documents
    from sidecar.pipeline import CachedWindow
    from sidecar.rerank.cache import CachedScore, ScoreCache
    from sidecar.respond import Ranked
    from sidecar.retrieve import Candidate, FirstStageResult
    from sidecar.window_cache import WindowCache, WindowKey

    docs = [d for _, d in zip(range(window), scifact_documents(), strict=False)]
    query = "a claim of the usual length about a gene and a disease in mice " * 2
    n = 20_000
    tracemalloc.start()
    cache = ScoreCache(n)
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        cache.put(ScoreCache.key("minilm-l2-dl20-ce|512|16", f"{query}{i}", f"{INDEX}/{i}", str(i)),
                  CachedScore(float(i), 0, (0, 1000)))
    score = (tracemalloc.get_traced_memory()[0] - base) / n
    embeddings: dict = {}
    base = tracemalloc.get_traced_memory()[0]
    for i in range(2000):
        embeddings[("all-MiniLM-L6-v2", f"{query}{i}", True)] = [float(x) for x in np.random.rand(384)]
    embedding = (tracemalloc.get_traced_memory()[0] - base) / 2000
    windows = WindowCache(200, 60)
    base = tracemalloc.get_traced_memory()[0]
    for i in range(200):   # each window its own copy of the hits, as stage 1 parses them
        hits = [json.loads(json.dumps({"_index": INDEX, "_id": d["_id"], "_score": 1.0,
                                       "_source": {"title": d["title"], "text": d["text"]}})) for d in docs]
        candidates = [Candidate(h, 1.0, r) for r, h in enumerate(hits, 1)]
        ranked = [Ranked(c, 0.5, 0.1, 0) for c in candidates]
        key = WindowKey(INDEX, f"{query}{i}", {"match": {"text": query}}, [], window, None, None, {}, {}, False,
                        "caller", None)
        first = FirstStageResult(candidates, {"value": 10}, {}, False, None, "client")
        windows.put(key, CachedWindow(first, ranked, "reranked", window))
    window_bytes = (tracemalloc.get_traced_memory()[0] - base) / 200
    tracemalloc.stop()
    return {"score_entry_bytes": round(score), "embedding_entry_bytes": round(embedding),
            "window_entry_bytes": round(window_bytes), "window": window,
            "mean_doc_chars": round(sum(len(d["title"]) + len(d["text"]) for d in docs) / len(docs))}


def plot(samples: list[dict], rows: list[tuple], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (mem, rate) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for pid in sorted({pid for s in samples for pid in s["workers"]}):
        points = [(s["t"], s["workers"][pid]["rss_mib"]) for s in samples if pid in s["workers"]]
        mem.plot([p[0] for p in points], [p[1] for p in points], label=f"worker {pid}")
    mem.set_ylabel("RSS (MiB)")
    mem.legend(loc="lower right")
    mem.set_title("sidecar workers under mixed load")
    end = max((r[0] for r in rows), default=0)
    edges = np.arange(0, end + 10, 10)
    for route in ROUTES:
        times = [r[0] for r in rows if r[1] == route]
        counts, _ = np.histogram(times, bins=edges)
        rate.plot(edges[:-1], counts / 10, label=route)
    rate.set_ylabel("requests/s (10 s bins)")
    rate.set_xlabel("seconds")
    rate.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> int:
    args = parse_args()
    work, reranker = work_folder_and_reranker(args.work, args.reranker, "rerank-load-")
    claims, corpus = queries_and_corpus(work, args.docs)
    ls_port, port = free_port(), free_port()
    ls_url, url = f"http://127.0.0.1:{ls_port}", f"http://127.0.0.1:{port}"
    config = {"defaults": {"window": args.window, "budget_ms": 10000}}
    for key, value in (("score_cache_entries", args.score_cache), ("window_cache_entries", args.window_cache),
                       ("embedding_cache_entries", args.embedding_cache)):
        if value is not None:
            config[key] = value
    (work / "sidecar.yaml").write_text(yaml.safe_dump(config))
    with running(_cli("localsearch", "--data", str(work / "localsearch"), "--port", str(ls_port),
                      log=work / "localsearch.log")) as engine:
        wait_until_ready(ls_url + "/", engine, timeout=600, ready=ok)
        print(f"ingesting {args.docs} SciFact abstracts ...", flush=True)
        done = _cli("ingest", str(corpus), "--index", INDEX, "--opensearch", ls_url, "--format", "beir",
                    "--progress-interval", "0", log=work / "ingest.log")
        if done.wait() != 0:
            raise SystemExit(f"ingest failed: see {work / 'ingest.log'}")
        sidecar = _cli("serve", "--opensearch", ls_url, "--port", str(port), "--config", str(work / "sidecar.yaml"),
                       "--reranker", reranker, "--workers", str(args.workers), "--threads", str(args.threads),
                       log=work / "sidecar.log")
        with running(sidecar):
            wait_until_ready(url + "/-/ready", sidecar, timeout=600, ready=ok)
            first_workers = sorted(workers_of(sidecar.pid))
            print(f"sidecar ready ({args.workers} workers); {args.clients} clients for {args.duration:.0f} s",
                  flush=True)
            recorder, samples, stop = Recorder(), [], threading.Event()
            sampler = threading.Thread(target=sample_memory, args=(sidecar.pid, args.sample_s, stop, samples),
                                       daemon=True)
            sampler.start()
            load_before = os.getloadavg()
            elapsed = run_clients(url, claims, args, recorder)
            load_after = os.getloadavg()
            stop.set()
            sampler.join(timeout=30)
            last_workers = sorted(workers_of(sidecar.pid))
    report = {"command": " ".join(sys.argv), "config": config, "clients": args.clients, "workers": args.workers,
              "threads": args.threads, "docs": args.docs, "reranker": Path(reranker).name, "mix": args.mix,
              "fresh": args.fresh, "load": summarize(recorder.rows, elapsed),
              "memory": memory_summary(samples, args.warmup_s), "worker_restarts": first_workers != last_workers,
              "machine": {"cores": os.cpu_count(), "loadavg_1m_before": round(load_before[0], 2),
                          "loadavg_1m_after": round(load_after[0], 2)},
              "samples": samples}
    if args.cache_bytes:
        report["cache_entry_bytes"] = cache_entry_bytes(args.window)
    printable = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(printable, indent=2))
    print_table(report["load"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.png:
        plot(samples, recorder.rows, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())

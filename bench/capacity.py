"""A capacity model for the sidecar: from measured inference speed, window, document length, cache hit rate and a
p99 target to the replicas and cores a query rate needs, and when to move inference to the `remote` backend.

    .venv/bin/python bench/capacity.py --pairs-per-s-per-core 15 --window 30 --doc-tokens 300 --hit-rate 0.5 \\
        --qps 20 --p99-ms 2500 --cores-per-replica 2
    RERANK_MODELS_DIR=../shared/models .venv/bin/python bench/capacity.py --check --json bench/out/capacity.json

The model (docs/scaling.md explains each step):
  passages per document  = ceil(doc_tokens / (max_length - query_tokens - 3))          (MaxP splits long ones)
  tokens per pair        = min(doc_tokens, max_length - query_tokens - 3) + query_tokens + 3
  CPU s per computed search = window * passages * (tokens per pair / 256) / pairs_per_s_per_core + embed_ms
  CPU s per search       = (1 - hit_rate) * CPU s per computed search + overhead_ms      (hits cost no inference)
  one search alone       = its inference spread over the replica's cores, plus embed and overhead: S
  p99 of a search        = S + the p99 wait of an M/M/1 queue, S * ln(100 * u) / (1 - u) at utilization u
                           (service nearly constant, arrivals random) => the highest u that meets the target
  searches/s per replica = cores_per_replica * utilization / CPU s per search;  replicas = ceil(qps / that)
`--check` measures 1 and 2 replicas on this machine (bench/scaleout.py's stack, 8 clients, fresh queries, page 1
only, saturated) and compares their throughput with the model's prediction at full utilization of the cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REMOTE_WHEN_UTILIZATION_BELOW = 0.3   # a replica that may run only this busy to meet p99 wastes most of its cores


@dataclass(frozen=True)
class Workload:
    pairs_per_s_per_core: float   # measured: 256-token pairs per second per model thread (one core)
    window: int
    doc_tokens: float
    hit_rate: float               # searches answered from a cache without inference (pages 2+, repeated queries)
    qps: float
    p99_ms: float
    cores_per_replica: int = 2
    max_length: int = 512
    query_tokens: int = 16
    embed_ms: float = 10.0        # the query's embedding (MiniLM-L6 on one core), cached with the window
    overhead_ms: float = 3.0      # parsing, the cluster's answer, respond: per search, cached or not
    gpu_pairs_per_s: float = 2000.0   # a remote GPU server's speed, for the comparison (not measured here)
    # measured on a running sidecar instead of derived from doc_tokens (documents vary in length: a mean length
    # hides the share of them split in two passages); see docs/scaling.md for the queries
    passages_per_doc: float | None = None
    tokens_per_pair: float | None = None


@dataclass(frozen=True)
class Plan:
    passages_per_doc: float
    tokens_per_pair: float
    cpu_ms_per_computed_search: float
    cpu_ms_per_search: float
    single_search_ms: float
    utilization_allowed: float
    searches_per_s_per_replica: float
    replicas: int | None
    cores: int | None
    inference_cores_needed: float
    move_to_remote: bool
    why: str


def plan(w: Workload) -> Plan:
    room = w.max_length - w.query_tokens - 3
    passages = w.passages_per_doc or max(1, math.ceil(w.doc_tokens / room))
    pair_tokens = w.tokens_per_pair or min(w.doc_tokens, room) + w.query_tokens + 3
    inference_ms = 1000.0 * w.window * passages * (pair_tokens / 256.0) / w.pairs_per_s_per_core
    computed_ms = inference_ms + w.embed_ms
    per_search_ms = (1.0 - w.hit_rate) * computed_ms + w.overhead_ms
    alone_ms = inference_ms / w.cores_per_replica + w.embed_ms + w.overhead_ms
    utilization = allowed_utilization(alone_ms, w.p99_ms)
    inference_cores = w.qps * (1.0 - w.hit_rate) * inference_ms / 1000.0
    gpu_cores = w.gpu_pairs_per_s / w.pairs_per_s_per_core
    if utilization <= 0.0:
        return Plan(passages, pair_tokens, computed_ms, per_search_ms, alone_ms, max(0.0, utilization), 0.0, None,
                    None, inference_cores, True,
                    f"one search alone takes {alone_ms:.0f} ms on {w.cores_per_replica} cores: no load meets a p99 of "
                    f"{w.p99_ms:.0f} ms; move inference to a remote GPU, or use a smaller window or model")
    per_replica = w.cores_per_replica * utilization / (per_search_ms / 1000.0)
    replicas = max(1, math.ceil(w.qps / per_replica))
    remote = utilization < REMOTE_WHEN_UTILIZATION_BELOW or inference_cores > gpu_cores
    if utilization < REMOTE_WHEN_UTILIZATION_BELOW:
        why = (f"to meet p99 each replica may run only {utilization:.0%} busy: most of its cores would idle; a remote "
               f"GPU shortens each search instead")
    elif inference_cores > gpu_cores:
        why = (f"inference alone needs {inference_cores:.0f} cores, more than one GPU at {w.gpu_pairs_per_s:.0f} "
               f"pairs/s replaces ({gpu_cores:.0f} cores)")
    else:
        why = f"CPU replicas fit: {replicas} x {w.cores_per_replica} cores, each at most {utilization:.0%} busy"
    return Plan(passages, pair_tokens, computed_ms, per_search_ms, alone_ms, utilization, per_replica, replicas,
                replicas * w.cores_per_replica, inference_cores, remote, why)


def p99_ms(service_ms: float, utilization: float) -> float:
    """A search's p99 on a replica `utilization` busy: its own time, plus the M/M/1 queue's p99 wait
    (P(wait > t) = u * exp(-(1 - u) * t / S), so the wait's p99 is S * ln(100 u) / (1 - u), 0 below u = 1%)."""
    wait = service_ms * math.log(100.0 * utilization) / (1.0 - utilization) if utilization > 0.01 else 0.0
    return service_ms + max(0.0, wait)


def allowed_utilization(service_ms: float, target_ms: float) -> float:
    """The highest utilization whose p99 meets `target_ms` (bisection; 0 when one search alone misses it)."""
    if service_ms >= target_ms:
        return 0.0
    low, high = 0.0, 0.999
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if p99_ms(service_ms, middle) <= target_ms else (low, middle)
    return low


def saturated_throughput(w: Workload, cores: float) -> float:
    """Searches per second with `cores` fully busy (the upper bound a closed-loop load test reaches)."""
    return cores / (plan(w).cpu_ms_per_search / 1000.0)


# ---- --check: predicted against measured, 1 and 2 replicas on this machine -------------------------------------
def check(args: argparse.Namespace) -> dict[str, Any]:
    import time

    from bench.load import WORDS, queries_and_corpus, work_folder_and_reranker
    from bench.rerank_sidecar import _cli, running
    from bench.scaleout import INDEX, metrics_of, page_sessions, replicas
    from searchcore.local_server import free_port, ok, wait_until_ready

    work, reranker = work_folder_and_reranker(args.work, args.reranker, "rerank-capacity-")
    claims, corpus = queries_and_corpus(work, args.docs)
    rng = random.Random(18)
    cores = os.cpu_count() or 1
    port = free_port()
    engine_url = f"http://127.0.0.1:{port}"
    runs: dict[str, Any] = {}
    with running(_cli("localsearch", "--data", str(work / "localsearch"), "--port", str(port),
                      log=work / "localsearch.log")) as engine:
        wait_until_ready(engine_url + "/", engine, timeout=600, ready=ok)
        if _cli("ingest", str(corpus), "--index", INDEX, "--opensearch", engine_url, "--format", "beir",
                "--progress-interval", "0", log=work / "ingest.log").wait() != 0:
            raise SystemExit(f"ingest failed: see {work / 'ingest.log'}")
        for count in (1, 2):
            config = {"defaults": {"window": args.window, "budget_ms": 120000}, "score_cache_entries": 0}
            with ExitStack() as stack:
                balancer, urls = stack.enter_context(replicas(work / f"r{count}", engine_url, reranker, count, config,
                                                              max(1, cores // count)))
                page_sessions(balancer, [f"{rng.choice(claims)} warm{i}" for i in range(8)], 8, 1)
                speeds = [_gauge(url, "rerank_sidecar_model_pairs_per_second") for url in urls]
                before = [metrics_of(url) for url in urls]
                tokens_before = sum(_sum(url, "rerank_sidecar_batch_tokens_sum") for url in urls)
                queries = [f"{rng.choice(claims)} {rng.choice(WORDS)} {rng.randrange(10**6)}"
                           for _ in range(args.queries)]
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                rows, elapsed = page_sessions(balancer, queries, 8, 1)
                after = [metrics_of(url) for url in urls]
                pairs = sum(a["pairs"] - b["pairs"] for a, b in zip(after, before, strict=True))
                tokens = sum(_sum(url, "rerank_sidecar_batch_tokens_sum") for url in urls) - tokens_before
                runs[f"{count} replica{'s' if count > 1 else ''}"] = {
                    "measured_searches_per_s": round(len(rows) / elapsed, 2), "elapsed_s": round(elapsed, 1),
                    "warm_up_pairs_per_s": speeds, "model_threads_per_replica": max(1, cores // count),
                    "pairs_per_search": round(pairs / len(rows), 1),
                    "padded_tokens_per_pair": round(tokens / pairs, 1) if pairs else None,
                    "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    "wall_s": round(time.perf_counter() - started, 1)}
    report = {"command": " ".join(["capacity.py", *sys.argv[1:]]), "cores": cores, "window": args.window,
              "reranker": Path(reranker).name, "runs": runs}
    return predict_runs(report)


def predict_runs(report: dict[str, Any]) -> dict[str, Any]:
    """The model's prediction for each measured run, from inputs measured in the 1-replica run: the speed per core
    its warm-up measured, and the passages per document and padded tokens per pair its searches scored (every
    query fresh: no cache hits)."""
    first = report["runs"]["1 replica"]
    workload = Workload(first["warm_up_pairs_per_s"][0] / first["model_threads_per_replica"], report["window"],
                        doc_tokens=0.0, hit_rate=0.0, qps=1.0, p99_ms=1e9, cores_per_replica=report["cores"],
                        passages_per_doc=first["pairs_per_search"] / report["window"],
                        tokens_per_pair=first["padded_tokens_per_pair"])
    report["inputs"] = asdict(workload)
    for run in report["runs"].values():
        predicted = saturated_throughput(workload, report["cores"])
        run["predicted_searches_per_s"] = round(predicted, 3)
        run["measured_over_predicted"] = round(run["measured_searches_per_s"] / predicted, 3)
    return report


def _sum(url: str, name: str) -> float:
    import requests
    from prometheus_client.parser import text_string_to_metric_families
    text = requests.get(f"{url}/metrics", timeout=30).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def _gauge(url: str, name: str) -> float:
    return _sum(url, name)   # one model per sidecar here: the sum is its value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs-per-s-per-core", type=float, default=15.0,
                        help="measured: rerank_sidecar_model_pairs_per_second / model threads per worker")
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--doc-tokens", type=float, default=300.0, help="mean tokens per document's text fields")
    parser.add_argument("--passages-per-doc", type=float, default=None, help="measured (instead of from doc tokens)")
    parser.add_argument("--tokens-per-pair", type=float, default=None, help="measured padded tokens per pair")
    parser.add_argument("--hit-rate", type=float, default=0.0, help="searches answered from a cache (0..1)")
    parser.add_argument("--qps", type=float, default=10.0)
    parser.add_argument("--p99-ms", type=float, default=2500.0)
    parser.add_argument("--cores-per-replica", type=int, default=2)
    parser.add_argument("--embed-ms", type=float, default=10.0)
    parser.add_argument("--overhead-ms", type=float, default=3.0)
    parser.add_argument("--gpu-pairs-per-s", type=float, default=2000.0)
    parser.add_argument("--check", action="store_true", help="measure 1 vs 2 replicas here against the prediction")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--reranker", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--from-report", default=None, help="predict again for an earlier --check report's runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_report:
        report = predict_runs(json.loads(Path(args.from_report).read_text()))
    elif args.check:
        report = check(args)
    else:
        workload = Workload(args.pairs_per_s_per_core, args.window, args.doc_tokens, args.hit_rate, args.qps,
                            args.p99_ms, args.cores_per_replica, embed_ms=args.embed_ms, overhead_ms=args.overhead_ms,
                            gpu_pairs_per_s=args.gpu_pairs_per_s, passages_per_doc=args.passages_per_doc,
                            tokens_per_pair=args.tokens_per_pair)
        report = {"inputs": asdict(workload), "plan": asdict(plan(workload))}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

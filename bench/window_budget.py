"""Choosing window and budget: window vs p50 rerank latency vs nDCG@10 on TREC DL 2019, reranked as `serve` does.

For each of DL19's 43 judged queries, the first W candidates of the given BM25 top-100 are reranked through the
sidecar's own model service (`ModelService`: the `auto` backend, the batcher with one single-threaded model
thread per core, score cache off) and the rest keep BM25's order below them; nDCG@10 on the qrels (relevance
level 2). Windows rotate from query to query, so a machine that gets busier during the run slows all alike.
Latency is the rerank stage alone (what `budget_ms` bounds), one query at a time. The window `serve` would choose
by default here (warm-up's measured speed, budget_ms 2000) is marked. Prints a markdown table, writes
`window_budget.json` and `window_budget.png` under --out.

    RERANK_MODELS_DIR=../shared/models .venv/bin/python bench/window_budget.py        # about 6 min on 2 cores
    .venv/bin/python bench/window_budget.py --windows 10,30 --max-queries 10 --reranker /path/to/ce
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ingest.corpora import data_root  # noqa: E402
from relevance.datasets import load_dataset  # noqa: E402
from relevance.evaluate import choose_queries  # noqa: E402
from relevance.measures import means, per_query  # noqa: E402

BUDGET_MS = 2000.0   # the default budget_ms


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", default="minilm-l6-distilled-ce",
                        help="a cross-encoder folder, or its name under RERANK_MODELS_DIR (default minilm-l6-distilled-ce)")
    parser.add_argument("--windows", default="5,10,15,20,30,50,100", help="windows to measure (at most 100)")
    parser.add_argument("--max-queries", type=int, default=None, help="a seeded sample of the 43 judged queries")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="the budget the auto window is sized to")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "window-budget"))
    parser.add_argument("--replot", metavar="JSON", help="print the table and draw the chart of an earlier run's "
                        "window_budget.json (no measuring)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.replot:
        report = json.loads(Path(args.replot).read_text())
        chart(report, Path(args.replot).with_suffix(".png"))
        print(table(report))
        return 0
    root = data_root()
    if root is None:
        print("needs ../shared/data (or RERANK_DATA_ROOT)", file=sys.stderr)
        return 2
    folder = root / "trec-dl-2019-2020-passage"
    models_dir = os.environ.get("RERANK_MODELS_DIR", str(REPO.parent / "shared" / "models"))
    model = args.reranker if Path(args.reranker).exists() else str(Path(models_dir) / args.reranker)
    windows = sorted({int(w) for w in args.windows.split(",")})
    dataset = load_dataset(folder / "bm25.dl19.top100.json", qrels=folder / "qrels.dl19-passage.txt")
    query_ids = choose_queries(dataset, args.max_queries, 0)

    models, sizing = model_service(model, args.budget_ms)
    speed = sizing.speeds[model]
    auto = sizing.window(models.settings.defaults)
    print(f"warm-up: {speed.pairs_per_s:.1f} pairs/s at {speed.pair_tokens} tokens a pair ({speed.threads} model "
          f"threads): default window {auto} for budget_ms {args.budget_ms:g}", flush=True)
    runs, latencies = measure(models, model, dataset, query_ids, windows)
    rows = [row(w, runs[w], latencies[w], dataset, query_ids, args.budget_ms, auto) for w in windows]
    given = {q: {c.doc_id: c.score for c in dataset.candidates[q]} for q in query_ids}
    bm25 = means(per_query(given, dataset.qrels, query_ids, 2))["ndcg@10"]
    report = {"reranker": model, "queries": len(query_ids), "budget_ms": args.budget_ms, "bm25_ndcg@10": bm25,
              "speed": speed.as_dict(), "auto_window": auto, "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "rows": rows, "date": time.strftime("%Y-%m-%d")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "window_budget.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(report, out / "window_budget.png")
    print(table(report))
    print(f"\nwrote {out / 'window_budget.json'} and {out / 'window_budget.png'}")
    return 0


def model_service(model: str, budget_ms: float):
    """The model service `serve` builds in a worker: warm-up loads, runs and measures the cross-encoder."""
    from sidecar.metrics import get_metrics
    from sidecar.rerank.service import ModelService
    from sidecar.settings import Profile, Settings
    settings = Settings(defaults=Profile(reranker=model, budget_ms=budget_ms), score_cache_entries=0,
                        inference_threads=os.cpu_count() or 1)
    models = ModelService(settings, get_metrics())
    models.warm_up([model], [])
    if model not in models.sizing.speeds:
        raise SystemExit(f"the cross-encoder did not load or was not measured: {models.errors or models.sizing.unmeasured}")
    return models, models.sizing


def ordered(candidates):
    """The run's ranking: by score, ties by document id descending (trec_eval's order)."""
    return sorted(sorted(candidates, key=lambda c: c.doc_id, reverse=True), key=lambda c: -c.score)


def measure(models, model: str, dataset, query_ids: list[str], windows: list[int]):
    from sidecar.respond import ScoreMode, rank
    from sidecar.retrieve import Candidate
    runs: dict[int, dict[str, dict[str, float]]] = {w: {} for w in windows}
    latencies: dict[int, list[float]] = {w: [] for w in windows}
    for number, qid in enumerate(query_ids):
        candidates = ordered(dataset.candidates[qid])
        stage1 = [Candidate({"_id": c.doc_id}, c.score, position) for position, c in enumerate(candidates, start=1)]
        for window in windows[number % len(windows):] + windows[:number % len(windows)]:
            head = candidates[:window]
            started = time.perf_counter()
            result = models.rerank(model, dataset.queries[qid], [c.text for c in head],
                                   [f"{qid}/{c.doc_id}" for c in head], time.monotonic() + 3600)
            latencies[window].append(time.perf_counter() - started)
            if result.status != "reranked":
                raise SystemExit(f"query {qid} window {window}: {result.status}")
            ranked = rank(stage1, list(result.logits), list(result.passage_index), ScoreMode("raw"))
            runs[window][qid] = {r.candidate.hit["_id"]: float(len(ranked) - i) for i, r in enumerate(ranked)}
        print(f"\r{number + 1}/{len(query_ids)} queries", end="", flush=True)
    print()
    return runs, latencies


def row(window: int, run, seconds: list[float], dataset, query_ids: list[str], budget_ms: float, auto: int) -> dict:
    ms = np.asarray(seconds) * 1000.0
    return {"window": window, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "within_budget": float(np.mean(ms <= budget_ms)),
            "ndcg@10": means(per_query(run, dataset.qrels, query_ids, 2))["ndcg@10"], "auto": window == auto}


def table(report: dict) -> str:
    budget = report["budget_ms"]
    lines = [f"| window | p50 rerank | p99 rerank | within {budget:g} ms | nDCG@10 |", "| --- | --- | --- | --- | --- |",
             f"| 0 (BM25 alone) | 0 ms | 0 ms | 100% | {report['bm25_ndcg@10']:.4f} |"]
    for r in report["rows"]:
        mark = " (default here)" if r["auto"] else ""
        lines.append(f"| {r['window']}{mark} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
                     f"{r['within_budget']:.0%} | {r['ndcg@10']:.4f} |")
    speed = report["speed"]
    lines.append(f"\n{report['queries']} queries; warm-up measured {speed['pairs_per_s']} pairs/s at "
                 f"{speed['pair_tokens']}-token pairs ({speed['model_threads']} model threads, {report['cpus']} CPUs, "
                 f"load average {report['load_average'][0]:.1f}); default window {report['auto_window']}")
    return "\n".join(lines)


def chart(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    windows = [r["window"] for r in rows]
    fig, quality = plt.subplots(figsize=(8, 5), dpi=120)
    quality.plot(windows, [r["ndcg@10"] for r in rows], marker="o", color="#4c72b0", label="nDCG@10")
    quality.axhline(report["bm25_ndcg@10"], linestyle=":", color="#4c72b0", label="BM25 alone")
    quality.set_xlabel("window (candidates reranked)")
    quality.set_ylabel("nDCG@10 (TREC DL 2019)", color="#4c72b0")
    latency = quality.twinx()
    latency.plot(windows, [r["p50_ms"] for r in rows], marker="s", color="#c44e52", label="p50 rerank latency")
    latency.axhline(report["budget_ms"], linestyle="--", color="#c44e52", linewidth=1, label="budget_ms")
    latency.set_ylabel("p50 rerank latency, ms", color="#c44e52")
    latency.set_ylim(bottom=0)
    quality.axvline(report["auto_window"], color="grey", linewidth=1, label=f"default here: {report['auto_window']}")
    handles = quality.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
    quality.legend(handles=handles, loc="center right", fontsize=8)
    speed = report["speed"]
    quality.set_title(f"window vs latency vs quality ({speed['pairs_per_s']} pairs/s measured, "
                      f"{report['cpus']} CPUs)")
    quality.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

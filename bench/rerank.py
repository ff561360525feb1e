"""Reranking speed: plain `CrossEncoder.predict` against each backend of ours, side by side in one run.

On TREC DL 2019's given BM25 top-100 (one request = one query's 100 candidates), with the trained
MiniLM-L6 cross-encoder: for every query, every system reranks the same 100 pairs, in an order
that rotates from query to query, so a machine that gets busier or quieter during the run slows
all systems alike. Reported: docs/s, p50/p99 latency per request, the ratio to the baseline,
ranking agreement with it (per-query Spearman, nDCG@10), and the FLOP rate as a fraction of the
machine's peak. Then 1, 4 and 8 concurrent clients through a gunicorn-served sidecar. Writes a
JSON file and a PNG chart.

    .venv/bin/python bench/rerank.py                         # everything (about 15 min on 2 cores)
    .venv/bin/python bench/rerank.py --queries 10 --no-sidecar
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rerank_flops import flops_per_pair, measured_sgemm_gflops, theoretical_peak_gflops  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "trec-dl-2019-2020-passage"
MODELS = Path(os.environ.get("RERANK_MODELS_DIR", REPO.parent / "shared" / "models"))
BASELINE = "predict"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODELS / "minilm-l6-distilled-ce"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--queries", type=int, default=43, help="DL19 judged queries to use (43: all)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="inference threads, every system")
    parser.add_argument("--concurrency", default="1,4,8", help="clients for the sidecar part")
    parser.add_argument("--sidecar-backends", default="onnx-int8,onnx")
    parser.add_argument("--sidecar-requests", type=int, default=48, help="requests per concurrency level")
    parser.add_argument("--no-sidecar", action="store_true", help="skip the concurrency part")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "rerank"))
    return parser.parse_args()


def load_queries(data: Path, limit: int) -> tuple[list, list[tuple[str, str, list[dict]]]]:
    import ir_measures

    qrels = list(ir_measures.read_trec_qrels(str(data / "qrels.dl19-passage.txt")))
    judged = {q.query_id for q in qrels}
    runs = [r for r in json.loads((data / "bm25.dl19.top100.json").read_text()) if str(r["hits"][0]["qid"]) in judged]
    return qrels, [(str(r["hits"][0]["qid"]), r["query"], r["hits"]) for r in runs[:limit]]


def build_systems(model: str, backends: list[str], threads: int) -> dict:
    """name -> callable(query, texts) -> logits; the baseline is CrossEncoder.predict with its defaults."""
    import torch
    from sentence_transformers import CrossEncoder

    from sidecar.rerank import BatchingScorer, load_scorer, rerank_documents

    baseline = CrossEncoder(model, device="cpu")

    def predict(query: str, texts: list[str]) -> np.ndarray:
        torch.set_num_threads(threads)  # the baseline gets every thread as intra-op threads
        return np.asarray(baseline.predict([(query, t) for t in texts], show_progress_bar=False))

    systems = {BASELINE: predict}
    for backend in backends:
        # as the sidecar runs it: single-threaded model calls, one model thread per core
        scorer = BatchingScorer(load_scorer(model, backend=backend, device="cpu", threads=1), workers=threads)

        def run(query: str, texts: list[str], scorer=scorer) -> np.ndarray:
            torch.set_num_threads(1)
            result = rerank_documents(scorer, query, texts, deadline=None, cache=None)
            return np.array(result.logits, dtype=np.float64)
        run("warm up", ["warm up the model before timing"] * 16)
        systems[backend] = run
    predict("warm up", ["warm up the model before timing"] * 16)
    return systems


def side_by_side(systems: dict, queries: list) -> tuple[dict, dict]:
    from tqdm import tqdm

    names = list(systems)
    seconds = {name: [] for name in names}
    scores = {name: {} for name in names}
    for n, (qid, query, hits) in enumerate(tqdm(queries, desc="side by side", unit="query")):
        texts = [h["content"] for h in hits]
        for name in names[n % len(names):] + names[:n % len(names)]:  # rotate who goes first
            started = time.perf_counter()
            logits = systems[name](query, texts)
            seconds[name].append(time.perf_counter() - started)
            scores[name][qid] = {h["docid"]: float(x) for h, x in zip(hits, logits, strict=True)}
    return seconds, scores


def summarize(seconds: dict, scores: dict, qrels: list, queries: list, model: str, threads: int) -> dict:
    import ir_measures
    from ir_measures import nDCG
    from scipy.stats import spearmanr
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(model).to_dict()
    tokenizer = AutoTokenizer.from_pretrained(model)
    flops = sum(flops_per_pair(config, len(ids)) for _qid, query, hits in queries
                for ids in tokenizer([query] * len(hits), [h["content"] for h in hits], truncation=True,
                                     max_length=512)["input_ids"])
    peak, peak_how = theoretical_peak_gflops()
    sgemm = measured_sgemm_gflops(threads)
    docs = sum(len(hits) for _qid, _query, hits in queries)
    judged = [q for q in qrels if q.query_id in scores[BASELINE]]
    base_rate = docs / sum(seconds[BASELINE])
    rows = {}
    for name, times in seconds.items():
        total = sum(times)
        rho = [spearmanr(list(scores[BASELINE][q].values()), [scores[name][q][d] for d in scores[BASELINE][q]]
                         ).statistic for q in scores[BASELINE]]
        gflops = flops / total / 1e9
        rows[name] = {"docs_per_s": docs / total, "ratio": docs / total / base_rate,
                      "p50_ms": float(np.percentile(times, 50) * 1000), "p99_ms": float(np.percentile(times, 99) * 1000),
                      "spearman_mean": float(np.mean(rho)), "spearman_min": float(np.min(rho)),
                      "ndcg@10": float(ir_measures.calc_aggregate([nDCG @ 10], judged, scores[name])[nDCG @ 10]),
                      "gflops": gflops, "peak_fraction": gflops / peak, "sgemm_fraction": gflops / sgemm}
    return {"rows": rows, "docs": docs, "queries": len(queries), "useful_gflop": flops / 1e9,
            "peak_gflops": peak, "peak": peak_how, "sgemm_gflops": sgemm}


def print_table(result: dict) -> None:
    print(f"\n{result['queries']} queries x 100 candidates; peak {result['peak_gflops']:.0f} GFLOP/s "
          f"({result['peak']}), measured sgemm {result['sgemm_gflops']:.0f} GFLOP/s")
    print(f"{'system':<10} {'docs/s':>8} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} {'rho mean':>9} {'rho min':>8} "
          f"{'nDCG@10':>8} {'GFLOP/s':>8} {'of peak':>8} {'of sgemm':>9}")
    for name, r in result["rows"].items():
        print(f"{name:<10} {r['docs_per_s']:>8.1f} {r['ratio']:>5.2f}x {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} "
              f"{r['spearman_mean']:>9.4f} {r['spearman_min']:>8.4f} {r['ndcg@10']:>8.4f} {r['gflops']:>8.1f} "
              f"{r['peak_fraction']:>7.0%} {r['sgemm_fraction']:>8.0%}")


def concurrency(args: argparse.Namespace, queries: list) -> dict:
    from rerank_sidecar import corpus_server, load_test, sidecar

    levels = [int(c) for c in args.concurrency.split(",")]
    out: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rerank-") as work, corpus_server(Path(work), queries) as engine:
        for backend in args.sidecar_backends.split(","):
            with sidecar(engine, Path(work), args.model, backend, batch_wait_ms=2.0) as url:
                load_test(url, queries, 1, 2)  # warm the path end to end
                out[backend] = []
                for clients in levels:
                    per_client = max(2, args.sidecar_requests // clients)
                    row = load_test(url, queries, clients, per_client)
                    out[backend].append(row)
                    print(f"  sidecar {backend:<9} {clients} clients: {row['docs_per_s']:6.1f} docs/s, "
                          f"p50 {row['p50_ms']:6.0f} ms, p99 {row['p99_ms']:6.0f} ms "
                          f"(p99/p50 {row['p99_over_p50']:.2f}), {row['reranked']}/{row['requests']} reranked",
                          flush=True)
    return out


def chart(result: dict, sidecar_rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if sidecar_rows else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2), squeeze=False)
    names = list(result["rows"])
    rates = [result["rows"][n]["docs_per_s"] for n in names]
    ax = axes[0][0]
    bars = ax.bar(names, rates, color=["#999999"] + ["#3b75af"] * (len(names) - 1))
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(f"{result['rows'][name]['ratio']:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom")
    ax.set_ylabel("documents reranked per second")
    ax.set_title(f"DL19 BM25 top-100, {result['queries']} queries, one client")
    if sidecar_rows:
        ax, twin = axes[0][1], axes[0][1].twinx()
        for (backend, rows), color in zip(sidecar_rows.items(), ["#3b75af", "#e1812c", "#3a923a"], strict=False):
            clients = [r["clients"] for r in rows]
            ax.plot(clients, [r["docs_per_s"] for r in rows], color=color, marker="o", lw=2,
                    label=f"{backend}: docs/s (left)")
            twin.plot(clients, [r["p50_ms"] / 1000 for r in rows], color=color, ls="--", marker="x",
                      label=f"{backend}: p50 s (right)")
            twin.plot(clients, [r["p99_ms"] / 1000 for r in rows], color=color, ls=":", marker="x",
                      label=f"{backend}: p99 s (right)")
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("documents reranked per second")
        ax.set_ylim(bottom=0)  # from zero, so a flat throughput line reads as flat
        twin.set_ylim(bottom=0)
        twin.set_ylabel("latency per 100-candidate request (s)")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=7)
        ax.set_title("through the sidecar (gunicorn, 1 worker x 8 threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    args = parse_args()
    if not Path(args.model).is_dir() or not Path(args.data).is_dir():
        print(f"needs the model {args.model} and the data {args.data}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    qrels, queries = load_queries(Path(args.data), args.queries)
    systems = build_systems(args.model, [b for b in args.backends.split(",") if b], args.threads)
    load_before = os.getloadavg()[0]
    seconds, scores = side_by_side(systems, queries)
    result = summarize(seconds, scores, qrels, queries, args.model, args.threads)
    print_table(result)
    print(f"load average (1 min) before / after the side-by-side part: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    sidecar_rows = {} if args.no_sidecar else concurrency(args, queries)
    result.update({"sidecar": sidecar_rows, "model": Path(args.model).name, "threads": args.threads,
                   "load_average": [load_before, os.getloadavg()[0]],
                   "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                   "date": time.strftime("%Y-%m-%d")})
    (out / "rerank.json").write_text(json.dumps(result, indent=1))
    chart(result, sidecar_rows, out / "rerank.png")
    print(f"\nwrote {out / 'rerank.json'} and {out / 'rerank.png'}")
    mismatches = agreement_mismatches(result["rows"])
    for line in mismatches:
        print(f"MISMATCH: {line}", file=sys.stderr)
    return 1 if mismatches else 0


def agreement_mismatches(rows: dict) -> list[str]:
    """Systems whose rankings leave the baseline's: per-query Spearman below 0.99 on average, or nDCG@10 more
    than 0.005 away (the agreement tests/sidecar/test_rerank_backends.py holds onnx-int8 to)."""
    base = rows[BASELINE]["ndcg@10"]
    return [f"{name}: Spearman mean {r['spearman_mean']:.4f} (>= 0.99), nDCG@10 {r['ndcg@10']:.4f} against "
            f"{base:.4f} (within 0.005)" for name, r in rows.items()
            if name != BASELINE and (r["spearman_mean"] < 0.99 or abs(r["ndcg@10"] - base) > 0.005)]


if __name__ == "__main__":
    sys.exit(main())

"""`rerank-sidecar eval`: compare BM25, k-NN, hybrid and hybrid + rerank on your own judgments."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from relevance.cluster_setup import add_cluster_arguments
from searchcore.fusion import NORMALIZATIONS

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Evaluate retrieval and reranking on judged queries through the sidecar's own pipeline. DATASET is a "
        "BEIR folder, a corpus file with --topics and --qrels, or a run with candidate texts (JSON: "
        "[{query, hits: [{qid, docid, content, score}]}]); omit it with --index to evaluate an existing index.")
    add = parser.add_argument
    add("dataset", nargs="?", help="BEIR folder, corpus file, or JSON run with candidate texts")
    add("--qrels", help="judgments: TREC qrels (qid 0 docid grade) or BEIR TSV")
    add("--topics", help="queries: qid<TAB>text (.gz too) or JSON Lines with _id and text")
    add("--split", default="test", help="BEIR qrels split (default test)")
    add("--reranker", action="append", default=None, metavar="NAME_OR_PATH",
        help="cross-encoder to compare; repeat for several (default: the configured reranker)")
    add("--windows", help="rerank window sizes, comma separated (default 10,20,50,100,200; a given run: "
        "the whole list)")
    add("--fusions", default=",".join(NORMALIZATIONS), help="hybrid fusion methods to compare (default "
        f"{','.join(NORMALIZATIONS)})")
    add("--rerank-fusion", default="min_max", help="fusion of the first stage under the reranker (default "
        "min_max)")
    add("--baseline", help="system the others are tested against (default bm25, or given)")
    add("--out", help="output folder (default eval-results/<dataset>)")
    add("--max-queries", type=int, help="evaluate a seeded sample of this many judged queries")
    add("--seed", type=int, default=0, help="seed of the sample and of the randomization test (default 0)")
    add("--relevance-level", type=int, default=1,
        help="lowest grade binary measures count as relevant (trec_eval -l; default 1, TREC DL uses 2)")
    add("--backend", default=None, help="rerank backend: auto, torch, onnx, onnx-int8, remote, cohere (default: "
        f"the rerank_backend setting, {default_backend()}: onnx on a CPU, fp16 torch on a GPU)")
    add("--threads", type=int, help="torch threads for the models (default: torch's, the inference_threads setting)")
    add("--blend", metavar="ALPHAS", help="also rank each reranked system in blend score mode, "
        "α·sigmoid(logit) + (1 − α)·first-stage score, for these α (comma separated, within [0, 1]); from the "
        "same logits, so no extra inference")
    add("--calibrate", action="store_true", help="fit the sigmoid temperature and bias on the judgments")
    add("--config", help="settings file to merge the calibration into (else DIR/calibration.yaml only)")
    add_cluster_arguments(parser, index_help="evaluate this existing index (no ingest)")


def default_backend() -> str:
    """The rerank_backend setting's default (what eval uses when neither --backend nor a setting says)."""
    from sidecar.settings import Settings

    return Settings.rerank_backend


def options_from(args: argparse.Namespace) -> object:
    from relevance.cluster_setup import ClusterOptions
    from relevance.evaluate import EvalOptions
    from sidecar.settings import Settings

    settings = Settings.load(env=os.environ)
    rerankers = args.reranker or [settings.defaults.reranker]
    windows = [int(w) for w in args.windows.split(",") if w.strip()] if args.windows else None
    if windows and any(w < 1 for w in windows):
        raise ValueError("--windows must be positive integers")
    blends = [float(a) for a in args.blend.split(",") if a.strip()] if args.blend else []
    if any(not 0.0 <= a <= 1.0 for a in blends):
        raise ValueError("--blend values must be within [0, 1]")
    name = Path(args.dataset).name.split(".")[0] if args.dataset else (args.index or "index")
    return EvalOptions(
        dataset=args.dataset, qrels=args.qrels, topics=args.topics, split=args.split, rerankers=rerankers,
        windows=windows, fusions=[f.strip() for f in args.fusions.split(",") if f.strip()],
        rerank_fusion=args.rerank_fusion, baseline=args.baseline,
        out=Path(args.out or Path("eval-results") / name),
        cluster=ClusterOptions.from_args(args), relevance_level=args.relevance_level, max_queries=args.max_queries,
        seed=args.seed, backend=args.backend or settings.rerank_backend, calibrate=args.calibrate,
        config=Path(args.config) if args.config else None, threads=args.threads or settings.inference_threads,
        blends=blends)


def run(args: argparse.Namespace) -> int:
    from relevance.command import run_command
    return run_command("eval", lambda: _run(options_from(args)))


def _run(options: object) -> int:
    from relevance.charts import quality_latency_chart, stage_latency_chart
    from relevance.evaluate import evaluate
    from relevance.report import table, write_results, write_runs

    if options.threads:  # type: ignore[attr-defined]
        import torch
        torch.set_num_threads(options.threads)  # type: ignore[attr-defined]

    evaluation = evaluate(options)  # type: ignore[arg-type]
    out: Path = options.out  # type: ignore[attr-defined]
    paths = write_results(out, evaluation.results, evaluation.per_query, evaluation.query_ids)
    paths.append(write_runs(out, evaluation.runs))
    paths.append(quality_latency_chart(evaluation.results, out / "quality_latency.png"))
    paths.append(stage_latency_chart(evaluation.results, out / "stage_latency.png"))
    print(table(evaluation.results))
    calibration = evaluation.results.get("calibration")
    if calibration:
        for model, fit in calibration["fits"].items():
            held = fit["ece_after_held_out"]
            print(f"calibration of {model}: temperature {fit['temperature']:.4f}, bias {fit['bias']:+.4f} on "
                  f"{fit['pairs']} pairs ({fit['positives']} relevant); ECE {fit['ece_before']:.4f} -> "
                  f"{fit['ece_after']:.4f}" + (f" (held-out half {held:.4f})" if held is not None else ""))
        print(f"calibrated settings written to {calibration['config']}")
    print("written: " + ", ".join(str(p) for p in paths))
    return 0

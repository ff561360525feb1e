"""`rerank-sidecar train-reranker`: fine-tune a cross-encoder on your judgments or click logs."""

from __future__ import annotations

import argparse
from pathlib import Path

from relevance.cluster_setup import add_cluster_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fine-tune a cross-encoder on judged queries (a BEIR folder, or a corpus with --topics and --qrels) or "
        "on click logs (--clicks, JSON Lines of query, document or doc_id, label). Hard negatives are mined "
        "from the index with the sidecar's hybrid retrieval; a validation split is kept and measured before "
        "and after; the result is a folder CrossEncoder (and the sidecar's --reranker) loads.")
    add = parser.add_argument
    add("dataset", nargs="?", help="BEIR folder or corpus file (ingested when no --index is given)")
    add("--model", required=True, help="start from this cross-encoder or BERT-family checkpoint (name or path)")
    add("--out", required=True, help="folder to save the fine-tuned model and training.json into")
    add("--qrels", help="judgments: TREC qrels or BEIR TSV")
    add("--topics", help="queries: qid<TAB>text or JSON Lines")
    add("--clicks", help="click log: JSON Lines with query, label (0..1) and document (text) or doc_id")
    add("--relevance-level", type=int, default=1, help="lowest grade counted as a positive (default 1)")
    group = parser.add_argument_group("negatives and validation")
    group.add_argument("--negatives", type=int, default=4, help="hard negatives per query (default 4)")
    group.add_argument("--mine-depth", type=int, default=30, help="hybrid candidates mined per query (default 30)")
    group.add_argument("--skip-top", type=int, default=0,
                       help="skip this many top candidates when sampling negatives (unjudged near-duplicates "
                       "of positives sit there; default 0)")
    group.add_argument("--fusion", default="min_max", help="hybrid fusion used for mining (default min_max)")
    group.add_argument("--validation-fraction", type=float, default=0.1,
                       help="share of queries held out for validation (default 0.1)")
    group.add_argument("--max-queries", type=int, help="use only the first N judged queries (by id)")
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=float, default=1.0, help="passes over the pairs (default 1)")
    group.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    group.add_argument("--batch-size", type=int, default=16, help="pairs per step (default 16)")
    group.add_argument("--learning-rate", type=float, default=2e-5, help="peak learning rate (default 2e-5)")
    group.add_argument("--warmup-ratio", type=float, default=0.1, help="linear warm-up share (default 0.1)")
    group.add_argument("--max-length", type=int, default=256, help="tokens per pair (default 256)")
    group.add_argument("--pos-weight", type=float, help="BCE weight of positive pairs (default 1)")
    group.add_argument("--seed", type=int, default=42, help="seed of the split, sampling, head and order")
    group.add_argument("--device", help="torch device (default cuda when present, else cpu)")
    add_cluster_arguments(parser, index_help="mine negatives from this existing index (no ingest)")


def options_from(args: argparse.Namespace) -> object:
    from relevance.cluster_setup import ClusterOptions
    from relevance.training.finetune import TrainConfig
    from relevance.training.job import TrainOptions

    if not args.clicks and not args.qrels and not (args.dataset and Path(args.dataset, "corpus.jsonl").is_file()):
        raise ValueError("give judgments: --qrels with --topics (or a BEIR folder), or --clicks")
    for name in ("negatives", "mine_depth", "batch_size", "max_length"):
        if getattr(args, name) < (0 if name == "negatives" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if not 0.0 <= args.validation_fraction < 1.0:
        raise ValueError("--validation-fraction must be in [0, 1)")
    train = TrainConfig(model=args.model, out=Path(args.out), epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, warmup_ratio=args.warmup_ratio,
                        max_length=args.max_length, seed=args.seed, max_steps=args.max_steps,
                        pos_weight=args.pos_weight, device=args.device)
    return TrainOptions(
        train=train, dataset=args.dataset, qrels=args.qrels, topics=args.topics,
        clicks=Path(args.clicks) if args.clicks else None, cluster=ClusterOptions.from_args(args),
        relevance_level=args.relevance_level, negatives=args.negatives,
        mine_depth=args.mine_depth, skip_top=args.skip_top, fusion=args.fusion,
        validation_fraction=args.validation_fraction, max_queries=args.max_queries)


def run(args: argparse.Namespace) -> int:
    from relevance.command import run_command
    return run_command("train-reranker", lambda: _train(options_from(args)))


def _train(options: object) -> int:
    from relevance.training.job import train_reranker
    report = train_reranker(options)  # type: ignore[arg-type]
    print(f"trained on {report['train_pairs']} pairs ({report['train_positives']} positive) from "
          f"{report['train_queries']} queries in {report['train_seconds']:.0f} s on {report['device']}, "
          f"{report['steps']} steps, final loss {report['train_loss']:.4f}")
    if "validation_after" in report:
        for label in ("validation_retrieval", "validation_before", "validation_after"):
            values = ", ".join(f"{k} {v:.4f}" for k, v in report[label].items())
            print(f"{label.removeprefix('validation_'):>10} ({report['validation_queries']} validation queries): "
                  f"{values}")
    print(f"saved to {report['config']['out']} (load it with --reranker {report['config']['out']})")
    return 0

"""Fine-tune a cross-encoder on SciFact's train claims and test it on SciFact's test queries.

1. `rerank-sidecar train-reranker` on claims_train.csv (809 claims, cited abstracts relevant) over the
   whole corpus (ingested into localsearch), hard negatives from the sidecar's hybrid retrieval, 10% of the
   train claims held out for validation (the test queries are never seen).
2. `rerank-sidecar eval` on the held-out validation claims (recorded in the model's training.json) with a
   sweep of `score_mode: blend` α (`--blend`): the α with the best validation nDCG@10 is chosen there
   (α = 1 is the reranker alone), never on the test queries.
3. `rerank-sidecar eval` on the 300 BEIR test queries: hybrid alone (the baseline) against hybrid + the
   fine-tuned model, alone and blended with the chosen α (and, with --with-start-model, hybrid + the start
   model), same window, paired tests.

    .venv/bin/python bench/train_scifact.py                        # defaults below
    .venv/bin/python bench/train_scifact.py --model minilm-l6-distilled-ce --epochs 1 --window 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_e2e import OUT, eval_command, prepare, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6-distilled-ce", help="start model (RERANK_MODELS_DIR name or path)")
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--negatives", default="3")
    parser.add_argument("--mine-depth", default="20")
    parser.add_argument("--max-length", default="256")
    parser.add_argument("--learning-rate", default="2e-5")
    parser.add_argument("--window", default="10", help="rerank window of the test evaluation")
    parser.add_argument("--max-queries", help="test queries (default all 300)")
    parser.add_argument("--skip-training", action="store_true", help="evaluate an already trained model")
    parser.add_argument("--trained", help="the trained model's folder (default bench/out/models/scifact-MODEL)")
    parser.add_argument("--blend", default="0.2,0.4,0.5,0.6,0.8",
                        help="blend α to choose from on the validation claims (empty: no blend)")
    parser.add_argument("--with-start-model", action="store_true",
                        help="also rerank with the start model (doubles the CPU time of the test evaluation)")
    args = parser.parse_args()
    data = prepare()
    trained = Path(args.trained) if args.trained else OUT / "models" / f"scifact-{Path(args.model).name}"
    if not args.skip_training:
        code = run([sys.executable, "-m", "sidecar.cli", "train-reranker", str(data / "scifact"),
                    "--topics", str(data / "scifact-train" / "topics.tsv"),
                    "--qrels", str(data / "scifact-train" / "qrels.txt"), "--model", args.model, "--out", str(trained),
                    "--data-dir", str(OUT / "localsearch"), "--epochs", args.epochs, "--negatives", args.negatives,
                    "--mine-depth", args.mine_depth, "--max-length", args.max_length,
                    "--learning-rate", args.learning_rate])
        if code != 0:
            return code
    extra = ["--reranker", str(trained), *(["--reranker", args.model] if args.with_start_model else []),
             "--windows", args.window, "--fusions", "min_max", "--baseline", "hybrid-min_max"]
    if args.blend:
        alpha = choose_blend(trained, data, args.window, args.blend)
        if alpha is None:
            return 1
        if alpha < 1:
            extra += ["--blend", f"{alpha:g}"]
    if args.max_queries:
        extra += ["--max-queries", args.max_queries]
    return run(eval_command("scifact", extra, out_name=f"scifact-test-{trained.name}"))


def choose_blend(trained: Path, data: Path, window: str, alphas: str) -> float | None:
    """The blend α (1: the reranker alone) with the best nDCG@10 on the model's held-out validation claims."""
    held_out = set(json.loads((trained / "training.json").read_text())["validation_query_ids"])
    folder = data / "scifact-validation"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("topics.tsv", "qrels.txt"):
        lines = (data / "scifact-train" / name).read_text().splitlines()
        kept = [line for line in lines if line.split("\t" if name == "topics.tsv" else " ", 1)[0] in held_out]
        (folder / name).write_text("\n".join(kept) + "\n")
    command = eval_command("scifact", ["--topics", str(folder / "topics.tsv"), "--qrels", str(folder / "qrels.txt"),
                                       "--reranker", str(trained), "--windows", window, "--fusions", "min_max",
                                       "--baseline", "hybrid-min_max", "--blend", alphas],
                           out_name=f"scifact-validation-{trained.name}")
    if run(command) != 0:
        return None
    systems = json.loads((OUT / f"scifact-validation-{trained.name}" / "results.json").read_text())["systems"]
    rows = {row.get("blend_alpha", 1.0): row["ndcg@10"] for row in systems.values()
            if row["kind"] in ("rerank", "blend")}
    alpha = max(rows, key=lambda a: (rows[a], a))  # ties: the larger α, the reranker's own order
    print("validation nDCG@10 by blend α: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in sorted(rows.items()))
          + f"; hybrid alone {systems['hybrid-min_max']['ndcg@10']:.4f}; chosen α = {alpha:g}", flush=True)
    return alpha


if __name__ == "__main__":
    sys.exit(main())

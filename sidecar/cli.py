"""The `rerank-sidecar` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> module providing `add_arguments(parser)` and `run(args) -> int`.
# Modules are imported lazily so `rerank-sidecar localsearch` never imports torch.
SUBCOMMANDS = {
    "localsearch": ("localsearch.cli", "serve the embedded OpenSearch-compatible engine"),
    "ingest": ("ingest.cli", "embed documents and write them into an index with k-NN vectors"),
    "serve": ("sidecar.serve", "run the proxy (gunicorn) in front of a cluster or an embedded localsearch"),
    "connect": ("sidecar.connect", "make the sidecar the model of an OpenSearch search pipeline's rerank processor"),
    "demo": ("sidecar.demo", "ingest a sample corpus into localsearch and compare rankings"),
    "eval": ("relevance.eval_cli", "compare BM25, k-NN, hybrid and reranking on your judgments (quality, latency)"),
    "train-reranker": ("relevance.train_cli", "fine-tune a cross-encoder on your judgments or click logs"),
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object | None]:
    parser = argparse.ArgumentParser(prog="rerank-sidecar", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    module = None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

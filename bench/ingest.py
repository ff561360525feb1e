"""Ingest throughput end to end on SciFact vs the bi-encoder's own `encode` on the same texts.

Runs, in one process and in this order: plain `SentenceTransformer.encode` over the corpus, the
full ingest job (read → embed → `_bulk` into localsearch over HTTP, or the embedded engine),
then `encode` again; the ratio is ingest throughput over the mean of the two encode runs, so a
machine that gets busier or quieter during the run does not bias it. Target: at least 90%.

    .venv/bin/python bench/ingest.py                 # full SciFact (5,183 docs), localsearch HTTP
    .venv/bin/python bench/ingest.py --limit 1000 --embedded
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ingest.corpora import scifact_documents, scifact_folder, write_beir_corpus  # noqa: E402
from ingest.documents import FieldMapping, embed_text  # noqa: E402
from ingest.embed import SentenceEmbedder  # noqa: E402
from ingest.read_embed_write import FlowSettings  # noqa: E402
from ingest.run import IngestJob, run_job  # noqa: E402
from ingest.sources import open_source  # noqa: E402
from localsearch.process import start_localsearch_process  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N SciFact documents")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--device", default=None)
    parser.add_argument("--encode-batch-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=512, help="records per embed call")
    parser.add_argument("--bulk-size", type=int, default=500)
    parser.add_argument("--opensearch", default=None, help="use this cluster instead of "
                        "starting a localsearch server")
    parser.add_argument("--embedded", action="store_true", help="in-process localsearch "
                        "instead of a server over HTTP")
    parser.add_argument("--json", default=None, help="write the results here as JSON")
    return parser.parse_args()


def encode_throughput(embedder: SentenceEmbedder, texts: list[str], label: str) -> float:
    print(f"[{label}] encode {len(texts)} texts", file=sys.stderr, flush=True)
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=True)
    return len(texts) / (time.perf_counter() - started)


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if scifact_folder() is None:
        print("SciFact not found: set RERANK_DATA_ROOT or add ../shared/data/beir-scifact",
              file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    corpus = write_beir_corpus(scifact_documents(), work / "scifact", limit=args.limit)
    source = open_source(corpus)
    mapping = FieldMapping(id_field="_id", text_fields=("title", "text"))
    texts = [embed_text(r.fields, mapping.text_fields) for r in source.records()]
    embedder = SentenceEmbedder.load(args.model, device=args.device,
                                     batch_size=args.encode_batch_size)
    embedder.embed(texts[:8])  # warm up kernels outside every measurement

    server, client, target = None, None, ""
    if args.opensearch:
        from opensearchpy import OpenSearch

        client, target = OpenSearch(args.opensearch, timeout=120), args.opensearch
    elif args.embedded:
        from localsearch.connection import local_client

        client, target = local_client(work / "data"), "embedded localsearch (in-process)"
    else:
        from opensearchpy import OpenSearch

        server, url = start_localsearch_process(work / "data")
        client, target = OpenSearch(url, timeout=120), f"localsearch over HTTP ({url})"
    try:
        encode_before = encode_throughput(embedder, texts, "1/3")
        print("[2/3] ingest", file=sys.stderr, flush=True)
        job = IngestJob(index="bench-scifact", model=args.model, mapping=mapping,
                        flow=FlowSettings(batch_size=args.batch_size, bulk_docs=args.bulk_size),
                        checkpoint_path=work / "state" / "cp.json",
                        dead_letter_path=work / "state" / "dl.jsonl", pipeline=None)
        summary = run_job(job, source, client, embedder)
        encode_after = encode_throughput(embedder, texts, "3/3")
        count = client.count(index="bench-scifact")["count"]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    encode_mean = (encode_before + encode_after) / 2
    ratio = summary.throughput_docs_s / encode_mean
    import torch

    results = {
        "documents": len(texts), "written": summary.written, "count_in_index": count,
        "failed": summary.failed, "encode_docs_s": [round(encode_before, 2),
                                                    round(encode_after, 2)],
        "ingest_docs_s": round(summary.throughput_docs_s, 2),
        "ingest_elapsed_s": round(summary.elapsed_s, 1), "ratio": round(ratio, 4),
        "target": target, "model": args.model, "device": embedder.device,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "batch_size": args.batch_size, "encode_batch_size": args.encode_batch_size,
        "bulk_size": args.bulk_size,
    }
    print(f"\nSciFact {len(texts)} docs, {args.model} on {embedder.device}, into {target}")
    print(f"  encode alone      {encode_before:8.1f} / {encode_after:.1f} docs/s (before/after)")
    print(f"  ingest end to end {summary.throughput_docs_s:8.1f} docs/s "
          f"({summary.written} written in {summary.elapsed_s:.1f}s, {count} in the index)")
    print(f"  ratio             {ratio:8.1%}  (target >= 90%: "
          f"{'met' if ratio >= 0.9 else 'NOT met'})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if summary.written == len(texts) == count else 1


if __name__ == "__main__":
    sys.exit(main())

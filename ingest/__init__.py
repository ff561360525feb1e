"""The ingest job: embed documents with a bi-encoder and write them, with their vectors, into k-NN fields.

Public API (imported on first use, so `import ingest` loads no model library):
- `IngestJob`, `run_job`, `Summary`: one job end to end (`ingest.run`)
- `open_source`: records from files, folders, JSONL/CSV/Parquet, or an existing index (`ingest.sources`)
- `SentenceEmbedder`: the bi-encoder behind the job (`ingest.embed`)
- `prepare_index`: create the index with the k-NN mapping and contract, or check it (`ingest.index`)

The command line is `ingest.cli` (`rerank-sidecar ingest`).
"""

from __future__ import annotations

from searchcore.lazy_api import lazy_attributes

_PUBLIC = {"IngestJob": "ingest.run", "run_job": "ingest.run", "Summary": "ingest.run",
           "open_source": "ingest.sources", "SentenceEmbedder": "ingest.embed", "prepare_index": "ingest.index"}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_attributes(__name__, _PUBLIC)

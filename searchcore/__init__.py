"""What the OpenSearch protocol and the product share: every other package stands on this one.

- `errors`: OpenSearch's error types and the bodies they answer with
- `source_filter`: `_source` includes/excludes as the cluster applies them
- `bodies`: JSON and NDJSON request bodies
- `fusion`: hybrid score normalization and combination, and the search-pipeline body that asks the cluster for it
- `cluster`: what kind of cluster answers, and which plugins it has
- `contract`: the index contract between ingest and the sidecar (`_meta` and the k-NN mapping)
- `models`: resolving and loading a sentence-transformers model offline
- `local_server`: a free loopback port, and waiting until a started server answers
- `lazy_api`: a package's public names, imported on first use

It imports nothing from sidecar/, localsearch/, ingest/ or relevance/ (tests/architecture/test_import_rules.py checks).
"""

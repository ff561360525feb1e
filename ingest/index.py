"""Target index set-up: create it with the k-NN mapping and `_meta` contract, or check it matches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opensearchpy.exceptions import RequestError

from sidecar.contract import (
    ContractError,
    HnswSettings,
    IndexContract,
    index_body,
    vector_field_dimension,
)

log = logging.getLogger(__name__)

DEFAULT_PIPELINE = "rerank-sidecar-hybrid"
NEURAL_SEARCH_PLUGIN = "opensearch-neural-search"


def hybrid_pipeline_body() -> dict[str, Any]:
    """The search pipeline the sidecar's server-side hybrid mode uses (min_max, arithmetic mean)."""
    return {
        "description": "rerank-sidecar hybrid retrieval: min_max normalization, arithmetic mean",
        "phase_results_processors": [{
            "normalization-processor": {
                "normalization": {"technique": "min_max"},
                "combination": {"technique": "arithmetic_mean"},
            }
        }],
    }


def prepare_index(client: Any, index: str, contract: IndexContract,
                  hnsw: HnswSettings | None = None, *, dry_run: bool = False,
                  extra_properties: Mapping[str, Any] | None = None) -> str:
    """Make `index` ready to take documents embedded per `contract`.

    Returns what was done: "created", "would create", "exists" or "adopted" (an index with a
    matching k-NN field but no contract, which gets the contract added to its `_meta`).
    Raises ContractError when the index was embedded differently or cannot hold vectors.
    """
    if not client.indices.exists(index=index):
        if dry_run:
            return "would create"
        body = index_body(contract, hnsw, extra_properties=extra_properties)
        try:
            client.indices.create(index=index, body=body)
        except RequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
            return prepare_index(client, index, contract, hnsw, dry_run=dry_run)
        log.info("created index %s (%s, dimension %d)", index, contract.vector_field,
                 contract.dimension)
        return "created"
    mapping = client.indices.get_mapping(index=index)
    existing = IndexContract.from_mapping(mapping)
    if existing is not None:
        contract.check_compatible(existing, index=index)
        if tuple(existing.text_fields) != tuple(contract.text_fields):
            log.warning("index %s was embedded from text fields %s; this run embeds %s",
                        index, list(existing.text_fields), list(contract.text_fields))
        return "exists"
    dimension = vector_field_dimension(mapping, contract.vector_field)
    if dimension is None:
        if not _knn_enabled(client, index):
            raise ContractError(
                f"index [{index}] exists but is not k-NN enabled, and OpenSearch cannot turn on "
                f"index.knn on an existing index; vectorize it into a new index with "
                f"--from-index {index} --index NEW_NAME")
        if dry_run:
            return "would adopt"
        _put_mapping(client, index, contract, hnsw)
        return "adopted"
    if dimension != contract.dimension:
        raise ContractError(
            f"index [{index}] has a [{contract.vector_field}] field of dimension {dimension} "
            f"but model [{contract.model}] gives dimension {contract.dimension}")
    if not dry_run:
        # put-mapping replaces `_meta` as a whole: keep what others recorded there
        metas = [(body.get("mappings") or {}).get("_meta") or {} for body in mapping.values()]
        meta = {**(metas[0] if metas else {}), **contract.to_meta()}
        client.indices.put_mapping(index=index, body={"_meta": meta})
        log.info("index %s had no rerank-sidecar contract; recorded %s", index,
                 contract.describe())
    return "would adopt" if dry_run else "adopted"


def _put_mapping(client: Any, index: str, contract: IndexContract,
                 hnsw: HnswSettings | None) -> None:
    body = index_body(contract, hnsw)["mappings"]
    client.indices.put_mapping(index=index, body=body)
    log.info("added the k-NN field %s to index %s", contract.vector_field, index)


def _knn_enabled(client: Any, index: str) -> bool:
    settings = client.indices.get_settings(index=index)
    for value in settings.values():
        index_settings = (value.get("settings") or {}).get("index") or {}
        knn = index_settings.get("knn")
        if str(knn).lower() == "true":
            return True
    return False


def cluster_plugins(client: Any) -> set[str]:
    """The plugin components the cluster reports through `GET /_cat/plugins`."""
    try:
        rows = client.cat.plugins(format="json")
    except Exception as exc:  # an old or partial implementation: assume no plugins
        log.info("cannot list the cluster's plugins (%s); assuming none", exc)
        return set()
    if isinstance(rows, str):
        return {part for line in rows.splitlines() for part in line.split()[1:2]}
    return {row.get("component", "") for row in rows if isinstance(row, Mapping)}


def ensure_pipeline(client: Any, name: str = DEFAULT_PIPELINE, *, dry_run: bool = False) -> str:
    """Create the hybrid search pipeline if missing; says "created", "exists" or why not."""
    if NEURAL_SEARCH_PLUGIN not in cluster_plugins(client):
        return "skipped: the cluster has no neural-search plugin"
    # ignore=404 keeps the client from logging the expected "missing" answer as a warning
    if name in (client.search_pipeline.get(id=name, ignore=404) or {}):
        return "exists"
    if dry_run:
        return "would create"
    client.search_pipeline.put(id=name, body=hybrid_pipeline_body())
    log.info("created search pipeline %s", name)
    return "created"

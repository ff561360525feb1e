"""Target index set-up: create it with the vector mapping and `_meta` contract, or check it matches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ingest.clients import BAD_REQUEST, body_of, is_elasticsearch
from searchcore.cluster import NEURAL_SEARCH_PLUGIN, plugin_components
from searchcore.contract import (
    DEFAULT_ENGINE,
    ContractError,
    HnswSettings,
    IndexContract,
    index_body,
    vector_field_space_type,
    vector_field_spec,
    vector_spec_dimension,
)
from searchcore.fusion import FusionConfig, pipeline_body, pipeline_name

log = logging.getLogger(__name__)

# The search pipeline the sidecar's server-side hybrid mode looks up for the default fusion (min_max,
# arithmetic mean): created here, the sidecar finds it and needs no rights to create it itself.
DEFAULT_FUSION = FusionConfig()
DEFAULT_PIPELINE = pipeline_name(DEFAULT_FUSION)


class MappingRefused(Exception):
    """The cluster refused the index or k-NN field ingest asked for; the message is one line."""


def prepare_index(client: Any, index: str, contract: IndexContract,
                  hnsw: HnswSettings | None = None, *, dry_run: bool = False,
                  extra_properties: Mapping[str, Any] | None = None) -> str:
    """Make `index` ready to take documents embedded per `contract`.

    Returns what was done: "created", "would create", "exists" or "adopted" (an index with a
    matching k-NN field, or k-NN enabled without the field, but no contract: the contract is
    added to its `_meta`). Raises ContractError when the index was embedded differently or
    cannot hold vectors, MappingRefused when the cluster refuses the mapping.
    """
    hnsw = hnsw or HnswSettings()
    elastic = is_elasticsearch(client)
    if elastic and hnsw.engine != DEFAULT_ENGINE:
        raise ContractError(f"--engine {hnsw.engine} is an OpenSearch k-NN engine; Elasticsearch indexes "
                            "dense_vector fields with Lucene's HNSW (leave --engine out)")
    if not client.indices.exists(index=index):
        if dry_run:
            return "would create"
        return _create(client, index, contract, hnsw, extra_properties)
    mapping = body_of(client.indices.get_mapping(index=index))
    existing = IndexContract.from_mapping(mapping)
    if existing is not None:
        contract.check_compatible(existing, index=index)
        if tuple(existing.text_fields) != tuple(contract.text_fields):
            log.warning("index %s was embedded from text fields %s; this run embeds %s",
                        index, list(existing.text_fields), list(contract.text_fields))
        return "exists"
    spec = vector_field_spec(mapping, contract.vector_field)
    if spec is None:
        other = _properties(mapping).get(contract.vector_field)
        if other is not None:
            raise ContractError(
                f"index [{index}] has a field [{contract.vector_field}] of type "
                f"[{other.get('type', 'object')}], not {_vector_type(client)}; choose another "
                "--vector-field")
        # Elasticsearch has no index.knn: a dense_vector field can join any index.
        if not elastic and not _knn_enabled(client, index):
            raise ContractError(
                f"index [{index}] exists but is not k-NN enabled, and OpenSearch cannot turn on "
                f"index.knn on an existing index; vectorize it into a new index with "
                f"--from-index {index} --index NEW_NAME")
        if not dry_run:
            _add_vector_field(client, index, contract, hnsw, mapping)
        return "would adopt" if dry_run else "adopted"
    _check_adoptable(index, spec, contract)
    if not dry_run:
        _record_contract(client, index, contract, mapping)
    return "would adopt" if dry_run else "adopted"


def _create(client: Any, index: str, contract: IndexContract, hnsw: HnswSettings,
            extra_properties: Mapping[str, Any] | None) -> str:
    body = index_body(contract, hnsw, extra_properties=extra_properties,
                      elasticsearch=is_elasticsearch(client))
    try:
        client.indices.create(index=index, body=body)
    except BAD_REQUEST as exc:
        if exc.error == "resource_already_exists_exception":  # another run created it first
            return prepare_index(client, index, contract, hnsw, extra_properties=extra_properties)
        raise _refused("create", index, contract, hnsw, exc, client) from exc
    log.info("created index %s (%s field %s, dimension %d, %s)", index, _vector_type(client),
             contract.vector_field, contract.dimension,
             "HNSW" if is_elasticsearch(client) else f"engine {hnsw.engine}")
    return "created"


def _check_adoptable(index: str, spec: Mapping[str, Any], contract: IndexContract) -> None:
    """An existing vector field can take this run's vectors only with the same dimension and space, and only
    when it is searchable by kNN."""
    dimension = vector_spec_dimension(spec)
    if dimension is not None and dimension != contract.dimension:  # None: the first document sets it
        raise ContractError(
            f"index [{index}] has a [{contract.vector_field}] field of dimension {dimension} "
            f"but model [{contract.model}] gives dimension {contract.dimension}")
    space_type = vector_field_space_type(spec)
    if space_type != contract.space_type:
        # The contract would misstate how the field scores.
        raise ContractError(
            f"index [{index}] has a [{contract.vector_field}] field with space_type "
            f"[{space_type}] but this run uses [{contract.space_type}]; pass --space-type "
            f"{space_type} or write into a new index")
    if spec.get("index") is False:  # a dense_vector kept for scripts only: no kNN search on it
        raise ContractError(f"index [{index}] has a [{contract.vector_field}] field that is not indexed "
                            "for kNN search (index: false); write into a new index")


def _add_vector_field(client: Any, index: str, contract: IndexContract, hnsw: HnswSettings,
                      mapping: Mapping[str, Any]) -> None:
    """Add the k-NN field, the missing text fields and the contract to a k-NN enabled index."""
    wanted = index_body(contract, hnsw, elasticsearch=is_elasticsearch(client))["mappings"]
    present = _properties(mapping)
    # Re-sending an existing field with another definition is a mapping conflict: add only new ones.
    properties = {name: spec for name, spec in wanted["properties"].items()
                  if name not in present}
    body = {"_meta": _merged_meta(mapping, contract), "properties": properties}
    try:
        client.indices.put_mapping(index=index, body=body)
    except BAD_REQUEST as exc:
        raise _refused("add the vector field to", index, contract, hnsw, exc, client) from exc
    log.info("added the k-NN field %s to index %s", contract.vector_field, index)


def _record_contract(client: Any, index: str, contract: IndexContract,
                     mapping: Mapping[str, Any]) -> None:
    client.indices.put_mapping(index=index, body={"_meta": _merged_meta(mapping, contract)})
    log.info("index %s had no rerank-sidecar contract; recorded %s", index, contract.describe())


def _merged_meta(mapping: Mapping[str, Any], contract: IndexContract) -> dict[str, Any]:
    """put-mapping replaces `_meta` as a whole: keep what others recorded there."""
    metas = [(body.get("mappings") or {}).get("_meta") or {} for body in mapping.values()]
    return {**(metas[0] if metas else {}), **contract.to_meta()}


def _properties(mapping: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for body in mapping.values():
        found.update((body.get("mappings") or {}).get("properties") or {})
    return found


def _refused(action: str, index: str, contract: IndexContract, hnsw: HnswSettings,
             exc: Exception, client: Any) -> MappingRefused:
    engine = "" if is_elasticsearch(client) else f"engine [{hnsw.engine}], "
    return MappingRefused(
        f"the cluster refused to {action} index [{index}] with {_vector_type(client)} field "
        f"[{contract.vector_field}] ({engine}space_type [{contract.space_type}], "
        f"dimension {contract.dimension}): {cluster_reason(exc)}")


def _vector_type(client: Any) -> str:
    return "dense_vector" if is_elasticsearch(client) else "knn_vector"


def cluster_reason(exc: Any) -> str:
    """The most specific reason in an OpenSearch or Elasticsearch error, on one line."""
    info = exc.info if isinstance(exc.info, Mapping) else {}
    error = info.get("error")
    reason = None
    while isinstance(error, Mapping):
        reason = error.get("reason") or reason
        error = error.get("caused_by")
    return " ".join(str(reason or exc.error).split())


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
    return plugin_components(rows)


def ensure_pipeline(client: Any, name: str = DEFAULT_PIPELINE, *, dry_run: bool = False) -> str:
    """Create the sidecar's search pipeline for the default fusion if missing; says "created", "exists" or why not.

    Under another name than DEFAULT_PIPELINE the body is the same, but the sidecar does not look for it there.
    """
    if is_elasticsearch(client):
        return "skipped: Elasticsearch has no search pipelines"
    if NEURAL_SEARCH_PLUGIN not in cluster_plugins(client):
        return "skipped: the cluster has no neural-search plugin"
    if name != DEFAULT_PIPELINE:
        log.warning("search pipeline %s is not the one the sidecar looks up (%s); it serves only clients that "
                    "name it", name, DEFAULT_PIPELINE)
    # ignore=404 keeps the client from logging the expected "missing" answer as a warning
    if name in (client.search_pipeline.get(id=name, ignore=404) or {}):
        return "exists"
    if dry_run:
        return "would create"
    client.search_pipeline.put(id=name, body=pipeline_body(DEFAULT_FUSION))
    log.info("created search pipeline %s", name)
    return "created"

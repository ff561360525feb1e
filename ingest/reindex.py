"""Vectorizing an existing index: read it with a scroll, then point an alias at the new index.

Documents are copied by scrolling through the client library's `helpers.scan` and writing with `_bulk`, never with
`_reindex`: every document needs its vector computed on the way, and some clusters (Elasticsearch without the
reindex module) have no `_reindex` at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.clients import NOT_FOUND, body_of, is_elasticsearch, scan
from ingest.records import DEFAULT_MAX_DOC_BYTES, SNIPPET_CHARS, SourceRecord

log = logging.getLogger(__name__)


class AliasError(Exception):
    """The alias cannot be moved as asked."""


@dataclass
class IndexSource:
    """Every document of an index or alias, with its `_id`, in scroll order."""

    client: Any
    index: str
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    page_size: int = 500
    scroll: str = "10m"
    default_id_field: str | None = None
    default_text_fields: tuple[str, ...] | None = None

    @property
    def description(self) -> str:
        return f"index {self.index}"

    def concrete_indices(self) -> list[str]:
        return sorted(body_of(self.client.indices.get_mapping(index=self.index)))

    def fingerprint(self) -> dict[str, Any]:
        return {"format": "index", "index": self.index, "indices": self.concrete_indices()}

    def estimate_total(self) -> int | None:
        return int(self.client.count(index=self.index)["count"])

    def properties(self) -> dict[str, Any]:
        """The source's field mappings, merged over its indices, to carry into the new index."""
        merged: dict[str, Any] = {}
        for body in body_of(self.client.indices.get_mapping(index=self.index)).values():
            merged.update((body.get("mappings") or {}).get("properties") or {})
        return merged

    def analysis(self) -> dict[str, Any]:
        """The source's `index.analysis` settings (custom analyzers its fields name), merged.

        The carried field mappings may name these analyzers, and a cluster refuses a mapping
        that names an analyzer the new index lacks.
        """
        merged: dict[str, dict[str, Any]] = {}
        for body in body_of(self.client.indices.get_settings(index=self.index)).values():
            analysis = ((body.get("settings") or {}).get("index") or {}).get("analysis") or {}
            for kind, definitions in analysis.items():
                merged.setdefault(kind, {}).update(definitions or {})
        return merged

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        """Scroll order is not stable across runs, so `start` is not supported: resuming skips
        documents already in the target instead."""
        if start:
            raise ValueError("an index source cannot skip by position")
        hits = scan(self.client, index=self.index, query=self._query(), size=self.page_size,
                    scroll=self.scroll, preserve_order=False)
        for position, hit in enumerate(hits):
            record = SourceRecord(position=position, where=f"document {hit['_id']}",
                                  default_id=hit["_id"])
            fields = hit.get("_source")
            if not isinstance(fields, dict):
                record.error = "the document has no _source (disabled in the mapping?)"
            else:
                text = json.dumps(fields, ensure_ascii=False)
                if len(text.encode("utf-8")) > self.max_doc_bytes:
                    record.error = f"document is over the limit of {self.max_doc_bytes} bytes"
                    record.raw = text[:SNIPPET_CHARS]
                else:
                    record.fields = fields
            yield record

    def _query(self) -> dict[str, Any]:
        query: dict[str, Any] = {"query": {"match_all": {}}}
        if is_elasticsearch(self.client) and _has_dense_vector(self.properties()):
            # Elasticsearch 9 leaves dense_vector values out of `_source` unless asked: the source's own
            # vector fields (other models, other uses) must be copied, not dropped.
            query["_source"] = {"exclude_vectors": False}
        return query


def _has_dense_vector(properties: dict[str, Any]) -> bool:
    return any(spec.get("type") == "dense_vector" or _has_dense_vector(spec.get("properties") or {})
               for spec in properties.values() if isinstance(spec, dict))


def existing_ids(client: Any, index: str, ids: list[str]) -> set[str]:
    """Which of `ids` the index already holds (one `ids` query, no `_source`)."""
    if not ids:
        return set()
    response = client.search(index=index, body={"query": {"ids": {"values": ids}},
                                                 "_source": False, "size": len(ids)})
    return {hit["_id"] for hit in response["hits"]["hits"]}


def alias_targets(client: Any, alias: str) -> list[str]:
    """The indices `alias` points at (empty when it is no alias)."""
    try:
        return sorted(body_of(client.indices.get_alias(name=alias)))
    except NOT_FOUND:
        return []


def is_concrete_index(client: Any, name: str) -> bool:
    """True when `name` is an index itself rather than an alias."""
    return bool(client.indices.exists(index=name)) and not alias_targets(client, name)


def swap_alias(client: Any, alias: str, new_index: str, *, replace_index: bool = False) -> dict:
    """Point `alias` at `new_index` alone, in one atomic `_aliases` call.

    When `alias` is a concrete index (the usual case when an index is vectorized for the first
    time), it can only become an alias by being deleted in that same call: `replace_index`.
    """
    if alias == new_index:
        raise AliasError(f"the alias [{alias}] cannot have the name of the new index")
    if is_concrete_index(client, alias):
        if not replace_index:
            raise AliasError(
                f"[{alias}] is an index, not an alias; pass --replace-index to delete it and "
                f"create the alias [{alias}] -> [{new_index}] in one atomic step")
        actions = [{"add": {"index": new_index, "alias": alias}},
                   {"remove_index": {"index": alias}}]
    else:
        actions = [{"remove": {"index": old, "alias": alias}}
                   for old in alias_targets(client, alias) if old != new_index]
        actions.append({"add": {"index": new_index, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})
    log.info("alias %s now points at %s", alias, new_index)
    return {"alias": alias, "index": new_index, "actions": actions}

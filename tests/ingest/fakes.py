"""Test doubles for ingest: an in-memory cluster with planted failures and a tiny embedder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError
from opensearchpy.serializer import JSONSerializer


class StubEmbedder:
    """Deterministic unit vectors from a hash of the text; `fail_on` texts raise."""

    def __init__(self, dimension: int = 8, fail_on: str | None = None) -> None:
        self.dimension = dimension
        self.fail_on = fail_on
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise ValueError("planted embedding failure")
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            row = np.random.default_rng(seed).normal(size=self.dimension)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)


class _Transport:
    serializer = JSONSerializer()


class _Namespace:
    def __init__(self, **methods: Callable[..., Any]) -> None:
        self.__dict__.update(methods)


class FakeOpenSearch:
    """Enough of opensearch-py's client for ingest: indices, _bulk, search by ids, pipelines.

    `bulk_script` lists what each successive `_bulk` call does: "ok", an exception instance
    to raise, or a callable (doc_id -> status or None) that fails chosen items.
    """

    def __init__(self, *, plugins: tuple[str, ...] = ("opensearch-knn",)) -> None:
        self.transport = _Transport()
        self.indices_data: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.pipelines: dict[str, Any] = {}
        self.plugins = plugins
        self.bulk_script: list[Any] = []
        self.bulk_calls = 0
        self.indices = _Namespace(
            exists=self._exists, create=self._create, get_mapping=self._get_mapping,
            put_mapping=self._put_mapping, refresh=lambda index: {}, get_settings=self._settings,
            get_alias=self._get_alias, update_aliases=self._update_aliases)
        self.cat = _Namespace(plugins=lambda format=None: [
            {"name": "node", "component": p, "version": "2.19.0"} for p in self.plugins])
        self.search_pipeline = _Namespace(get=self._get_pipeline, put=self._put_pipeline)

    def info(self) -> dict[str, Any]:
        return {"version": {"number": "2.19.0", "distribution": "opensearch"}}

    # indices -------------------------------------------------------------------------------
    def _resolve(self, name: str) -> list[str]:
        if name in self.indices_data:
            return [name]
        return sorted(self.aliases.get(name, ()))

    def _exists(self, index: str) -> bool:
        return bool(self._resolve(index))

    def _create(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        if index in self.indices_data:
            raise RequestError(400, "resource_already_exists_exception", {})
        self.indices_data[index] = json.loads(json.dumps(body))
        self.docs[index] = {}
        return {"acknowledged": True}

    def _get_mapping(self, index: str) -> dict[str, Any]:
        names = self._resolve(index)
        if not names:
            raise NotFoundError(404, "index_not_found_exception", {})
        return {n: {"mappings": self.indices_data[n].get("mappings", {})} for n in names}

    def _put_mapping(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        for name in self._resolve(index):
            mappings = self.indices_data[name].setdefault("mappings", {})
            for key, value in body.items():
                if key == "properties":
                    mappings.setdefault("properties", {}).update(value)
                else:
                    mappings[key] = value
        return {"acknowledged": True}

    def _settings(self, index: str) -> dict[str, Any]:
        return {n: {"settings": self.indices_data[n].get("settings", {})}
                for n in self._resolve(index)}

    def _get_alias(self, name: str) -> dict[str, Any]:
        if name not in self.aliases:
            raise NotFoundError(404, "aliases_not_found_exception", {})
        return {i: {"aliases": {name: {}}} for i in self.aliases[name]}

    def _update_aliases(self, body: dict[str, Any]) -> dict[str, Any]:
        for action in body["actions"]:
            (kind, spec), = action.items()
            if kind == "add":
                self.aliases.setdefault(spec["alias"], set()).add(spec["index"])
            elif kind == "remove":
                self.aliases.get(spec["alias"], set()).discard(spec["index"])
            elif kind == "remove_index":
                self.indices_data.pop(spec["index"])
                self.docs.pop(spec["index"])
        return {"acknowledged": True}

    def _get_pipeline(self, id: str, ignore: int | None = None) -> dict[str, Any]:
        if id not in self.pipelines:
            if ignore == 404:
                return {"error": {"type": "resource_not_found_exception"}, "status": 404}
            raise NotFoundError(404, "resource_not_found_exception", {})
        return {id: self.pipelines[id]}

    def _put_pipeline(self, id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.pipelines[id] = body
        return {"acknowledged": True}

    # documents -----------------------------------------------------------------------------
    def bulk(self, body: str, **params: Any) -> dict[str, Any]:
        self.bulk_calls += 1
        step = self.bulk_script.pop(0) if self.bulk_script else "ok"
        if isinstance(step, BaseException):
            raise step
        lines = body.strip("\n").split("\n")
        items = []
        for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
            (op, meta), = json.loads(action_line).items()
            index, doc_id = meta["_index"], meta["_id"]
            status = step(doc_id) if callable(step) else None
            if status:
                error = {"type": "mapper_parsing_exception" if status < 500
                         else "unavailable_shards_exception", "reason": f"planted {status}"}
                items.append({op: {"_index": index, "_id": doc_id, "status": status,
                                   "error": error}})
                continue
            target = self._resolve(index)[0]
            self.docs[target][doc_id] = json.loads(source_line)
            items.append({op: {"_index": target, "_id": doc_id, "status": 201,
                               "result": "created"}})
        return {"took": 1, "errors": any("error" in next(iter(i.values())) for i in items),
                "items": items}

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        ids = body["query"]["ids"]["values"]
        store = {k: v for name in self._resolve(index) for k, v in self.docs[name].items()}
        return {"hits": {"hits": [{"_id": i} for i in ids if i in store]}}

    def count(self, index: str) -> dict[str, Any]:
        return {"count": sum(len(self.docs[n]) for n in self._resolve(index))}


def connection_refused() -> OSConnectionError:
    return OSConnectionError("N/A", "Connection refused", None)


def unavailable() -> TransportError:
    return TransportError(503, "unavailable", {})

"""Document endpoints: `_bulk`, and index, create, update, delete and get of one document."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from localsearch.bulk import WriteOp, parse_ndjson
from localsearch.handlers.api import Api
from searchcore.errors import SearchError
from searchcore.source_filter import filter_source, parse_source_spec


def bulk(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    payload = api.raw(request)
    if not payload:
        raise SearchError("request body is required", status=400, error_type="parse_exception")
    ops = parse_ndjson(payload, index)
    return 200, api.engine.write(ops, api.params(request).get("refresh"))


def _write_one(api: Api, request: Request, op: WriteOp) -> tuple[int, Any]:
    p = api.params(request)
    op.params.update({k: p[k] for k in ("if_seq_no", "if_primary_term") if k in p})
    result = api.engine.write([op], p.get("refresh"))
    item = next(iter(result["items"][0].values()))
    if "error" in item:
        error = item["error"]
        cause = {k: v for k, v in error.items() if k != "caused_by"}
        return item["status"], {"error": {"root_cause": [cause], **error}, "status": item["status"]}
    status = item.pop("status")
    return status, item


def index_doc(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    action = "create" if api.params(request).get("op_type") == "create" else "index"
    return _write_one(api, request, WriteOp(action, index, doc_id, _document(api, request)))


def index_auto_id(api: Api, request: Request, index: str) -> tuple[int, Any]:
    return _write_one(api, request, WriteOp("index", index, None, _document(api, request)))


def create_doc(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    return _write_one(api, request, WriteOp("create", index, doc_id, _document(api, request)))


def _document(api: Api, request: Request) -> Any:
    return api.json(request, required=True, malformed="document")


def update_doc(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    return _write_one(api, request, WriteOp("update", index, doc_id, api.json(request, required=True)))


def delete_doc(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    api.engine.concrete(index)
    return _write_one(api, request, WriteOp("delete", index, doc_id))


def get_doc(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    state, stored = api.engine.get_doc(index, doc_id)
    if stored is None:
        return 404, {"_index": state.name, "_id": doc_id, "found": False}
    p = api.params(request)
    body: dict[str, Any] = {"_index": state.name, "_id": doc_id, "_version": stored.version,
                            "_seq_no": stored.seq_no, "_primary_term": 1, "found": True}
    source = filter_source(stored.source, parse_source_spec(p.get("_source", True), p.get("_source_includes"),
                                                            p.get("_source_excludes")))
    if source is not None:
        body["_source"] = source
    return 200, body


def get_source(api: Api, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
    status, body = get_doc(api, request, index, doc_id)
    if status != 200:
        raise SearchError(f"Document not found [{index}]/[{doc_id}]", status=404,
                          error_type="resource_not_found_exception")
    return 200, body.get("_source", {})

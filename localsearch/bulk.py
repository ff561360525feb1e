"""Document writes as OpenSearch's `_bulk` does them: NDJSON parsing, per-item results and errors."""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from searchcore.errors import ActionRequestValidation, IllegalArgument, SearchError, VersionConflict

ACTIONS = ("index", "create", "update", "delete")
SHARDS_OK = {"total": 2, "successful": 1, "failed": 0}


class DocumentMissing(SearchError):
    status, error_type = 404, "document_missing_exception"


@dataclass
class WriteOp:
    """One item of a bulk request (single-document APIs become one-item bulks)."""

    action: str
    index: str | None
    id: str | None
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    error: SearchError | None = None  # a problem found while parsing this item's lines


def new_doc_id() -> str:
    """A 20-character URL-safe id, the shape of OpenSearch's auto-generated ids."""
    return secrets.token_urlsafe(15)


def parse_ndjson(payload: bytes, default_index: str | None) -> list[WriteOp]:
    """Parse a `_bulk` body. Malformed action lines fail the whole request, as in OpenSearch;
    a malformed document line fails only its item."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IllegalArgument(f"bulk body is not valid UTF-8: {exc}") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines and text:
        raise IllegalArgument("The bulk request must be terminated by a newline [\\n]")
    ops: list[WriteOp] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        action, meta = _parse_action(line, i)
        op = WriteOp(action, meta.get("_index", default_index), _id_of(meta),
                     params={k: v for k, v in meta.items() if k not in ("_index", "_id")})
        if action != "delete":
            if i >= len(lines):
                raise IllegalArgument(f"Validation Failed: 1: {action} request is missing its source;")
            source_line = lines[i]
            i += 1
            try:
                op.body = json.loads(source_line)
            except json.JSONDecodeError as exc:
                op.error = SearchError("failed to parse", status=400, error_type="mapper_parsing_exception",
                                       extra={"caused_by": {"type": "json_parse_exception", "reason": exc.msg}})
                if op.id is None and action in ("index", "create"):
                    op.id = new_doc_id()  # OpenSearch assigns the id before it reads the source
        ops.append(op)
    if not ops:
        raise ActionRequestValidation("Validation Failed: 1: no requests added;")
    return ops


def _parse_action(line: str, number: int) -> tuple[str, dict[str, Any]]:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IllegalArgument(f"Malformed action/metadata line [{number}], expected a simple value for "
                              f"field [_index] but found invalid JSON: {exc.msg}") from exc
    if not isinstance(parsed, dict):
        raise IllegalArgument(f"Malformed action/metadata line [{number}], expected START_OBJECT but "
                              f"found [{_token(parsed)}]")
    if len(parsed) != 1:
        raise IllegalArgument(f"Malformed action/metadata line [{number}], expected exactly one action")
    action, meta = next(iter(parsed.items()))
    if action not in ACTIONS:
        raise IllegalArgument(f"Malformed action/metadata line [{number}], expected one of [create, delete, "
                              f"index, update] but found [{action}]")
    if not isinstance(meta, dict):
        raise IllegalArgument(f"Malformed action/metadata line [{number}], expected START_OBJECT but "
                              f"found [{_token(meta)}]")
    for key, value in meta.items():
        if isinstance(value, (dict, list)):
            raise IllegalArgument(f"Malformed action/metadata line [{number}], expected a simple value "
                                  f"for field [{key}] but found [{_token(value)}]")
    return action, meta


def _id_of(meta: dict[str, Any]) -> str | None:
    value = meta.get("_id")
    return None if value is None else str(value)


def _token(value: Any) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, str):
        return "VALUE_STRING"
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    return "VALUE_NUMBER"


# ---- update semantics ---------------------------------------------------------------------

def merge_update(existing: dict[str, Any] | None, body: Any, doc_id: str) -> tuple[dict[str, Any], bool]:
    """The new source of an `update` action and whether it is an upsert. Raises for bad bodies."""
    if not isinstance(body, dict):
        raise ActionRequestValidation("Validation Failed: 1: script or doc is missing;")
    if "script" in body:
        raise IllegalArgument("[update] scripts are not supported by localsearch; send a partial [doc]")
    unknown = set(body) - {"doc", "doc_as_upsert", "upsert", "detect_noop", "_source", "scripted_upsert"}
    if unknown:
        raise IllegalArgument(f"[UpdateRequest] unknown field [{sorted(unknown)[0]}]")
    doc = body.get("doc")
    if doc is None:
        raise ActionRequestValidation("Validation Failed: 1: script or doc is missing;")
    if not isinstance(doc, dict):
        raise IllegalArgument("[doc] must be an object")
    if existing is None:
        if body.get("doc_as_upsert"):
            return copy.deepcopy(doc), True
        if isinstance(body.get("upsert"), dict):
            return copy.deepcopy(body["upsert"]), True
        raise DocumentMissing(f"[{doc_id}]: document missing")
    return deep_merge(existing, doc), False


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_concurrency(params: dict[str, Any], doc_id: str, current_seq_no: int | None) -> None:
    """if_seq_no / if_primary_term optimistic concurrency control."""
    if "if_seq_no" not in params and "if_primary_term" not in params:
        return
    wanted = int(params.get("if_seq_no", -2))
    term = int(params.get("if_primary_term", 1))
    if current_seq_no is None:
        raise VersionConflict(f"[{doc_id}]: version conflict, required seqNo [{wanted}], primary term "
                              f"[{term}] but no document was found")
    if wanted != current_seq_no or term != 1:
        raise VersionConflict(f"[{doc_id}]: version conflict, required seqNo [{wanted}], primary term "
                              f"[{term}]. current document has seqNo [{current_seq_no}] and primary term [1]")


def item_error(op: WriteOp, index: str | None, error: SearchError, uuid: str = "_na_") -> dict[str, Any]:
    detail = {"type": error.error_type, "reason": error.reason, "index": index, "shard": "0",
              "index_uuid": uuid, **{k: v for k, v in error.extra.items() if k == "caused_by"}}
    return {op.action: {"_index": index, "_id": op.id, "status": error.status, "error": detail}}


def item_result(op: WriteOp, index: str, doc_id: str, version: int, seq_no: int, result: str,
                status: int) -> dict[str, Any]:
    item: dict[str, Any] = {"_index": index, "_id": doc_id, "_version": version, "result": result}
    if result != "noop":
        item["_shards"] = dict(SHARDS_OK)
    item.update({"_seq_no": seq_no, "_primary_term": 1, "status": status})
    return {op.action: item}

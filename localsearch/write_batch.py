"""One bulk request's writes: staged item by item over the live state, then persisted in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localsearch.bulk import (
    WriteOp,
    check_concurrency,
    item_error,
    item_result,
    merge_update,
    new_doc_id,
)
from localsearch.index import IndexState, derived_source
from localsearch.mappings import Mapping
from localsearch.store import DocWrite
from searchcore.bodies import replace_lone_surrogates
from searchcore.errors import (
    IndexNotFound,
    SearchError,
    VersionConflict,
)

if TYPE_CHECKING:  # for annotations only: engine.py imports this module
    from localsearch.engine import Engine


class WriteBatch:
    """Stages a bulk request's items over the live state, then persists them in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.overlay: dict[tuple[str, str], Any] = {}  # (index, id) -> (source, seq_no, version) | None
        self.deleted: dict[tuple[str, str], int] = {}  # (index, id) -> version of the delete
        self.mappings: dict[str, Mapping] = {}
        self.writes: list[tuple[IndexState, DocWrite, Any]] = []
        self.touched: dict[str, IndexState] = {}

    def current(self, state: IndexState, doc_id: str) -> tuple[dict[str, Any], int, int] | None:
        key = (state.name, doc_id)
        if key in self.overlay:
            return self.overlay[key]
        stored = state.live.get(doc_id)
        return None if stored is None else (stored.source, stored.seq_no, stored.version)

    def run(self, op: WriteOp) -> dict[str, Any]:
        index_name = op.index
        uuid_ = "_na_"
        try:
            if op.error:
                raise op.error
            if not index_name:
                raise SearchError("Validation Failed: 1: index is missing;", status=400,
                                  error_type="action_request_validation_exception")
            state = self._target(index_name)
            index_name, uuid_ = state.name, state.uuid
            return self._apply(state, op)
        except SearchError as exc:
            return item_error(op, index_name, exc, uuid_)

    def _target(self, name: str) -> IndexState:
        try:
            return self.engine.concrete(name)
        except IndexNotFound:
            self.engine.validate_name(name)
            self.engine.create_index(name)  # action.auto_create_index defaults to true
            return self.engine.indices[name]

    def _apply(self, state: IndexState, op: WriteOp) -> dict[str, Any]:
        # a lone surrogate (a valid JSON escape) in an id or a document: U+FFFD, as the node's UTF-8 encoding of
        # the Java string gives (the term dictionary, the store and tantivy all need UTF-8)
        op.id, op.body = replace_lone_surrogates(op.id), replace_lone_surrogates(op.body)
        if op.action in ("index", "create") and op.id is None:
            op.id = new_doc_id()
        if op.id is None:
            raise SearchError("Validation Failed: 1: id is missing;", status=400,
                              error_type="action_request_validation_exception")
        if len(op.id.encode()) > 512:
            raise SearchError(f"Validation Failed: 1: id [{op.id[:20]}...] is too long, must be no longer than "
                              "512 bytes but was: " + str(len(op.id.encode())) + ";",
                              status=400, error_type="action_request_validation_exception")
        current = self.current(state, op.id)
        check_concurrency(op.params, op.id, current[1] if current else None)
        if op.action == "delete":
            return self._delete(state, op, current)
        source = op.body
        upserted = False
        if op.action == "update":
            source, upserted = merge_update(current[0] if current else None, op.body, op.id)
            if not upserted and source == current[0] and op.body.get("detect_noop", True):
                return item_result(op, state.name, op.id, current[2], current[1], "noop", 200)
        elif op.action == "create" and current is not None:
            raise VersionConflict(f"[{op.id}]: version conflict, document already exists (current version "
                                  f"[{current[2]}])")
        mapping = self.mappings.get(state.name, state.mapping)
        if isinstance(source, dict):
            update = mapping.dynamic_update(source, op.id)
            if update:
                mapping = mapping.merged({"properties": update})
        parsed = state.parse(op.id, source, mapping)
        if parsed.vectors and str(state.setting("knn", "false")).lower() == "true":
            source = derived_source(source, parsed.vectors)
        self.mappings[state.name] = mapping
        seq_no = state.next_seq_no
        state.next_seq_no += 1
        version = current[2] + 1 if current else self.deleted_version(state, op.id) + 1
        self.overlay[(state.name, op.id)] = (source, seq_no, version)
        self.writes.append((state, DocWrite(state.name, op.id, seq_no, version, source), parsed))
        self.touched[state.name] = state
        created = current is None
        status = 201 if created else 200
        return item_result(op, state.name, op.id, version, seq_no, "created" if created else "updated", status)

    def deleted_version(self, state: IndexState, doc_id: str) -> int:
        """The version a deleted document had: versions go on from it (OpenSearch keeps delete tombstones)."""
        return self.deleted.get((state.name, doc_id), state.tombstones.get(doc_id, 0))

    def _delete(self, state: IndexState, op: WriteOp, current: Any) -> dict[str, Any]:
        seq_no = state.next_seq_no
        state.next_seq_no += 1
        if current is None:
            version = self.deleted_version(state, op.id) + 1
            self.deleted[(state.name, op.id)] = version
            return item_result(op, state.name, op.id, version, seq_no, "not_found", 404)
        version = current[2] + 1
        self.deleted[(state.name, op.id)] = version
        self.overlay[(state.name, op.id)] = None
        self.writes.append((state, DocWrite(state.name, op.id, seq_no, version, None), None))
        self.touched[state.name] = state
        return item_result(op, state.name, op.id, version, seq_no, "deleted", 200)

    def commit(self) -> None:
        for (index, doc_id), version in self.deleted.items():
            self.engine.indices[index].tombstones[doc_id] = version
        if not self.writes:
            return
        rows = []
        for name, state in self.touched.items():
            row = state.row()
            if name in self.mappings:
                row.mappings = self.mappings[name].to_json()
            rows.append(row)
        self.engine.store.write_docs([w for _, w, _ in self.writes], rows)
        for name, mapping in self.mappings.items():
            state = self.engine.indices[name]
            if mapping.to_json() != state.mapping.to_json():
                state.set_mapping(mapping)
        for state, write, parsed in self.writes:
            if write.source is None:
                state.apply_delete(write.id)
            else:
                state.apply_write(write.id, write.source, write.seq_no, write.version, parsed)

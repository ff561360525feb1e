"""The engine facade: indices, aliases and pipelines of one data directory, and every write path."""

from __future__ import annotations

import fnmatch
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localsearch.bulk import (
    WriteOp,
    check_concurrency,
    item_error,
    item_result,
    merge_update,
    new_doc_id,
)
from localsearch.failures import Unsupported, WrappedError, unsupported
from localsearch.index import IndexState, derived_source, parse_interval
from localsearch.mapping_rules import JavaError, validate_mapping
from localsearch.mappings import Mapping
from localsearch.pipelines import SearchPipeline
from localsearch.store import DocWrite, Store
from searchcore.errors import (
    IllegalArgument,
    IndexNotFound,
    ResourceAlreadyExists,
    ResourceNotFound,
    SearchError,
    VersionConflict,
)

_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')
DYNAMIC_SETTINGS = {"refresh_interval", "number_of_replicas", "search.default_pipeline", "max_result_window",
                    "knn.algo_param.ef_search", "default_pipeline", "mapping.total_fields.limit"}
STATIC_SETTINGS = {"knn", "number_of_shards", "codec", "uuid", "creation_date", "provided_name", "version.created"}


class InvalidIndexName(SearchError):
    status, error_type = 400, "invalid_index_name_exception"


class AliasesNotFound(SearchError):
    status, error_type = 404, "aliases_not_found_exception"


@dataclass(frozen=True)
class EngineConfig:
    hnsw_threshold: int = 10_000
    refresh_tick: float = 0.1


class Engine:
    def __init__(self, data_dir: str | Path, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir)
        self.write_lock = threading.RLock()
        self.indices: dict[str, IndexState] = {}
        self.aliases: dict[str, dict[str, dict[str, Any]]] = {}  # alias -> index -> alias body
        self.pipelines: dict[str, SearchPipeline] = {}
        self.started = time.time()
        self.cluster_uuid = uuid.uuid5(uuid.NAMESPACE_URL, str(self.data_dir.resolve())).hex[:22]
        self._load()
        self._closed = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_loop, name="localsearch-refresh", daemon=True)
        self._refresher.start()
        from localsearch.scroll import (
            ScrollContexts,  # local: scroll imports search, which imports engine types
        )
        self.scrolls = ScrollContexts()

    # ---- life cycle --------------------------------------------------------------------------
    def _load(self) -> None:
        for row in self.store.indices():
            state = IndexState.from_row(row, self.config.hnsw_threshold)
            for doc_id, seq_no, version, source in self.store.docs(row.name):
                state.apply_write(doc_id, source, seq_no, version, state.parse(doc_id, source))
            state.refresh()
            self.indices[row.name] = state
        for alias, index, body in self.store.aliases():
            self.aliases.setdefault(alias, {})[index] = body
        for pipeline_id, body in self.store.pipelines().items():
            self.pipelines[pipeline_id] = SearchPipeline.from_body(pipeline_id, body)

    def close(self) -> None:
        self._closed.set()
        self._refresher.join(timeout=2)
        self.store.close()

    def _refresh_loop(self) -> None:
        while not self._closed.wait(self.config.refresh_tick):
            now = time.monotonic()
            for state in list(self.indices.values()):
                interval = _safe_interval(state)
                if state.dirty and interval is not None and now - state.last_refresh >= interval:
                    with self.write_lock:
                        if state.dirty:
                            state.refresh()

    # ---- names -------------------------------------------------------------------------------
    def resolve(self, expression: str | None, *, ignore_unavailable: bool = False,
                allow_no_indices: bool = True) -> list[IndexState]:
        """Indices named by a search target: comma lists, wildcards, aliases, `_all`."""
        names: list[str] = []
        parts = [p for p in (expression or "_all").split(",") if p]
        for part in parts:
            exclude = part.startswith("-") and len(part) > 1 and names
            pattern = part[1:] if exclude else part
            if pattern in ("_all", "*"):
                matched = sorted(n for n in self.indices if not n.startswith("."))
            elif "*" in pattern or "?" in pattern:
                matched = sorted({n for n in self.indices if fnmatch.fnmatchcase(n, pattern)} |
                                 {i for a, members in self.aliases.items() if fnmatch.fnmatchcase(a, pattern)
                                  for i in members})
            elif pattern in self.indices:
                matched = [pattern]
            elif pattern in self.aliases:
                matched = sorted(self.aliases[pattern])
            else:
                if ignore_unavailable:
                    continue
                raise IndexNotFound(pattern)
            if exclude:
                names = [n for n in names if n not in matched]
            else:
                names += [n for n in matched if n not in names]
        if not names and not allow_no_indices:
            raise IndexNotFound(expression or "_all")
        return [self.indices[n] for n in names]

    def concrete(self, name: str) -> IndexState:
        """The one index a single-index request means (an alias must point at exactly one)."""
        if name in self.indices:
            return self.indices[name]
        members = self.aliases.get(name)
        if members:
            writable = [i for i, body in members.items() if body.get("is_write_index")]
            if len(members) == 1 or len(writable) == 1:
                return self.indices[(writable or list(members))[0]]
            raise IllegalArgument(f"no write index is defined for alias [{name}]. The write index may be "
                                  "explicitly disabled using is_write_index=false or the alias points to "
                                  "multiple indices without one being designated as a write index")
        raise IndexNotFound(name)

    @staticmethod
    def validate_name(name: str) -> None:
        reason = None
        if not name:
            reason = "must not be empty"
        elif name != name.lower():
            reason = "must be lowercase"
        elif name in (".", ".."):
            reason = "must not be '.' or '..'"
        elif name[0] in "_-+":
            reason = "must not start with '_', '-', or '+'"
        elif set(name) & _INVALID_NAME_CHARS:
            reason = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
        elif len(name.encode()) > 255:
            reason = "index name is too long, (" + str(len(name.encode())) + " > 255)"
        if reason:
            raise InvalidIndexName(f"Invalid index name [{name}], {reason}", extra={"index": name})

    # ---- indices -----------------------------------------------------------------------------
    def create_index(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        if not isinstance(body, dict):
            raise SearchError("request body must be an object", status=400, error_type="parse_exception")
        unknown = set(body) - {"settings", "mappings", "aliases"}
        if unknown:
            raise SearchError(f"unknown key [{sorted(unknown)[0]}] for create index", status=400,
                              error_type="parse_exception")
        with self.write_lock:
            self.validate_name(name)
            if name in self.indices:
                raise ResourceAlreadyExists(name)
            if name in self.aliases:
                raise InvalidIndexName(f"Invalid index name [{name}], already exists as alias",
                                       extra={"index": name})
            settings = normalize_settings(body.get("settings") or {})
            mapping = new_mapping(body.get("mappings") or {}, settings)
            index_uuid = uuid.uuid4().hex[:22]
            settings["index"].update({"uuid": index_uuid, "provided_name": name,
                                      "creation_date": str(int(time.time() * 1000))})
            state = IndexState(name, index_uuid, int(time.time() * 1000), settings, mapping,
                               hnsw_threshold=self.config.hnsw_threshold)
            self.store.put_index(state.row())
            self.indices[name] = state
            for alias, alias_body in (body.get("aliases") or {}).items():
                self._add_alias(alias, name, alias_body or {})
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete_index(self, expression: str) -> dict[str, Any]:
        with self.write_lock:
            targets = self.resolve(expression, allow_no_indices=True)
            if not targets and "*" not in expression:
                raise IndexNotFound(expression)
            for state in targets:
                self.store.delete_index(state.name)
                self.indices.pop(state.name, None)
                for members in self.aliases.values():
                    members.pop(state.name, None)
            self.aliases = {a: m for a, m in self.aliases.items() if m}
        return {"acknowledged": True}

    def put_mapping(self, expression: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SearchError("request body is required", status=400, error_type="parse_exception")
        with self.write_lock:
            targets = self.resolve(expression, allow_no_indices=False)
            for state in targets:
                validate_mapping(body, state.settings)
            merged = [(s, s.mapping.merged(body)) for s in targets]  # validate all before changing any
            for state, mapping in merged:
                self._set_mapping(state, mapping)
        return {"acknowledged": True}

    def _set_mapping(self, state: IndexState, mapping: Mapping) -> None:
        row = state.row()
        row.mappings = mapping.to_json()
        self.store.put_index(row)
        state.set_mapping(mapping)

    def put_settings(self, expression: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SearchError("request body is required", status=400, error_type="parse_exception")
        flat = flatten_settings(body.get("settings", body) if "settings" in body else body)
        static = sorted(f"index.{k}" for k in flat if k in STATIC_SETTINGS)
        if static:
            raise IllegalArgument(f"Can't update non dynamic settings [[{', '.join(static)}]] for open indices "
                                  f"[{expression}]")
        unknown = sorted(f"index.{k}" for k in flat if k not in DYNAMIC_SETTINGS)
        if unknown:
            raise SettingsError(f"unknown setting [{unknown[0]}] please check that any required plugins are "
                                "installed, or check the breaking changes documentation for removed settings")
        if "refresh_interval" in flat and flat["refresh_interval"] is not None:
            try:
                parse_interval(str(flat["refresh_interval"]))
            except ValueError as exc:
                raise IllegalArgument(str(exc)) from exc
        with self.write_lock:
            for state in self.resolve(expression, allow_no_indices=False):
                for key, value in flat.items():
                    if value is None:
                        state.settings["index"].pop(key, None)
                    else:
                        state.settings["index"][key] = setting_text(value)
                self.store.put_index(state.row())
        return {"acknowledged": True}

    def refresh(self, expression: str | None = None) -> dict[str, Any]:
        targets = self.resolve(expression, allow_no_indices=True)
        with self.write_lock:
            for state in targets:
                state.refresh()
        copies = sum(1 + int(t.setting("number_of_replicas", "1")) for t in targets)
        return {"_shards": {"total": copies, "successful": len(targets), "failed": 0}}

    # ---- aliases -----------------------------------------------------------------------------
    def update_aliases(self, actions: Any) -> dict[str, Any]:
        """POST /_aliases: all actions apply atomically (an alias swap never shows a gap)."""
        if not isinstance(actions, list) or not actions:
            raise IllegalArgument("No action specified")
        with self.write_lock:
            aliases = {a: dict(m) for a, m in self.aliases.items()}
            removals: list[tuple[str, str]] = []
            additions: list[tuple[str, str, dict[str, Any]]] = []
            # indices this call removes may lend their name to an alias it adds (OpenSearch checks the result)
            removed_indices = [s.name for action in actions if isinstance(action, dict) and "remove_index" in action
                               and isinstance(action["remove_index"], dict)
                               for i in _names(action["remove_index"], "index", "indices")
                               for s in self.resolve(i, allow_no_indices=False)]
            for action in actions:
                if not isinstance(action, dict) or len(action) != 1:
                    raise SearchError("[aliases] failed to parse field [actions]", status=400,
                                      error_type="x_content_parse_exception")
                kind, spec = next(iter(action.items()))
                if kind not in ("add", "remove", "remove_index") or not isinstance(spec, dict):
                    raise SearchError(f"[aliases] unknown alias action [{kind}]", status=400,
                                      error_type="x_content_parse_exception")
                indices = _names(spec, "index", "indices")
                names = _names(spec, "alias", "aliases")
                targets = [s.name for i in indices for s in self.resolve(i, allow_no_indices=False)]
                if kind == "remove_index":
                    continue
                if not names:
                    raise IllegalArgument("One of [alias] or [aliases] must be set")
                for index in targets:
                    for alias in names:
                        if kind == "add":
                            if alias in self.indices and alias not in removed_indices:
                                raise InvalidIndexName(f"Invalid alias name [{alias}]: an index or data stream "
                                                       "exists with the same name as the alias")
                            body = {k: v for k, v in spec.items() if k in ("is_write_index", "filter", "routing")}
                            aliases.setdefault(alias, {})[index] = body
                            additions.append((alias, index, body))
                        else:
                            matched = [a for a in aliases if fnmatch.fnmatchcase(a, alias) and index in aliases[a]]
                            if not matched and spec.get("must_exist") is not False:
                                raise AliasesNotFound(f"aliases [{alias}] missing",
                                                      extra={"resource.id": alias, "resource.type": "aliases"})
                            for a in matched:
                                aliases[a].pop(index, None)
                                removals.append((a, index))
            self.store.set_aliases(removals, additions)
            self.aliases = {a: m for a, m in aliases.items() if m}
            for name in removed_indices:
                self.delete_index(name)
        return {"acknowledged": True}

    def _add_alias(self, alias: str, index: str, body: dict[str, Any]) -> None:
        self.aliases.setdefault(alias, {})[index] = body
        self.store.set_aliases([], [(alias, index, body)])

    def aliases_of(self, index: str) -> dict[str, Any]:
        return {a: members[index] for a, members in sorted(self.aliases.items()) if index in members}

    # ---- pipelines ---------------------------------------------------------------------------
    def put_pipeline(self, pipeline_id: str, body: Any) -> dict[str, Any]:
        pipeline = SearchPipeline.from_body(pipeline_id, body)
        with self.write_lock:
            self.store.put_pipeline(pipeline_id, body)
            self.pipelines[pipeline_id] = pipeline
        return {"acknowledged": True}

    def get_pipelines(self, pattern: str | None) -> dict[str, Any]:
        if pattern is None:
            return {i: p.body for i, p in self.pipelines.items()}
        found = {i: p.body for i, p in self.pipelines.items()
                 if any(fnmatch.fnmatchcase(i, part) for part in pattern.split(","))}
        if not found:
            raise ResourceNotFound(f"Search pipeline [{pattern}] not found")
        return found

    def delete_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        with self.write_lock:
            if pipeline_id not in self.pipelines:
                raise ResourceNotFound(f"Search pipeline [{pipeline_id}] not found")
            self.store.delete_pipeline(pipeline_id)
            del self.pipelines[pipeline_id]
        return {"acknowledged": True}

    # ---- documents ---------------------------------------------------------------------------
    def write(self, ops: list[WriteOp], refresh: str | None = None) -> dict[str, Any]:
        """Execute write operations (a bulk request). Good items are written even when others fail;
        everything written is durable before this returns."""
        started = time.monotonic()
        with self.write_lock:
            batch = _Batch(self)
            items = [batch.run(op) for op in ops]
            batch.commit()
            if refresh in ("true", "", "wait_for", True):
                for state in batch.touched.values():
                    state.refresh()
                if refresh != "wait_for":
                    for item in items:
                        body = next(iter(item.values()))
                        if "error" not in body and body.get("status", 0) < 300:
                            body["forced_refresh"] = True
        errors = any("error" in next(iter(item.values())) for item in items)
        return {"took": int((time.monotonic() - started) * 1000), "errors": errors, "items": items}

    def get_doc(self, index: str, doc_id: str) -> tuple[IndexState, Any]:
        state = self.concrete(index)
        return state, state.live.get(doc_id)


class _Batch:
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


# ---- settings helpers -------------------------------------------------------------------------

def flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"index": {"knn": true}} and {"index.knn": true} both become {"knn": True}."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_settings(value, f"{full}."))
        else:
            flat[full] = value
    return {k.removeprefix("index."): v for k, v in flat.items()}


def new_mapping(body: Any, settings: dict[str, Any]) -> Mapping:
    """The mapping of a new index; errors worded as index creation words them ("Failed to parse mapping")."""
    try:
        if isinstance(body, dict):
            validate_mapping(body, settings)
        return Mapping(body)
    except (Unsupported, IllegalArgument):
        raise
    except SearchError as exc:
        cause: Any = {"type": exc.error_type, "reason": exc.reason} if isinstance(exc, JavaError) else exc
        raise WrappedError(f"Failed to parse mapping [_doc]: {exc.reason}", cause, status=400,
                           error_type="mapper_parsing_exception") from exc


class SettingsError(SearchError):
    status, error_type = 400, "settings_exception"


def normalize_settings(settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise SearchError("[settings] must be an object", status=400, error_type="parse_exception")
    flat = flatten_settings(settings)
    unknown = sorted(k for k in flat if k not in DYNAMIC_SETTINGS | STATIC_SETTINGS
                     and not k.startswith(("analysis.", "similarity.", "knn.")))
    if unknown:
        raise SettingsError(f"unknown setting [index.{unknown[0]}] please check that any required plugins are "
                            "installed, or check the breaking changes documentation for removed settings")
    if "refresh_interval" in flat:
        try:
            parse_interval(str(flat["refresh_interval"]))
        except ValueError as exc:
            raise IllegalArgument(f"failed to parse setting [index.refresh_interval] with value "
                                  f"[{flat['refresh_interval']}] as a time value: unit is missing or "
                                  "unrecognized") from exc
    if "knn" in flat and str(flat["knn"]).lower() not in ("true", "false"):
        raise IllegalArgument(f"Failed to parse value [{flat['knn']}] as only [true] or [false] are allowed.")
    for key in ("number_of_shards", "number_of_replicas"):
        if key in flat and not re.fullmatch(r"\d+", str(flat[key])):
            raise IllegalArgument(f"Failed to parse value [{flat[key]}] for setting [index.{key}]")
    if "number_of_shards" in flat and int(flat["number_of_shards"]) < 1:
        raise IllegalArgument(f"Failed to parse value [{flat['number_of_shards']}] for setting "
                              "[index.number_of_shards] must be >= 1")
    if "number_of_shards" in flat and int(flat["number_of_shards"]) > 1:
        # BM25 statistics are per shard in OpenSearch: one index of several shards scores differently
        raise unsupported("[index.number_of_shards] above 1")
    index: dict[str, Any] = {"number_of_shards": "1", "number_of_replicas": "1"}
    index.update({k: setting_text(v) for k, v in flat.items()})
    return {"index": index}


def setting_text(value: Any) -> Any:
    """Settings are strings (lists of strings for list settings), as OpenSearch returns them."""
    if isinstance(value, list):
        return [setting_text(v) for v in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


def nested_settings(flat: dict[str, Any]) -> dict[str, Any]:
    """Flat `index.*` keys as GET _settings shows them: nested on dots, except where a key is both a value and
    a prefix (`knn` and `knn.algo_param.ef_search` give `knn` and `knn.algo_param: {ef_search}`)."""
    leaves = {k: v for k, v in flat.items() if "." not in k}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if "." in key:
            head, rest = key.split(".", 1)
            groups.setdefault(head, {})[rest] = value
    out: dict[str, Any] = dict(leaves)
    for head, rest in groups.items():
        if head not in leaves:
            out[head] = nested_settings(rest)
            continue
        joined: dict[str, dict[str, Any]] = {}
        for key, value in rest.items():
            second, _, tail = key.partition(".")
            joined.setdefault(f"{head}.{second}", {})[tail] = value
        for key, sub in joined.items():
            out[key] = sub[""] if list(sub) == [""] else nested_settings(sub)
    return out


def _safe_interval(state: IndexState) -> float | None:
    try:
        return state.refresh_interval
    except ValueError:
        return 1.0


def _names(spec: dict[str, Any], single: str, plural: str) -> list[str]:
    values: Iterable[Any] = spec.get(plural) or ([spec[single]] if single in spec else [])
    if isinstance(values, str):
        values = [values]
    return [str(v) for v in values]

"""The engine facade: indices, aliases and pipelines of one data directory, and every write path."""

from __future__ import annotations

import fnmatch
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localsearch.bulk import (
    WriteOp,
)
from localsearch.index import IndexState, parse_interval
from localsearch.index_settings import (
    DYNAMIC_SETTINGS,
    STATIC_SETTINGS,
    SettingsError,
    flatten_settings,
    new_mapping,
    normalize_settings,
    setting_text,
)
from localsearch.mapping_rules import validate_mapping
from localsearch.mappings import Mapping
from localsearch.pipelines import SearchPipeline
from localsearch.store import Store
from localsearch.write_batch import WriteBatch
from searchcore.errors import (
    IllegalArgument,
    IndexNotFound,
    ResourceAlreadyExists,
    ResourceNotFound,
    SearchError,
)

_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')


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
            batch = WriteBatch(self)
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

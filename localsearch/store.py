"""Durable storage of one engine's data directory: indices, documents, aliases, pipelines (SQLite).

Every acknowledged write is committed in WAL mode with synchronous=FULL before the response goes
out, so it survives `kill -9` of the server (and a power cut). The inverted and vector indices
are derived from these rows and rebuilt in memory at start.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchcore.bodies import json_text
from searchcore.errors import SearchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS indices (
    name TEXT PRIMARY KEY, uuid TEXT NOT NULL, created INTEGER NOT NULL,
    settings TEXT NOT NULL, mappings TEXT NOT NULL, next_seq_no INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS docs (
    index_name TEXT NOT NULL, id TEXT NOT NULL, seq_no INTEGER NOT NULL, version INTEGER NOT NULL,
    source TEXT NOT NULL, PRIMARY KEY (index_name, id));
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT NOT NULL, index_name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (alias, index_name));
CREATE TABLE IF NOT EXISTS pipelines (id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


class DataDirInUse(SearchError):
    status, error_type = 500, "lock_obtain_failed_exception"


@dataclass
class IndexRow:
    name: str
    uuid: str
    created: int
    settings: dict[str, Any]
    mappings: dict[str, Any]
    next_seq_no: int


@dataclass
class DocWrite:
    """One change to persist: a new document version, or a delete when `source` is None."""

    index: str
    id: str
    seq_no: int
    version: int
    source: dict[str, Any] | None


class Store:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / "localsearch.lock", "w")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise DataDirInUse(f"data directory [{self.path}] is in use by another localsearch process") from exc
        self._db = sqlite3.connect(self.path / "localsearch.db", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._mutex = threading.Lock()

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            self._lock_file.close()

    # ---- reads (start-up) -------------------------------------------------------------------
    def indices(self) -> list[IndexRow]:
        rows = self._db.execute(
            "SELECT name, uuid, created, settings, mappings, next_seq_no FROM indices").fetchall()
        return [IndexRow(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5]) for r in rows]

    def docs(self, index: str) -> Iterator[tuple[str, int, int, dict[str, Any]]]:
        cursor = self._db.execute(
            "SELECT id, seq_no, version, source FROM docs WHERE index_name = ? ORDER BY seq_no", (index,))
        for doc_id, seq_no, version, source in cursor:
            yield doc_id, seq_no, version, json.loads(source)

    def aliases(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT alias, index_name, body FROM aliases").fetchall()
        return [(a, i, json.loads(b)) for a, i, b in rows]

    def pipelines(self) -> dict[str, dict[str, Any]]:
        return {i: json.loads(b) for i, b in self._db.execute("SELECT id, body FROM pipelines")}

    # ---- writes -----------------------------------------------------------------------------
    def _transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def put_index(self, row: IndexRow) -> None:
        self._transaction([(
            "INSERT OR REPLACE INTO indices (name, uuid, created, settings, mappings, next_seq_no) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row.name, row.uuid, row.created, json.dumps(row.settings), json.dumps(row.mappings),
             row.next_seq_no))])

    def delete_index(self, name: str) -> None:
        self._transaction([
            ("DELETE FROM docs WHERE index_name = ?", (name,)),
            ("DELETE FROM aliases WHERE index_name = ?", (name,)),
            ("DELETE FROM indices WHERE name = ?", (name,)),
        ])

    def write_docs(self, writes: list[DocWrite], index_rows: list[IndexRow]) -> None:
        """Persist document changes and the index rows they touched (seq_no, mapping) atomically."""
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for row in index_rows:
            statements.append(("UPDATE indices SET mappings = ?, next_seq_no = ? WHERE name = ?",
                               (json.dumps(row.mappings), row.next_seq_no, row.name)))
        for w in writes:
            if w.source is None:
                statements.append(("DELETE FROM docs WHERE index_name = ? AND id = ?", (w.index, w.id)))
            else:
                statements.append((
                    "INSERT OR REPLACE INTO docs (index_name, id, seq_no, version, source) VALUES (?, ?, ?, ?, ?)",
                    (w.index, w.id, w.seq_no, w.version, json_text(w.source))))
        self._transaction(statements)

    def set_aliases(self, removals: list[tuple[str, str]], additions: list[tuple[str, str, dict[str, Any]]]
                    ) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("DELETE FROM aliases WHERE alias = ? AND index_name = ?", r) for r in removals]
        statements += [("INSERT OR REPLACE INTO aliases (alias, index_name, body) VALUES (?, ?, ?)",
                        (a, i, json.dumps(b))) for a, i, b in additions]
        self._transaction(statements)

    def put_pipeline(self, pipeline_id: str, body: dict[str, Any]) -> None:
        self._transaction([("INSERT OR REPLACE INTO pipelines (id, body) VALUES (?, ?)",
                            (pipeline_id, json.dumps(body)))])

    def delete_pipeline(self, pipeline_id: str) -> None:
        self._transaction([("DELETE FROM pipelines WHERE id = ?", (pipeline_id,))])

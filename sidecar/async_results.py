"""Kept async-search results (`keep_on_completion=true`): stored until their `keep_alive` runs out, shared by workers.

Under gunicorn each worker is its own process, and a GET for an id may reach another worker than the submit did:
results then live as one JSON file per id in a folder every worker sees (`RERANK_ASYNC_SEARCH_DIR`, which `serve`
sets). Without a folder (one process: tests, an app built in-process) they live in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DIR_VARIABLE = "RERANK_ASYNC_SEARCH_DIR"
_SWEEP_EVERY_S = 30.0


@dataclass
class KeptResult:
    caller: str                 # window_cache.caller_identity of the submitter: no one else reads it
    start_ms: int
    completion_ms: int
    expiration_ms: int
    status: int                 # the search's HTTP status (completion_status)
    response: dict[str, Any]    # the search response, as the submit's `response` carried it


class AsyncResultStore:
    def __init__(self, directory: Path | None = None, max_entries: int = 1000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self._memory: dict[str, KeptResult] = {}
        self._lock = threading.Lock()
        self._swept = 0.0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_environment(cls) -> AsyncResultStore:
        folder = os.environ.get(DIR_VARIABLE)
        return cls(Path(folder) if folder else None)

    def put(self, async_id: str, result: KeptResult) -> None:
        self._sweep()
        if self.directory is None:
            with self._lock:
                self._memory[async_id] = result
                while len(self._memory) > self.max_entries:   # the oldest go first
                    self._memory.pop(next(iter(self._memory)))
            return
        payload = json.dumps(asdict(result)).encode()
        # written whole, then renamed: another worker never reads half a file
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.replace(temporary, self._path(async_id))

    def get(self, async_id: str) -> KeptResult | None:
        """The live result, or None (never kept, deleted, or expired: expired ones are removed)."""
        result = self._read(async_id)
        if result is not None and result.expiration_ms < now_ms():
            self.delete(async_id)
            return None
        return result

    def delete(self, async_id: str) -> bool:
        if self.directory is None:
            with self._lock:
                return self._memory.pop(async_id, None) is not None
        try:
            self._path(async_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def _read(self, async_id: str) -> KeptResult | None:
        if self.directory is None:
            with self._lock:
                return self._memory.get(async_id)
        try:
            return KeptResult(**json.loads(self._path(async_id).read_bytes()))
        except (FileNotFoundError, ValueError, TypeError):   # gone meanwhile, or not ours to read
            return None

    def _path(self, async_id: str) -> Path:
        assert self.directory is not None
        return self.directory / (hashlib.sha256(async_id.encode()).hexdigest() + ".json")

    def _sweep(self) -> None:
        """Expired results go as new ones come (at most every few seconds), and the oldest past max_entries."""
        now = time.monotonic()
        if now - self._swept < _SWEEP_EVERY_S:
            return
        self._swept = now
        if self.directory is None:
            with self._lock:
                for key in [k for k, v in self._memory.items() if v.expiration_ms < now_ms()]:
                    del self._memory[key]
            return
        files = sorted(self.directory.glob("*.json"), key=_modified)
        for index, path in enumerate(files):
            expired = _expiration(path) < now_ms()
            if expired or len(files) - index > self.max_entries:
                path.unlink(missing_ok=True)


def now_ms() -> int:
    return int(time.time() * 1000)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _expiration(path: Path) -> int:
    try:
        return int(json.loads(path.read_bytes())["expiration_ms"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0

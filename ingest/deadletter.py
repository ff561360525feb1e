"""The dead-letter file: one JSON line per record that could not be ingested, with the reason."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class DeadLetterFile:
    """Appends failures as JSON lines; `sync()` makes them durable and returns the file size.

    A resumed run truncates the file to the size its checkpoint recorded, so failures of the
    records it reads again are not written twice.
    """

    def __init__(self, path: str | os.PathLike[str], *, keep_bytes: int = 0) -> None:
        """Open for a run: the first `keep_bytes` bytes (earlier, checkpointed failures) stay."""
        self.path = Path(path)
        self.count = 0
        self._handle = None
        if self.path.exists():
            with self.path.open("r+b") as handle:
                handle.truncate(min(keep_bytes, os.fstat(handle.fileno()).st_size))

    def _open(self):
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
        return self._handle

    def add(self, *, reason: str, stage: str, where: str | None = None,
            line: int | None = None, position: int | None = None, doc_id: str | None = None,
            record: Any = None, source: str | None = None) -> None:
        entry: dict[str, Any] = {"reason": reason, "stage": stage}
        for key, value in (("source", source), ("where", where), ("line", line),
                           ("position", position), ("id", doc_id), ("record", record)):
            if value is not None:
                entry[key] = value
        entry["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = json.dumps(entry, ensure_ascii=False, default=str).encode("utf-8", "replace")
        self._open().write(data + b"\n")
        self.count += 1

    def sync(self) -> int:
        """Flush to disk; the returned size is what a checkpoint records."""
        if self._handle is None:
            return self.path.stat().st_size if self.path.exists() else 0
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

"""Checkpoints: how far a run got, saved atomically after each acknowledged bulk write."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint cannot be used for this run (another job, a changed source, a bad file)."""


@dataclass
class Checkpoint:
    """Progress of one job: every source record before `position` is written or dead-lettered."""

    job: dict[str, Any]  # what identifies the job: source fingerprint, index, model
    position: int = 0
    dead_letter_bytes: int = 0  # the dead-letter file's size when `position` was reached
    counts: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    updated_at: float = 0.0
    version: int = CHECKPOINT_VERSION


class CheckpointStore:
    """Reads and writes one checkpoint file; a write is atomic and durable (fsync + rename)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint {self.path} has an unknown format")
        try:
            return Checkpoint(**data)
        except TypeError as exc:
            raise CheckpointError(f"checkpoint {self.path} has an unknown format") from exc

    def save(self, checkpoint: Checkpoint) -> None:
        checkpoint.updated_at = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(checkpoint), handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def resume_point(self, job: dict[str, Any]) -> Checkpoint | None:
        """The checkpoint to resume `job` from, or None when there is none to resume.

        Raises CheckpointError when the saved checkpoint belongs to a different job: resuming it
        would skip or repeat the wrong records.
        """
        checkpoint = self.load()
        if checkpoint is None:
            return None
        if checkpoint.job != job:
            changed = sorted(k for k in set(job) | set(checkpoint.job)
                             if job.get(k) != checkpoint.job.get(k))
            raise CheckpointError(
                f"checkpoint {self.path} was written for a different job "
                f"(differs in: {', '.join(changed)}); run without --resume to start over")
        return checkpoint


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""A server the tests start as a subprocess: its own process group, its output in a log file, stopped with SIGTERM
and, past a grace period, SIGKILL (the whole group: gunicorn's workers and the like go with it)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


class LoggedProcess:
    stop_timeout = 15.0   # seconds SIGTERM gets before SIGKILL

    def __init__(self, cmd: list[str], cwd: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: gone at once, nothing flushed, as a crashed or unplugged server is."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

"""`rerank-sidecar demo` (what `make demo` runs) as a real process: SIGTERM or SIGINT stops its children too."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from searchcore.local_server import free_port
from tests.conftest import REPO


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (localsearch, the sidecar's gunicorn master and its workers, an ingest job)."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            children = [int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        except FileNotFoundError:
            continue
        found += children
        stack += children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class Demo:
    def __init__(self, tmp_path: Path, reranker: Path) -> None:
        command = [sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "demo", "--data",
                   str(tmp_path / "demo"), "--port", str(free_port()), "--reranker", str(reranker), "--max-docs", "20"]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True,   # signals reach the demo alone
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.children: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)[-3000:]
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n" + "".join(self.output)[-3000:])

    def drain(self) -> None:
        while not self.lines.empty():
            self.output.append(self.lines.get())

    def kill_all(self) -> None:
        for pid in [self.process.pid, *self.children, *descendants(self.process.pid)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("signum, when", [(signal.SIGTERM, "serving"), (signal.SIGINT, "serving"),
                                          (signal.SIGTERM, "starting")])
def test_a_signal_to_the_demo_stops_localsearch_and_the_sidecar(tmp_path, tiny_cross_encoder, signum, when):
    demo = Demo(tmp_path, tiny_cross_encoder)
    try:
        demo.wait_for("Serving until" if when == "serving" else "localsearch: http")
        demo.children = descendants(demo.process.pid)
        assert demo.children, "the demo has no child processes"
        demo.process.send_signal(signum)
        try:
            code = demo.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            demo.drain()
            raise AssertionError("the demo did not exit within 90 s of the signal:\n" + "".join(demo.output)[-3000:]) from None
        left = [pid for pid in demo.children if alive(pid)]
        assert not left, f"still running after the demo exited: {left}"
        assert code == (0 if when == "serving" else 128 + signum)
    finally:
        demo.kill_all()

"""localsearch in a process of its own on a free loopback port: the embedded default of `serve` and evaluations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from searchcore.local_server import ServerNotReady, any_answer, free_port, wait_until_ready


class LocalsearchStartError(RuntimeError):
    pass


def start_localsearch_process(data_dir: Path, *, log_dir: Path | None = None, timeout_s: float = 120.0
                              ) -> tuple[subprocess.Popen[bytes], str]:
    """`rerank-sidecar localsearch` in its own process on a free loopback port, once it answers HTTP; its
    output goes to `log_dir`/localsearch-PORT.log when given, else to ours."""
    port = free_port()
    command = [sys.executable, "-m", "localsearch.cli", "--data", str(data_dir), "--port", str(port)]
    see = ""
    if log_dir is None:
        process = subprocess.Popen(command)
    else:
        log_path = log_dir / f"localsearch-{port}.log"
        see = f"; see {log_path}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, timeout=timeout_s, ready=any_answer, name="localsearch")
    except ServerNotReady as exc:
        process.kill()
        raise LocalsearchStartError(f"{exc}{see}") from exc
    return process, url

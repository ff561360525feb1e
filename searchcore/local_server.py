"""Servers started on this machine's loopback: a free port, and waiting until a started process answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


class ServerNotReady(RuntimeError):
    """The process exited, or did not answer in time; the message says which and names the URL."""


def free_port(preferred: int | None = None) -> int:
    """`preferred` when it is free (a demo keeps its usual port), else any free loopback port."""
    for port in (preferred, 0) if preferred is not None else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT has no owner
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise ServerNotReady("no free loopback port")


def any_answer(_status: int) -> bool:
    return True


def not_a_server_error(status: int) -> bool:
    return status < 500


def ok(status: int) -> bool:
    return status == 200


def wait_until_ready(url: str, process: subprocess.Popen[bytes] | None = None, *, timeout: float = 60.0,
                     ready: Callable[[int], bool] = not_a_server_error, interval: float = 0.1,
                     name: str = "server", log_tail: Callable[[], str] | None = None) -> None:
    """Poll `url` until its HTTP status satisfies `ready`; fail early when `process` exits.

    `log_tail` adds the process's own words (its log's end) to the error, where the reason usually is.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerNotReady(f"{name} exited with status {process.returncode} before {url} answered"
                                 + _tail(log_tail))
        status = _status(url)
        if status is not None and ready(status):
            return
        time.sleep(interval)
    raise ServerNotReady(f"{name} at {url} was not ready within {timeout:.0f} s" + _tail(log_tail))


def _status(url: str) -> int | None:
    """The answer's HTTP status; None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def _tail(log_tail: Callable[[], str] | None) -> str:
    return f":\n{log_tail()}" if log_tail is not None else ""

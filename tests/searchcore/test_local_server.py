"""The one start-and-wait helper: it waits for a real answer, sees a dead process, and keeps a free preferred port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from searchcore.local_server import ServerNotReady, any_answer, free_port, ok, wait_until_ready


def test_free_port_keeps_the_preferred_port_when_free_and_moves_when_taken() -> None:
    port = free_port()
    assert free_port(port) == port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        assert free_port(port) != port


def test_waits_until_the_server_answers_not_just_until_the_port_is_chosen() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", f"import time, http.server as h; time.sleep(1.0); "
                               f"h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        wait_until_ready(f"http://127.0.0.1:{port}/", server, timeout=30, ready=any_answer)
        assert time.monotonic() - started >= 0.9   # nothing listened before the child's sleep ended
    finally:
        server.kill()


def test_a_process_that_exits_fails_at_once_with_its_status() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(ServerNotReady, match="exited with status 3"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}/", dead, timeout=30, name="engine")


def test_an_answer_that_is_not_ready_times_out_with_the_log_tail() -> None:
    port = free_port()   # answers 404 to every path: not `ok`
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", "/nonexistent-dir"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with pytest.raises(ServerNotReady, match="not ready within 2 s:\nlast words"):
            wait_until_ready(f"http://127.0.0.1:{port}/-/ready", server, timeout=2, ready=ok,
                             log_tail=lambda: "last words")
    finally:
        server.kill()

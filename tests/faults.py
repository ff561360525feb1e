"""A fault-injecting TCP proxy in front of a real cluster: stalls, 5xx, malformed JSON, resets, cut answers.

It reads each HTTP/1.1 request (head and Content-Length body) from the sidecar's pooled connections; a request
whose path matches `applies_to` meets the current `mode`, the others (and every request in mode "pass") go to
the real server and its answer comes back re-framed with a Content-Length.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

MODES = ("pass", "stall", "html-502", "json-503", "json-401", "json-403", "malformed", "wrong-shape", "reset", "close",
         "cut-body", "refuse")
# the security plugin's refusals, as it writes them
DENIALS = {
    "json-401": (401, "Unauthorized", b'{"error":{"root_cause":[{"type":"security_exception","reason":"Authentication '
                 b'finally failed"}],"type":"security_exception","reason":"Authentication finally failed"},"status":401}'),
    "json-403": (403, "Forbidden", b'{"error":{"root_cause":[{"type":"security_exception","reason":"no permissions for '
                 b'[indices:admin/mappings/get]"}],"type":"security_exception","reason":"no permissions for '
                 b'[indices:admin/mappings/get]"},"status":403}'),
}


class FaultProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self.mode = "pass"
        self.applies_to: Callable[[str], bool] = lambda path: True
        self.release = threading.Event()   # stalled requests wait on it
        self.faulted: list[str] = []       # paths that met a fault
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def set(self, mode: str, applies_to: Callable[[str], bool] | None = None) -> None:
        assert mode in MODES, mode
        self.release.set()   # let go of anything stalled under the previous mode
        self.release = threading.Event()
        self.mode = mode
        self.applies_to = applies_to or (lambda path: True)

    def close(self) -> None:
        self._open = False
        self.release.set()
        self._thread.join(timeout=5)
        self._listener.close()

    # ---- serving ---------------------------------------------------------------------------------
    def _accept(self) -> None:
        while self._open:
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":   # as close to a refused connection as a listening socket gets
                _reset(connection)
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        try:
            while self._open:
                request = _read_request(reader)
                if request is None:
                    return
                method, path, headers, body = request
                mode = self.mode if self.applies_to(path) else "pass"
                if mode != "pass":
                    self.faulted.append(path)
                if not self._answer(connection, mode, method, path, headers, body):
                    return
        except OSError:
            return
        finally:
            reader.close()
            try:
                connection.close()
            except OSError:
                pass

    def _answer(self, connection: socket.socket, mode: str, method: str, path: str,
                headers: list[tuple[str, str]], body: bytes) -> bool:
        """Write the answer `mode` calls for; False when the connection is finished."""
        if mode == "stall":
            self.release.wait(60)
            _reset(connection)
            return False
        if mode in ("reset", "refuse"):   # refuse: a dead cluster's open connections die too
            _reset(connection)
            return False
        if mode == "close":      # the cluster died after reading the request: no answer at all
            connection.shutdown(socket.SHUT_RDWR)
            return False
        if mode == "html-502":
            connection.sendall(_framed(502, "Bad Gateway", "text/html", b"<html><body>502 Bad Gateway</body></html>"))
            return True
        if mode == "json-503":
            connection.sendall(_framed(503, "Service Unavailable", "application/json", (
                b'{"error":{"root_cause":[{"type":"cluster_block_exception","reason":"blocked"}],'
                b'"type":"cluster_block_exception","reason":"blocked"},"status":503}')))
            return True
        if mode in DENIALS:
            status, reason, denial = DENIALS[mode]
            connection.sendall(_framed(status, reason, "application/json", denial))
            return True
        if mode == "wrong-shape":   # JSON, but not what was asked for
            connection.sendall(_framed(200, "OK", "application/json", b'{"took": 1, "hits": {"hits": "none"}}'))
            return True
        status, reason, answer_headers, answer = self._forward(method, path, headers, body)
        if mode == "malformed":
            connection.sendall(_framed(200, "OK", "application/json", answer[: max(1, len(answer) // 2)]))
            return True
        if mode == "cut-body":   # headers promise the whole answer, half of it comes, then the connection goes
            head = _head(status, reason, [(k, v) for k, v in answer_headers if k.lower() != "content-length"]
                         + [("Content-Length", str(len(answer)))])
            connection.sendall(head + answer[: len(answer) // 2])
            _reset(connection)
            return False
        connection.sendall(_head(status, reason, [(k, v) for k, v in answer_headers
                                                  if k.lower() not in ("content-length", "transfer-encoding",
                                                                       "connection")]
                                 + [("Content-Length", str(len(answer)))]) + answer)
        return True

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]],
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(*self.target, timeout=60)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in ("connection", "keep-alive"):
                    upstream.putheader(name, value)
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            upstream.close()


def _read_request(reader) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    return method, path, headers, reader.read(length) if length else b""


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _framed(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    return _head(status, reason, [("Content-Type", content_type), ("Content-Length", str(len(body)))]) + body


def _reset(connection: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer's kernel answers."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass

"""Shared fixtures: clean environment, free ports, real localsearch servers started as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly: no RERANK_* leaks in, and no model hub is reached."""
    for key in list(os.environ):
        if key.startswith("RERANK_") and key not in ("RERANK_MODELS_DIR", "RERANK_DATA_ROOT"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class LocalsearchServer:
    """`rerank-sidecar localsearch` in a subprocess on a loopback port."""

    def __init__(self, data_dir: Path, port: int | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"localsearch-{self.port}.log"
        cmd = [sys.executable, "-m", "sidecar.cli", "localsearch", "--data", str(data_dir),
               "--port", str(self.port), *(extra or [])]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until_ready(self.url, self.process)

    def client(self, **kwargs: object) -> OpenSearch:
        return OpenSearch(self.url, timeout=60, **kwargs)

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to flush anything."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="session")
def localsearch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalsearchServer]:
    """One shared server for the session; tests use unique index names."""
    server = LocalsearchServer(tmp_path_factory.mktemp("localsearch") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_localsearch(tmp_path: Path) -> Iterator[object]:
    """A factory for servers a test owns (restart and crash tests)."""
    servers: list[LocalsearchServer] = []

    def start(data_dir: Path | None = None, port: int | None = None, extra: list[str] | None = None
              ) -> LocalsearchServer:
        server = LocalsearchServer(data_dir or tmp_path / "data", port, extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def index_name(request: pytest.FixtureRequest) -> str:
    return f"t-{request.node.name.lower()[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=["http", "inprocess", pytest.param("opensearch", marks=pytest.mark.opensearch)])
def os_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenSearch]:
    """The same opensearch-py client code against localsearch over HTTP, in-process, and a real cluster."""
    if request.param == "http":
        yield request.getfixturevalue("localsearch_server").client()
    elif request.param == "inprocess":
        from localsearch.connection import close_engine, local_client
        yield local_client(tmp_path / "inprocess")
        close_engine(tmp_path / "inprocess")
    else:
        url = os.environ.get("OPENSEARCH_URL")
        if not url:
            pytest.skip("OPENSEARCH_URL is not set: no real OpenSearch cluster to compare with")
        yield OpenSearch(url, timeout=60, verify_certs=False)

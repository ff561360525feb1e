"""docs/quickstart.md, run as written: its shell and Python blocks, in order, in an empty folder.

What the test changes, and only this: the folder is a temporary one whose `.venv` links to the environment
running the tests (the quickstart's `make install` step, which this test checks is all that block says); port 9200
becomes a free port (the machine may have a 9200 of its own); `serve`'s block runs in the background, as the
quickstart says to. The cross-encoder comes from RERANK_MODELS_DIR, as the quickstart's `CE=` line reads it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from searchcore.local_server import free_port
from tests.conftest import REPO, shared_model

QUICKSTART = REPO / "docs" / "quickstart.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def blocks() -> list[tuple[str, str]]:
    return [(kind, code) for kind, code in BLOCK.findall(QUICKSTART.read_text())]


def test_the_readme_links_the_quickstart_in_its_first_lines():
    head = "\n".join((REPO / "README.md").read_text().splitlines()[:12])
    assert "docs/quickstart.md" in head


def test_the_quickstart_has_the_steps_it_promises():
    kinds = [kind for kind, _ in blocks()]
    codes = [code for _, code in blocks()]
    assert codes[0].strip() == "make install"
    assert "python" in kinds
    assert any("rerank-sidecar ingest my-docs.jsonl" in code for code in codes)
    assert any("rerank-sidecar serve --reranker" in code for code in codes)
    assert any(".csv" in code and "--opensearch http://127.0.0.1:9200" in code for code in codes)


def run_shell(code: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"{code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    return result.stdout


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_quickstart_runs_as_written(tmp_path):
    model = shared_model("minilm-l6-distilled-ce")
    port = str(free_port())
    steps = [(kind, code.replace("9200", port)) for kind, code in blocks()]
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    if not (tmp_path / ".venv" / "bin" / "rerank-sidecar").exists():
        pytest.skip(f"{sys.executable}'s environment has no rerank-sidecar command (make install makes one)")
    env = {**os.environ, "RERANK_MODELS_DIR": str(model.parent), "PYTHONPATH": str(REPO)}
    env.pop("OPENSEARCH_URL", None)  # the quickstart runs on the embedded engine
    server = None
    log = (tmp_path / "serve.log").open("ab")
    outputs = []
    try:
        for kind, code in steps[1:]:  # steps[0] is `make install`: this environment
            if kind == "python":
                result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                                        text=True, timeout=300)
                assert result.returncode == 0, result.stderr[-3000:]
                outputs.append(result.stdout)
            elif "rerank-sidecar serve" in code:
                server = subprocess.Popen(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                outputs.append("")
            else:
                outputs.append(run_shell(code, tmp_path, env))
        search, python_search, more = outputs[3], outputs[4], outputs[5]
        headers, _, body = search.partition("\n\n")  # text mode: \r\n reads as \n
        assert re.search(r"^x-rerank-status: reranked", headers, re.IGNORECASE | re.MULTILINE), headers
        hits = json.loads(body)["hits"]["hits"]
        assert hits[0]["_id"] == "py-1" and 0 < hits[0]["_score"] < 1
        first = python_search.splitlines()[0].split()
        assert first[1] == "py-2" and 0 < float(first[0]) < 1
        last = more.strip().splitlines()[-1]  # after ingest's summary, the search's answer
        assert json.loads(last)["hits"]["hits"][0]["_id"] == "py-9"   # ingested while the sidecar ran
        # what the quickstart says needs a real cluster: Dashboards' calls answer 400 on localsearch
        base = f"http://127.0.0.1:{port}"
        for path in ("/_nodes", "/_field_caps?fields=*", "/_resolve/index/*"):
            assert status_of(base + path) == 400, path
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()
        if server is not None:
            print((tmp_path / "serve.log").read_text()[-4000:])

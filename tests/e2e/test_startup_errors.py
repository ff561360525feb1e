"""`serve` checks what it can before gunicorn starts: each problem is one line on stderr and exit status 2.

A cross-encoder that exists but cannot be reached or loaded is allowed: the sidecar starts, says so in its log,
names it in `/-/ready`, and its searches fail open.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.e2e.test_sidecar import search

LEXICAL = {"match": {"text": "read a text file one line at a time"}}


def serve(*arguments: str, cwd: Path = REPO, env: dict[str, str | None] | None = None,
          tiny: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sidecar.cli", "serve", "--port", "0", *arguments]
    if tiny is not None and "--reranker" not in arguments:
        command += ["--reranker", str(tiny)]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start prints (and nothing else: no traceback, no gunicorn)."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rerank-sidecar: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "gunicorn" not in result.stderr.lower()
    return lines[0]


def test_an_upstream_url_without_a_scheme(tiny_cross_encoder):
    line = refused(serve("--opensearch", "127.0.0.1:9", tiny=tiny_cross_encoder))
    assert "opensearch_url (--opensearch, OPENSEARCH_URL) [127.0.0.1:9] has no scheme" in line
    assert "write http://127.0.0.1:9" in line


@pytest.mark.parametrize(("url", "says"), [("ftp://cluster:9200", "must start with http:// or https://"),
                                          ("http://cluster:port", "has an invalid port"),
                                          ("http://admin:secret@:9200", "names no host")])
def test_other_bad_upstream_urls(tiny_cross_encoder, url, says):
    line = refused(serve("--opensearch", url, tiny=tiny_cross_encoder))
    assert says in line and "secret" not in line


def test_a_reranker_path_that_does_not_exist(tmp_path):
    line = refused(serve("--opensearch", "http://127.0.0.1:9", "--reranker", "./models/my-ce", cwd=tmp_path))
    assert line == (f"rerank-sidecar: --reranker [./models/my-ce]: no such folder "
                    f"({tmp_path.resolve() / 'models' / 'my-ce'})")


def test_a_folder_that_holds_no_model(tmp_path):
    (tmp_path / "my-ce").mkdir()
    (tmp_path / "my-ce" / "README.md").write_text("not a model")
    line = refused(serve("--opensearch", "http://127.0.0.1:9", "--reranker", str(tmp_path / "my-ce")))
    assert "holds no config.json, so it is not a model folder" in line


def test_a_model_name_outside_make_says_rerank_models_dir_is_not_set():
    """docs/sidecar.md's `serve --reranker NAME` run without make, which sets RERANK_MODELS_DIR."""
    line = refused(serve("--opensearch", "http://127.0.0.1:9", "--reranker", "minilm-l6-distilled-ce",
                         env={"RERANK_MODELS_DIR": None, "HF_HUB_OFFLINE": "1"}))
    assert "--reranker [minilm-l6-distilled-ce]: model not found" in line
    assert "RERANK_MODELS_DIR is not set (make sets it to ../shared/models" in line
    assert "the Hugging Face hub is off (HF_HUB_OFFLINE)" in line


def test_a_model_name_missing_from_rerank_models_dir(tmp_path):
    line = refused(serve("--opensearch", "http://127.0.0.1:9", "--reranker", "my-ce",
                         env={"RERANK_MODELS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}))
    assert f"RERANK_MODELS_DIR={tmp_path} has no folder [my-ce]" in line


def test_the_default_reranker_when_it_is_nowhere_on_this_machine(tmp_path):
    line = refused(serve("--opensearch", "http://127.0.0.1:9",
                         env={"RERANK_MODELS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}))
    assert "--reranker [cross-encoder/ms-marco-MiniLM-L6-v2]: model not found" in line


def test_configuration_errors_are_one_line(tmp_path, tiny_cross_encoder):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("defaults:\n  window: [1,\n  budget_ms: 5\n")
    line = refused(serve("--config", str(bad_yaml), tiny=tiny_cross_encoder))
    assert line.startswith(f"rerank-sidecar: configuration error: config file [{bad_yaml}] is not valid YAML")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("defaults:\n  windw: 10\n")
    assert "unknown setting [defaults.windw]" in refused(serve("--config", str(unknown), tiny=tiny_cross_encoder))


def test_a_port_in_use(tiny_cross_encoder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--opensearch", "http://127.0.0.1:9", "--port", str(port), tiny=tiny_cross_encoder)
    assert f"cannot listen on 127.0.0.1:{port}" in refused(result)


def wait_for_problem(server, words: str) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log()[-3000:]
        try:
            ready = requests.get(f"{server.url}/-/ready", timeout=5)
            if words in " ".join(ready.json()["problems"]):
                assert ready.status_code == 503
                return ready.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/-/ready never named {words}: {server.log()[-3000:]}")


def test_a_model_folder_that_fails_to_load_starts_loudly_and_fails_open(localsearch_server, localsearch_corpus,
                                                                         start_sidecar, tmp_path):
    broken = tmp_path / "broken-ce"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}')   # passes the start-up check, fails to load
    server = start_sidecar(localsearch_server.url, reranker=str(broken), wait_ready=False)
    ready = wait_for_problem(server, "reranker")
    assert str(broken) in " ".join(ready["problems"])
    assert "cannot load reranker" in server.log()
    response = search(server.url, {"query": LEXICAL, "size": 3})
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "skipped-model-unavailable"


def test_a_remote_cross_encoder_that_does_not_answer_is_a_warning(localsearch_server, localsearch_corpus,
                                                                   start_sidecar, tiny_cross_encoder):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]   # nothing listens there once the socket is closed
    config = {"models": {"far-ce": {"backend": "remote", "url": f"http://127.0.0.1:{port}",
                                    "tokenizer": str(tiny_cross_encoder), "retries": 0, "timeout_s": 2}}}
    server = start_sidecar(localsearch_server.url, reranker="far-ce", config=config, wait_ready=False)
    wait_for_problem(server, "reranker far-ce")
    log = server.log()
    assert f"reranker [far-ce]: its server at http://127.0.0.1:{port} does not answer" in log
    assert "starting anyway" in log
    response = search(server.url, {"query": LEXICAL, "size": 3})
    assert response.status_code == 200 and response.headers["X-Rerank-Status"].startswith("skipped-")

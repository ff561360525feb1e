"""End-to-end fixtures: a corpus ingested into a real localsearch server, and a gunicorn-served sidecar."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Backend, SidecarServer

TOPICS = [
    ("Reading files", "Use open() and iterate over the file object to read a text file line by line.", "io", 2001),
    ("Writing files", "Open a file in write mode and call write() to store text on disk.", "io", 2002),
    ("Dates", "timedelta represents the difference between two dates or times.", "time", 2003),
    ("Time zones", "zoneinfo gives IANA time zones so datetimes can be converted between regions.", "time", 2004),
    ("Subprocess", "subprocess.run executes a command and can capture its standard output.", "os", 2005),
    ("Environment", "os.environ maps environment variable names to their values.", "os", 2006),
    ("Random choice", "random.choice picks a random element from a non-empty sequence.", "math", 2007),
    ("Statistics", "statistics.mean and median summarize a list of numbers.", "math", 2008),
    ("Email", "smtplib sends email messages through an SMTP mail server.", "net", 2009),
    ("HTTP", "urllib.request opens URLs and reads web pages over HTTP.", "net", 2010),
    ("JSON", "json.loads parses a JSON document into Python dictionaries and lists.", "data", 2011),
    ("CSV", "csv.reader reads rows of comma separated values from a file.", "data", 2012),
    ("Compression", "gzip compresses bytes so that files take less space on disk.", "data", 2013),
    ("Threads", "threading.Thread runs a function concurrently; join waits until it has finished.", "os", 2014),
    ("Hashing", "hashlib computes SHA-256 digests of bytes for integrity checks.", "data", 2015),
    ("UUID", "uuid4 makes a random unique identifier.", "data", 2016),
    ("Sorting", "sorted with a key function orders a list of dictionaries by one of their keys.", "data", 2017),
    ("Regular expressions", "re.search finds the first place a pattern matches in a string.", "text", 2018),
    ("Text wrapping", "textwrap.wrap splits a long paragraph of text into lines of a given width.", "text", 2019),
    ("Logging", "logging writes messages of different severity to a file or the console.", "os", 2020),
]
QUERY = "read a text file one line at a time"


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "docs.jsonl"
    rows = [{"id": f"d{i}", "title": t, "text": x, "category": c, "year": y, "published": f"{y}-0{1 + i % 9}-15"}
            for i, (t, x, c, y) in enumerate(TOPICS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ingest(path: Path, index: str, url: str) -> None:
    result = subprocess.run([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "ingest", str(path),
                             "--index", index, "--opensearch", url, "--format", "jsonl", "--id-field", "id",
                             "--text-field", "title,text"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


_written: set[str] = set()


def write_corpus(client, url: str, corpus_file: Path) -> str:
    """The ingest job's index (vectors and the _meta contract) and one without vectors, written afresh once per
    engine and session (what an earlier session left on a long-running node is replaced)."""
    if url in _written:
        return "e2e-docs"
    _written.add(url)
    client.indices.delete(index="e2e-docs,e2e-plain", ignore_unavailable=True, ignore=[404])
    ingest(corpus_file, "e2e-docs", url)
    client.index(index="e2e-plain", id="p1", body={"title": "no vectors here", "text": "read a file"}, refresh=True)
    client.indices.refresh(index="e2e-docs")
    return "e2e-docs"


@pytest.fixture(scope="session")
def corpus_index(backend: Backend, corpus_file: Path) -> str:
    """The corpus on each engine in turn: localsearch, then the real OpenSearch node."""
    return write_corpus(backend.client(), backend.url, corpus_file)


@pytest.fixture(scope="session")
def localsearch_corpus(localsearch_server, corpus_file: Path) -> str:
    """The corpus on localsearch only, for tests that kill, slow down or fake what is behind the sidecar."""
    return write_corpus(localsearch_server.client(), localsearch_server.url, corpus_file)


@pytest.fixture(scope="session")
def sidecar(backend: Backend, corpus_index: str, tiny_cross_encoder: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarServer]:
    """gunicorn in front of each engine in turn."""
    server = SidecarServer(backend.url, tmp_path_factory.mktemp(f"sidecar-{backend.name}"),
                           reranker=str(tiny_cross_encoder), config={"defaults": {"window": 10, "budget_ms": 60000}})
    try:
        yield server
    finally:
        server.stop()


# ---- the real Elasticsearch node ------------------------------------------------------------------------------
def write_elasticsearch_corpus(es, index: str, corpus_file: Path) -> None:
    """The corpus as ingest writes it on OpenSearch, in Elasticsearch's form: text fields, an indexed
    `dense_vector` (cosine) of the bi-encoder's embeddings, and the same `_meta` contract."""
    from elasticsearch import helpers

    from searchcore.contract import IndexContract
    from searchcore.models import load_bi_encoder

    contract = IndexContract(model="all-MiniLM-L6-v2", dimension=384, space_type="cosinesimil",
                             text_fields=("title", "text"))
    es.indices.create(index=index, mappings={"_meta": contract.to_meta(), "properties": {
        "title": {"type": "text"}, "text": {"type": "text"},
        "category": {"type": "keyword"}, "year": {"type": "integer"}, "published": {"type": "date"},
        contract.vector_field: {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine"}}})
    rows = [json.loads(line) for line in corpus_file.read_text().splitlines()]
    vectors = load_bi_encoder(contract.model).encode([f"{r['title']}\n{r['text']}" for r in rows],
                                                     normalize_embeddings=True)
    actions = ({"_index": index, "_id": row.pop("id"), **row, contract.vector_field: [float(x) for x in vector]}
               for row, vector in zip(rows, vectors, strict=True))
    helpers.bulk(es, actions, refresh=True)


@pytest.fixture(scope="session")
def elasticsearch_corpus(corpus_file: Path, es_node) -> Iterator[str]:
    """The corpus on each real Elasticsearch node, under a name of this session's own (the nodes are shared)."""
    import uuid

    es = es_node.client()
    index = f"sidecar-es-{uuid.uuid4().hex[:10]}"
    write_elasticsearch_corpus(es, index, corpus_file)
    try:
        yield index
    finally:
        es.indices.delete(index=f"{index}*", ignore_unavailable=True)


@pytest.fixture(scope="session")
def elasticsearch_sidecar(es_node, elasticsearch_corpus: str, tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[SidecarServer]:
    """gunicorn in front of each Elasticsearch node, reranking with the fast trained cross-encoder."""
    from tests.conftest import shared_model

    server = SidecarServer(es_node.url, tmp_path_factory.mktemp(f"sidecar-{es_node.name}"),
                           reranker=str(shared_model("minilm-l2-dl20-ce")),
                           config={"defaults": {"window": 10, "budget_ms": 60000}})
    try:
        yield server
    finally:
        server.stop()

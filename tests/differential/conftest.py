"""Fixtures of the differential tests: localsearch and the real OpenSearch node side by side, and a corpus
written identically to both.

Every index these tests create starts with `diff-` (the reference node is shared with other developers) and is
deleted afterwards. No vector field uses the faiss engine: the reference node's k-NN plugin has no native
libraries and exits on the first write to a faiss index.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import opensearch_url
from tests.differential.corpus import CORPUS_MAPPING, PIPELINES, corpus_documents
from tests.differential.harness import Pair, Target


@pytest.fixture(scope="session")
def pair(localsearch_server) -> Pair:
    return Pair(Target("localsearch", localsearch_server.url), Target("opensearch", opensearch_url()))


class Indices:
    """Unique `diff-` index names, deleted from both engines when the test (or module) is done."""

    def __init__(self, pair: Pair, label: str) -> None:
        self.pair, self.label = pair, label
        self.created: list[str] = []

    def name(self, suffix: str = "") -> str:
        name = f"diff-{self.label}-{uuid.uuid4().hex[:8]}{'-' + suffix if suffix else ''}"
        self.created.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.created:
            self.pair.send("DELETE", f"/{name}")


def _label(node: pytest.Item | pytest.Module) -> str:
    """A readable part of an index name from a test's name (index names allow few characters)."""
    return re.sub(r"[^a-z0-9_-]+", "-", node.name.lower().removeprefix("test_"))[:24].strip("-")


@pytest.fixture
def indices(pair: Pair, request: pytest.FixtureRequest) -> Iterator[Indices]:
    names = Indices(pair, _label(request.node))
    yield names
    names.cleanup()


@pytest.fixture(scope="module")
def corpus(pair: Pair, request: pytest.FixtureRequest) -> Iterator[str]:
    """One index with the same mapping and documents on both engines, refreshed: the read-only corpus most
    search tests query."""
    names = Indices(pair, "corpus")
    name = names.name()
    pair.ok("PUT", f"/{name}", {"settings": {"index": {"knn": True}}, "mappings": CORPUS_MAPPING})
    lines: list[object] = []
    for doc_id, source in corpus_documents():
        lines += [{"index": {"_index": name, "_id": doc_id}}, source]
    local, reference = pair.ok("POST", "/_bulk", lines, params={"refresh": "true"}, ndjson=True)
    assert not local.body["errors"] and not reference.body["errors"]
    yield name
    names.cleanup()


@pytest.fixture(scope="module")
def pipelines(pair: Pair) -> Iterator[dict[str, str]]:
    """The search pipelines the hybrid tests use, under unique ids, on both engines."""
    suffix = uuid.uuid4().hex[:8]
    ids = {label: f"diff-{label}-{suffix}" for label in PIPELINES}
    for label, body in PIPELINES.items():
        pair.ok("PUT", f"/_search/pipeline/{ids[label]}", body)
    yield ids
    for pipeline_id in ids.values():
        pair.send("DELETE", f"/_search/pipeline/{pipeline_id}")

"""Bulk writes: retries on connection errors, 429 and 5xx; per-document failures reported."""

from __future__ import annotations

import numpy as np
import pytest
from opensearchpy.exceptions import AuthenticationException

from ingest.documents import Document
from ingest.write import BulkWriter, ClusterUnavailable, RetryPolicy, WriteRefused
from tests.ingest.fakes import FakeOpenSearch, connection_refused, unavailable

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.002)


def docs(n):
    return [Document(id=f"d{i}", source={"text": f"t{i}"}, text=f"t{i}", position=i)
            for i in range(n)]


@pytest.fixture
def cluster():
    client = FakeOpenSearch()
    client._create("docs", {"mappings": {}})
    return client


def write(cluster, n=5):
    batch = docs(n)
    vectors = np.eye(n, 4, dtype=np.float32)
    return BulkWriter(cluster, "docs", retry=FAST).write(batch, vectors)


def test_documents_land_with_their_vectors(cluster):
    outcome = write(cluster, 3)
    assert outcome.written == 3 and outcome.failures == []
    assert cluster.docs["docs"]["d1"] == {"text": "t1", "embedding": [0.0, 1.0, 0.0, 0.0]}


@pytest.mark.parametrize("error", [connection_refused, unavailable])
def test_request_level_errors_are_retried(cluster, error):
    cluster.bulk_script = [error(), error(), "ok"]
    outcome = write(cluster)
    assert outcome.written == 5 and outcome.retries == 2 and cluster.bulk_calls == 3


def test_rejected_items_are_retried_alone(cluster):
    cluster.bulk_script = [lambda doc_id: 429 if doc_id in ("d1", "d3") else None, "ok"]
    outcome = write(cluster)
    assert outcome.written == 5 and outcome.failures == []
    assert len(cluster.docs["docs"]) == 5 and cluster.bulk_calls == 2


def test_permanent_item_errors_fail_without_retry(cluster):
    cluster.bulk_script = [lambda doc_id: 400 if doc_id == "d2" else None]
    outcome = write(cluster)
    assert outcome.written == 4 and cluster.bulk_calls == 1
    ((doc, reason),) = outcome.failures
    assert doc.id == "d2"
    assert reason == "status 400: mapper_parsing_exception: planted 400"


def test_items_failing_every_attempt_are_given_up(cluster):
    cluster.bulk_script = [lambda doc_id: 503 if doc_id == "d0" else None] * 4
    outcome = write(cluster)
    assert outcome.written == 4
    ((doc, reason),) = outcome.failures
    assert doc.id == "d0" and "gave up after 4 attempts" in reason and "503" in reason


def test_an_outage_longer_than_the_budget_stops_the_run(cluster):
    cluster.bulk_script = [connection_refused() for _ in range(4)]
    with pytest.raises(ClusterUnavailable, match="cannot reach the cluster"):
        write(cluster)


def test_refused_credentials_are_not_retried(cluster):
    cluster.bulk_script = [AuthenticationException(401, "security_exception", {})]
    with pytest.raises(WriteRefused, match="401"):
        write(cluster)
    assert cluster.bulk_calls == 1


def test_a_failure_in_a_later_chunk_resends_all_and_counts_each_document_once(cluster):
    cluster.bulk_script = ["ok", unavailable(), "ok", "ok"]
    writer = BulkWriter(cluster, "docs", retry=FAST, chunk_size=3)
    outcome = writer.write(docs(5), np.eye(5, 4, dtype=np.float32))
    assert outcome.written == 5 and outcome.retries == 1
    assert cluster.bulk_calls == 4 and len(cluster.docs["docs"]) == 5


def test_vectors_are_written_with_seven_decimals(cluster):
    vector = np.array([[0.123456789, -0.5, 1 / 3, 0.0]], dtype=np.float32)
    BulkWriter(cluster, "docs").write(docs(1), vector)
    assert cluster.docs["docs"]["d0"]["embedding"] == [0.1234568, -0.5, 0.3333333, 0.0]

"""opensearch-py against both engines, differential: the client's own calls (helpers.bulk, helpers.scan, search
with list parameters, msearch, count) and the exceptions it raises come out the same."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch, TransportError, helpers

from tests.differential.corpus import CORPUS_MAPPING, corpus_documents

pytestmark = pytest.mark.opensearch


@pytest.fixture(scope="module")
def clients(pair) -> tuple[OpenSearch, OpenSearch]:
    return OpenSearch(pair.local.url, timeout=60), OpenSearch(pair.reference.url, timeout=60)


def both(clients, call):
    """Run `call(client)` on both engines: (result or raised error, ...)."""
    out = []
    for client in clients:
        try:
            out.append(call(client))
        except TransportError as exc:
            out.append((type(exc).__name__, exc.status_code, exc.error))
    return out


def test_helpers_bulk_and_scan(clients, indices):
    name = indices.name()
    for client in clients:
        client.indices.create(index=name, body={"settings": {"index": {"knn": True}}, "mappings": CORPUS_MAPPING})
    actions = [{"_index": name, "_id": doc_id, "_source": doc} for doc_id, doc in corpus_documents()]
    results = both(clients, lambda c: helpers.bulk(c, actions, chunk_size=17, refresh=True))
    assert results[0] == results[1] == (60, [])
    scans = both(clients, lambda c: sorted(h["_id"] for h in helpers.scan(c, index=name, size=11,
                                                                             query={"query": {"term": {"tag": "red"}}})))
    assert scans[0] == scans[1] and scans[0]


def test_search_with_client_parameters(clients, corpus):
    def search(client):
        response = client.search(index=corpus, q="vector", size=5, sort=["n:desc", "_id:asc"],
                                 _source_includes=["title", "n"], track_total_hits=True,
                                 params={"rest_total_hits_as_int": "true"})
        return response["hits"]["total"], [(h["_id"], h["_source"], h["sort"]) for h in response["hits"]["hits"]]
    ours, theirs = both(clients, search)
    assert ours == theirs


def test_msearch_and_count(clients, corpus):
    body = [{"index": corpus}, {"query": {"match": {"body": "rank"}}, "size": 3, "_source": False},
            {"index": "diff-no-such-index"}, {"query": {"match_all": {}}}]

    def run(client):
        responses = client.msearch(body=body)["responses"]
        return ([r.get("status") for r in responses], [h["_id"] for h in responses[0]["hits"]["hits"]],
                responses[1]["error"]["type"], client.count(index=corpus, q="tag:blue")["count"])
    ours, theirs = both(clients, run)
    assert ours == theirs


@pytest.mark.parametrize("call", [
    lambda c: c.get(index="diff-no-such-index", id="1"),
    lambda c: c.search(index="diff-no-such-index"),
    lambda c: c.indices.create(index="Diff-Upper-Case"),
    lambda c: c.search(index="_all", body={"query": {"bogus": {}}}),
    lambda c: c.indices.delete(index="diff-no-such-index"),
], ids=["get missing", "search missing", "bad name", "unknown query", "delete missing"])
def test_client_exceptions(clients, call):
    ours, theirs = both(clients, call)
    assert isinstance(ours, tuple) and ours == theirs

"""`--from-index`: vectorize an existing index into a new k-NN index and move the alias, against localsearch and
the real OpenSearch node."""

from __future__ import annotations

import threading
import time

from searchcore.contract import IndexContract
from tests.ingest.conftest import IngestTarget, small_docs

# A custom analyzer on the source: the new index must carry it, or the cluster refuses the copied mapping.
FOLDED = {"analyzer": {"folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}


def plain_index(target: IngestTarget, name: str, docs: list[dict]) -> None:
    """An index as clients have it before ingest: no k-NN, a keyword and a custom analyzer."""
    client = target.client()
    client.indices.create(index=name, body={
        "settings": {"index": {"analysis": FOLDED}},
        "mappings": {"properties": {"title": {"type": "text", "analyzer": "folded"}, "text": {"type": "text"},
                                    "sku": {"type": "keyword"}}}})
    for doc in docs:
        client.index(index=name, id=doc["id"], body={"title": doc["title"], "text": doc["text"],
                                                      "sku": doc["id"].upper()})
    client.indices.refresh(index=name)


def check_the_new_index(target: IngestTarget, new: str, docs: list[dict], minilm) -> None:
    stored = target.all_docs(new)
    assert set(stored) == {d["id"] for d in docs}
    assert stored["k7"]["sku"] == "K7" and len(stored["k7"]["embedding"]) == 384
    client = target.client()
    mappings = client.indices.get_mapping(index=new)[new]["mappings"]
    assert mappings["properties"]["sku"]["type"] == "keyword"
    assert mappings["properties"]["title"]["analyzer"] == "folded"
    assert mappings["properties"]["embedding"]["method"]["engine"] == target.backend.knn_engine
    assert IndexContract.from_mapping(mappings).model == "all-MiniLM-L6-v2"
    # k-NN works on the new index: a document's own text finds it first
    doc = docs[11]
    assert target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0], index=new)[0][0] == doc["id"]


def test_from_index_swaps_the_alias_while_searches_keep_answering(target, minilm):
    old, new, alias = target.name("v1"), target.name("v2"), target.index
    docs = small_docs(40, prefix="k")
    plain_index(target, old, docs)
    target.client().indices.update_aliases(body={"actions": [{"add": {"index": old, "alias": alias}}]})

    stop, totals, errors = threading.Event(), [], []

    def keep_searching():
        searcher = target.client()
        while not stop.is_set():
            try:
                response = searcher.search(index=alias, body={"query": {"match": {"text": "volcanoes lava"}},
                                                              "size": 3})
                totals.append(response["hits"]["total"]["value"])
            except Exception as exc:  # any failure during the swap is what this test catches
                errors.append(repr(exc))

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        code = target("--from-index", alias, "--batch-size", "8", index=new)
        after_swap = len(totals)
        deadline = time.monotonic() + 10
        while len(totals) < after_swap + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        searcher.join()
    assert code == 0
    assert errors == []
    assert len(totals) > after_swap and set(totals) == {8}  # 8 of 40 notes mention lava
    client = target.client()
    assert sorted(client.indices.get_alias(name=alias)) == [new]
    analysis = client.indices.get_settings(index=new)[new]["settings"]["index"].get("analysis")
    assert analysis == client.indices.get_settings(index=old)[old]["settings"]["index"].get("analysis")
    check_the_new_index(target, new, docs, minilm)
    # searches through the alias reach the new index: lexical and k-NN
    doc = docs[22]
    hits = client.search(index=alias, body={"query": {"term": {"sku": "K22"}}})["hits"]["hits"]
    assert [(hit["_index"], hit["_id"]) for hit in hits] == [(new, "k22")]
    assert target.knn_ids(minilm.embed([f"{doc['title']} {doc['text']}"])[0], index=alias)[0][0] == "k22"


def test_from_index_turns_the_index_into_an_alias_with_replace_index(target, minilm):
    name, new = target.index, target.name("knn")
    docs = small_docs(12, prefix="k")
    plain_index(target, name, docs)
    assert target("--from-index", name, "--alias", name, "--replace-index", index=new) == 0
    client = target.client()
    assert sorted(client.indices.get_alias(name=name)) == [new]  # the name is now an alias of the new index
    assert client.count(index=name)["count"] == 12
    check_the_new_index(target, new, docs, minilm)

"""Persistence and concurrency: restart keeps everything, acknowledged writes survive kill -9, threads agree."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from opensearchpy import helpers

MAPPING = {"settings": {"index": {"knn": True}}, "mappings": {"_meta": {"owner": "tests"}, "properties": {
    "title": {"type": "text"}, "n": {"type": "integer"},
    "v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "space_type": "innerproduct"}}}}}


def test_restart_keeps_indices_documents_aliases_and_pipelines(start_localsearch, tmp_path):
    server = start_localsearch(tmp_path / "data")
    client = server.client()
    client.indices.create(index="books", body=MAPPING)
    helpers.bulk(client, ({"_index": "books", "_id": str(i), "_source": {"title": f"book {i}", "n": i,
                                                                         "v": [i, 1.0]}} for i in range(50)))
    client.delete(index="books", id="7")
    client.index(index="books", id="8", body={"title": "rewritten", "n": 8, "v": [0.5, 0.5]})
    client.indices.update_aliases(body={"actions": [{"add": {"index": "books", "alias": "library"}}]})
    client.transport.perform_request("PUT", "/_search/pipeline/p1", body={
        "phase_results_processors": [{"normalization-processor": {}}]})
    client.indices.refresh(index="books")
    before = client.search(index="books", body={"query": {"match": {"title": "book"}}, "size": 5})
    assert len(before["hits"]["hits"]) == 5
    server.stop()

    restarted = start_localsearch(tmp_path / "data")
    client = restarted.client()
    assert client.count(index="library")["count"] == 49
    assert client.get(index="books", id="8")["_source"]["title"] == "rewritten"
    assert client.get(index="books", id="8")["_version"] == 2
    assert not client.exists(index="books", id="7")
    assert client.indices.get_mapping(index="books")["books"]["mappings"]["_meta"] == {"owner": "tests"}
    assert "p1" in client.transport.perform_request("GET", "/_search/pipeline/p1")
    after = client.search(index="books", body={"query": {"match": {"title": "book"}}, "size": 5})
    # the same ranking; scores may move slightly since deleted versions no longer count in BM25 statistics
    assert [h["_id"] for h in after["hits"]["hits"]] == [h["_id"] for h in before["hits"]["hits"]]
    knn = client.search(index="books", body={"query": {"knn": {"v": {"vector": [1.0, 0.0], "k": 1}}}})
    assert knn["hits"]["hits"][0]["_id"] == "49"
    written = client.index(index="books", id="new", body={"n": 1})
    assert written["_seq_no"] > 50  # sequence numbers never go back after a restart


def test_acknowledged_writes_survive_kill_9(start_localsearch, tmp_path):
    server = start_localsearch(tmp_path / "data")
    client = server.client(max_retries=0)
    client.indices.create(index="log", body={"settings": {"index": {"refresh_interval": "-1"}}})
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            try:
                client.index(index="log", id=f"doc-{i}", body={"n": i, "text": f"entry {i}"})
            except Exception:
                return  # the server is gone: this write was never acknowledged
            acknowledged.append(f"doc-{i}")
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < 200:
        thread.join(0.01)
    server.kill()  # SIGKILL while writes are in flight
    stop.set()
    thread.join()

    client = start_localsearch(tmp_path / "data").client()
    client.indices.refresh(index="log")
    stored = {h["_id"]: h["_source"] for h in helpers.scan(client, index="log")}
    missing = [d for d in acknowledged if d not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost"
    for doc_id in acknowledged:
        n = int(doc_id.split("-")[1])
        assert stored[doc_id] == {"n": n, "text": f"entry {n}"}


def test_concurrent_writes_and_searches(localsearch_server, index_name):
    client = localsearch_server.client()
    client.indices.create(index=index_name, body={"settings": {"index": {"refresh_interval": "50ms"}},
                                                  "mappings": {"properties": {"writer": {"type": "keyword"},
                                                                              "n": {"type": "integer"}}}})
    writers, per_writer = 4, 150
    bad_hits: list[str] = []

    def write(w: int) -> None:
        actions = ({"_index": index_name, "_id": f"{w}-{i}", "_source": {"writer": str(w), "n": i}}
                   for i in range(per_writer))
        helpers.bulk(client, actions, chunk_size=25)

    def search(_: int) -> None:
        for _ in range(30):
            response = client.search(index=index_name, body={"query": {"term": {"writer": "1"}}, "size": 200})
            for hit in response["hits"]["hits"]:
                if hit["_source"]["writer"] != "1" or hit["_id"] != f"1-{hit['_source']['n']}":
                    bad_hits.append(hit["_id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(write, w) for w in range(writers)] + [pool.submit(search, s) for s in range(4)]
        for future in futures:
            future.result()
    client.indices.refresh(index=index_name)
    assert not bad_hits
    assert client.count(index=index_name)["count"] == writers * per_writer
    for w in range(writers):
        assert client.count(index=index_name, body={"query": {"term": {"writer": str(w)}}})["count"] == per_writer
    # concurrent updates of the same document keep a consistent version count
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: client.index(index=index_name, id="shared", body={"n": i}), range(40)))
    assert client.get(index=index_name, id="shared")["_version"] == 40

"""Run by tests/e2e/test_elasticsearch8_client.py in its own interpreter, with the real 8.x `elasticsearch` client
(installed by `make test` under .venv/elasticsearch8-client, first on PYTHONPATH) and nothing of this project:
what an 8.x user's code does, against one URL (a node, or the sidecar in front of it). Prints one JSON record.

    python elasticsearch8_client_probe.py URL INDEX SCRATCH_INDEX QUERY
"""

from __future__ import annotations

import json
import sys

import elasticsearch
from elasticsearch import ApiError, Elasticsearch, helpers


def shape(answer: dict) -> dict:
    hits = answer["hits"]
    return {"keys": sorted(answer), "hits_keys": sorted(hits), "total": hits.get("total"),
            "_shards": answer["_shards"], "hit_keys": sorted({k for h in hits["hits"] for k in h})}


def refusal(raised: ApiError) -> dict:
    """What the client raised: its own exception class, the status and the body as received."""
    return {"class": type(raised).__name__, "status": raised.meta.status, "body": raised.body}


def failure(call) -> dict:
    """The refusal a call must end in; `{"class": None}` when it was answered instead."""
    try:
        call()
    except ApiError as raised:
        return refusal(raised)
    return {"class": None}


def async_search(es: Elasticsearch, index: str, query: dict) -> dict:
    """Submit (kept on completion), get by id, delete: Discover's round trip."""
    submitted = es.async_search.submit(index=index, query=query, size=5, wait_for_completion_timeout="30s",
                                       keep_on_completion=True)
    fetched = es.async_search.get(id=submitted["id"])
    es.async_search.delete(id=submitted["id"])
    return {"running": submitted["is_running"], "partial": submitted["is_partial"],
            "total": submitted["response"]["hits"]["total"], "status": submitted.meta.headers.get("X-Rerank-Status"),
            "ids": [h["_id"] for h in submitted["response"]["hits"]["hits"]],
            "fetched_ids": [h["_id"] for h in fetched["response"]["hits"]["hits"]]}


def probe(url: str, index: str, scratch: str, query_text: str) -> dict:
    es = Elasticsearch(url, request_timeout=120)
    query = {"match": {"text": query_text}}
    record: dict = {"client": elasticsearch.__versionstr__}

    # not info(): the integ-test-zip node has no `GET /` (deploy/nodes/elasticsearch.py)
    local = es.nodes.info(node_id="_local")
    record["nodes"] = {"product": local.meta.headers.get("X-Elastic-Product"),
                       "versions": sorted(n["version"] for n in local["nodes"].values())}

    answer = es.search(index=index, query=query, size=5)
    record["search"] = {"status": answer.meta.headers.get("X-Rerank-Status"), "shape": shape(answer.body),
                        "content_type": answer.meta.headers.get("Content-Type"),
                        "scores": [h["_score"] for h in answer["hits"]["hits"]]}

    searches = [{"index": index}, {"query": query, "size": 3}, {"index": index}, {"query": {"match_all": {}}, "size": 0}]
    record["msearch"] = [{"status": r["status"], "hits": len(r["hits"]["hits"]), "total": r["hits"]["total"]}
                         for r in es.msearch(searches=searches)["responses"]]

    record["count"] = es.count(index=index, query={"match": {"text": "file"}})["count"]
    record["scan"] = sorted(h["_id"] for h in helpers.scan(es, index=index, query={"query": {"match": {"text": "file"}}},
                                                            size=2))

    es.indices.create(index=scratch, mappings={"properties": {"text": {"type": "text"}}})
    try:
        written, errors = helpers.bulk(es, ({"_index": scratch, "_id": str(i), "text": f"bulk {i}"} for i in range(7)),
                                       refresh=True)
        record["bulk"] = {"written": written, "errors": errors, "count": es.count(index=scratch)["count"]}
    finally:
        es.indices.delete(index=scratch)

    try:
        record["async_search"] = async_search(es, index, query)
    except ApiError as raised:
        record["async_search"] = refusal(raised)

    record["errors"] = {
        "missing_index": failure(lambda: es.search(index=f"{index}-missing", query=query)),
        "bad_query": failure(lambda: es.search(index=index, query={"match": {"text": {"query": query_text,
                                                                                      "operator": "sometimes"}}})),
        "missing_document": failure(lambda: es.get(index=index, id="no-such-document")),
    }
    return record


if __name__ == "__main__":
    print(json.dumps(probe(*sys.argv[1:5])))

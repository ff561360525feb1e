"""The proxy in front of each real Elasticsearch node (9.x, and 8.x when the run was given one), with
Elasticsearch's official client unchanged: pointed at the sidecar it gets what it gets from the node (shapes,
errors as its own exception classes, pass-through bytes), and searches come back reranked. The client speaks as
the node's own major's client does (`compatible-with=<major>`: the 9.x client as an 8.x one, ElasticsearchNode)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError, helpers

from tests.e2e.conftest import QUERY

pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]
BROAD = {"match": {"text": "a the of to and"}}   # most of the corpus: more hits than the window of 10


@pytest.fixture(scope="module")
def node(es_node) -> Elasticsearch:
    return es_node.client()


@pytest.fixture(scope="module")
def proxy(es_node, elasticsearch_sidecar) -> Elasticsearch:
    return es_node.client(elasticsearch_sidecar.url)


def shape(answer: dict) -> dict:
    """What must match the node's answer whatever the ranking: keys, total and shards."""
    hits = answer["hits"]
    return {"keys": sorted(answer), "hits_keys": sorted(hits), "total": hits.get("total"),
            "_shards": answer["_shards"], "hit_keys": sorted({k for h in hits["hits"] for k in h})}


def test_ready_and_the_start_up_log_name_the_engine_and_its_version(es_node, elasticsearch_sidecar):
    (found,) = requests.get(f"{es_node.url}/_nodes/_local", timeout=30).json()["nodes"].values()
    ready = requests.get(f"{elasticsearch_sidecar.url}/-/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["upstream"] == {"engine": "elasticsearch", "version": found["version"]}
    assert f"is Elasticsearch {found['version']}" in elasticsearch_sidecar.log()


def test_a_search_is_reranked_and_shaped_as_the_nodes(es_node, node, proxy, elasticsearch_corpus):
    query = {"match": {"text": QUERY}}
    direct = node.search(index=elasticsearch_corpus, query=query, size=5)
    answer = proxy.search(index=elasticsearch_corpus, query=query, size=5)
    assert answer.meta.headers["X-Rerank-Status"] == "reranked"
    assert answer.meta.headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer.meta.headers["Content-Type"] == direct.meta.headers["Content-Type"] == \
        f"application/vnd.elasticsearch+json;compatible-with={es_node.major}"
    assert shape(answer.body) == shape(direct.body)
    hits = answer["hits"]["hits"]
    scores = [h["_score"] for h in hits]
    assert all(0 < s < 1 for s in scores) and scores == sorted(scores, reverse=True)
    assert answer["hits"]["max_score"] == scores[0]


@pytest.mark.parametrize("retrieval", ["client", "server", "auto"])
def test_every_retrieval_mode_fuses_both_legs_in_the_sidecar(proxy, elasticsearch_corpus, elasticsearch_sidecar,
                                                             retrieval):
    """No rrf retriever or hybrid query on this node: `server` falls back to client fusion, and says so once."""
    answer = proxy.search(index=elasticsearch_corpus, query={"match": {"text": "time zones"}}, size=10,
                          ext={"rerank": {"retrieval": retrieval, "explain": True}})
    assert answer.meta.headers["X-Rerank-Status"] == "reranked"
    first_stage = [h["_rerank"]["first_stage_score"] for h in answer["hits"]["hits"]]
    assert len(first_stage) == 10 and all(0 < s <= 1 for s in first_stage)   # min-max fused, as on OpenSearch
    if retrieval == "server":
        assert "using client-side fusion" in elasticsearch_sidecar.log()


def test_the_clients_filters_hold_on_both_legs(node, proxy, elasticsearch_corpus):
    query = {"bool": {"must": [{"match": {"text": QUERY}}], "filter": [{"term": {"category": "data"}}]}}
    direct = node.search(index=elasticsearch_corpus, query=query, size=20)
    answer = proxy.search(index=elasticsearch_corpus, query=query, size=20)
    assert answer.meta.headers["X-Rerank-Status"] == "reranked"
    assert {h["_source"]["category"] for h in answer["hits"]["hits"]} == {"data"}   # the k-NN leg is filtered too
    assert answer["hits"]["total"] == direct["hits"]["total"]


def test_pages_across_the_window_are_one_ranking(proxy, elasticsearch_corpus):
    body = {"query": BROAD, "ext": {"rerank": {"query_text": "files on disk"}}}
    whole = proxy.search(index=elasticsearch_corpus, size=20, **body)["hits"]["hits"]
    pages = [h for start in (0, 5, 10, 15)
             for h in proxy.search(index=elasticsearch_corpus, from_=start, size=5, **body)["hits"]["hits"]]
    assert len({h["_id"] for h in pages}) == len(pages) > 10
    assert [(h["_id"], h["_score"]) for h in pages] == [(h["_id"], h["_score"]) for h in whole]


def test_msearch_reranks_each_search_and_passes_the_rest(node, proxy, elasticsearch_corpus):
    searches = [{"index": elasticsearch_corpus}, {"query": {"match": {"text": QUERY}}, "size": 3},
                {"index": elasticsearch_corpus}, {"query": {"match": {"text": "file"}}, "sort": [{"year": "asc"}]}]
    direct = node.msearch(searches=searches)["responses"]
    answer = proxy.msearch(searches=searches)
    assert answer.meta.headers["X-Rerank-Status"] == "reranked,passthrough"
    assert answer.meta.headers["X-Elastic-Product"] == "Elasticsearch"
    responses = answer["responses"]
    assert [r["status"] for r in responses] == [r["status"] for r in direct] == [200, 200]
    assert shape(responses[0]) == shape(direct[0])
    assert len(responses[0]["hits"]["hits"]) == 3
    assert {k: v for k, v in responses[1].items() if k != "took"} == {k: v for k, v in direct[1].items() if k != "took"}


def test_count_and_scan_are_the_nodes(node, proxy, elasticsearch_corpus):
    query = {"match": {"text": "file"}}
    assert proxy.count(index=elasticsearch_corpus, query=query).body == node.count(index=elasticsearch_corpus,
                                                                                   query=query).body
    scanned = [h["_id"] for h in helpers.scan(proxy, index=elasticsearch_corpus, query={"query": query}, size=2)]
    expected = [h["_id"] for h in helpers.scan(node, index=elasticsearch_corpus, query={"query": query}, size=2)]
    assert sorted(scanned) == sorted(expected) and len(scanned) > 2


def test_errors_are_the_clients_own_classes_with_the_nodes_body(node, proxy, elasticsearch_corpus):
    for call in (lambda es: es.search(index=f"{elasticsearch_corpus}-missing", query={"match": {"text": QUERY}}),
                 lambda es: es.search(index=elasticsearch_corpus,
                                      query={"match": {"text": {"query": QUERY, "operator": "sometimes"}}})):
        with pytest.raises((NotFoundError, BadRequestError)) as direct:
            call(node)
        with pytest.raises(type(direct.value)) as proxied:
            call(proxy)
        assert proxied.value.meta.status == direct.value.meta.status
        assert proxied.value.body == direct.value.body


def test_the_sidecars_own_errors_are_in_elasticsearchs_shape(proxy, elasticsearch_corpus):
    with pytest.raises(BadRequestError) as raised:
        proxy.search(index=elasticsearch_corpus, query={"match": {"text": QUERY}}, ext={"rerank": {"window": -3}})
    body = raised.value.body
    assert body["status"] == 400
    assert body["error"]["root_cause"][0]["type"] == body["error"]["type"]
    assert body["error"]["reason"]


def test_writes_and_index_admin_pass_through(proxy, node, elasticsearch_corpus):
    scratch = f"{elasticsearch_corpus}-writes-{uuid.uuid4().hex[:6]}"
    assert proxy.indices.create(index=scratch, mappings={"properties": {"text": {"type": "text"}}})["acknowledged"]
    try:
        proxy.index(index=scratch, id="one", document={"text": "written through the sidecar"}, refresh=True)
        ok, errors = helpers.bulk(proxy, ({"_index": scratch, "_id": str(i), "text": f"bulk {i}"} for i in range(5)),
                                  refresh=True)
        assert (ok, errors) == (5, [])
        assert node.count(index=scratch)["count"] == 6
        assert proxy.get(index=scratch, id="one")["_source"] == {"text": "written through the sidecar"}
        assert proxy.indices.put_mapping(index=scratch, properties={"tag": {"type": "keyword"}})["acknowledged"]
        assert node.indices.get_mapping(index=scratch)[scratch]["mappings"]["properties"]["tag"] == {
            "type": "keyword"}
    finally:
        assert proxy.indices.delete(index=scratch)["acknowledged"]
    assert not node.indices.exists(index=scratch)


@pytest.mark.parametrize("path", ["/_cat/indices/{index}?v&h=index,docs.count", "/{index}/_mapping",
                                  "/{index}/_settings?flat_settings=true", "/{index}/_doc/d3", "/_cat/plugins",
                                  "/{index}-missing/_doc/1"])
def test_other_requests_pass_through_byte_for_byte(es_node, elasticsearch_sidecar, elasticsearch_corpus, path):
    headers = {"Accept": es_node.media_type}
    target = path.format(index=elasticsearch_corpus)
    direct = requests.get(es_node.url + target, headers=headers, timeout=60)
    proxied = requests.get(elasticsearch_sidecar.url + target, headers=headers, timeout=60)
    assert proxied.status_code == direct.status_code
    assert proxied.headers["Content-Type"] == direct.headers["Content-Type"]
    assert proxied.headers["X-Elastic-Product"] == "Elasticsearch"
    assert proxied.content == direct.content


def test_a_compatible_with_body_is_read_as_json(es_node, elasticsearch_sidecar, elasticsearch_corpus):
    """What the client sends, byte for byte, from a plain HTTP caller: the body is JSON whatever its media type."""
    media = es_node.media_type
    response = requests.post(f"{elasticsearch_sidecar.url}/{elasticsearch_corpus}/_search",
                             data=json.dumps({"query": {"match": {"text": QUERY}}, "size": 3}),
                             headers={"Content-Type": media, "Accept": media}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["X-Rerank-Status"] == "reranked"
    assert response.headers["Content-Type"] == f"application/vnd.elasticsearch+json;compatible-with={es_node.major}"
    assert response.headers["X-Elastic-Product"] == "Elasticsearch"


@pytest.mark.parametrize("route", ["_search", "_msearch"])
def test_a_client_of_a_newer_major_gets_the_nodes_refusal(es_node, elasticsearch_sidecar, elasticsearch_corpus,
                                                          route):
    """A node refuses a `compatible-with` one major newer than its own (the 9.x client, unchanged, to an 8.x node):
    the sidecar does not answer such a search itself, in a media type the node would not give; the client gets
    the node's own 400, byte for byte."""
    newer = es_node.major + 1
    accept = f"application/vnd.elasticsearch+json; compatible-with={newer}"
    if route == "_msearch":
        body = f'{{}}\n{{"query": {{"match": {{"text": "{QUERY}"}}}}}}\n'
        content_type = f"application/vnd.elasticsearch+x-ndjson; compatible-with={newer}"
    else:
        body, content_type = json.dumps({"query": {"match": {"text": QUERY}}}), accept
    answers = [requests.post(f"{url}/{elasticsearch_corpus}/{route}", data=body, timeout=60,
                             headers={"Accept": accept, "Content-Type": content_type})
               for url in (es_node.url, elasticsearch_sidecar.url)]
    direct, proxied = answers
    assert direct.status_code == 400 and direct.json()["error"]["type"] == "media_type_header_exception"
    assert (proxied.status_code, proxied.content) == (direct.status_code, direct.content)
    assert proxied.headers["Content-Type"] == direct.headers["Content-Type"]
    assert proxied.headers.get("X-Rerank-Status") == "passthrough"


def test_the_installed_client_unchanged_gets_from_the_sidecar_what_it_gets_from_the_node(es_node,
                                                                                        elasticsearch_sidecar,
                                                                                        elasticsearch_corpus):
    """The 9.x client as installed: answered by a 9.x node and the sidecar in front of it, refused by an 8.x node
    and by the sidecar in front of it, with the same error."""
    outcomes = []
    for url in (es_node.url, elasticsearch_sidecar.url):
        client = Elasticsearch(url, request_timeout=120)
        try:
            answer = client.search(index=elasticsearch_corpus, query={"match": {"text": QUERY}}, size=3)
            outcomes.append(("answered", len(answer["hits"]["hits"])))
        except BadRequestError as refused:
            outcomes.append(("refused", refused.body))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == ("answered" if es_node.major >= 9 else "refused")

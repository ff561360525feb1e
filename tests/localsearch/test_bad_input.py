"""Bad input gets OpenSearch's error body and status, never a 500 or a trace, and damages nothing stored."""

from __future__ import annotations

import json

import pytest
import requests

BAD_REQUESTS = [
    # (method, path, body, status, error type)
    ("POST", "/{i}/_search", b'{"query": {"match": ', 400, "json_e_o_f_exception"),  # cut short
    ("POST", "/{i}/_search", b'{"query": {"bogus": {}}}', 400, "parsing_exception"),
    ("POST", "/{i}/_search", b'{"query": {"match": {"title": "x"}}, "nope": 1}', 400, "parsing_exception"),
    ("POST", "/{i}/_search", b'{"query": {"nested": {"path": "x", "query": {"match_all": {}}}}}', 400,
     "illegal_argument_exception"),
    ("POST", "/{i}/_search", b'{"collapse": {"field": "title"}}', 400, "illegal_argument_exception"),
    ("POST", "/{i}/_search", b'{"post_filter": "title"}', 400, "parsing_exception"),
    # the shard refuses these: OpenSearch groups them under search_phase_execution_exception
    ("POST", "/{i}/_search", b'{"query": {"knn": {"v": {"vector": [1, 2], "k": 2}}}}', 400,
     "search_phase_execution_exception"),
    ("POST", "/{i}/_search", b'{"query": {"knn": {"title": {"vector": [1, 2, 3], "k": 2}}}}', 400,
     "search_phase_execution_exception"),
    ("POST", "/{i}/_search", b'{"from": 9999, "size": 10}', 400, "search_phase_execution_exception"),
    ("POST", "/{i}/_search", b'{"size": -1}', 400, "illegal_argument_exception"),
    ("POST", "/{i}/_search", b'\xff\xfe{"query"', 400, "json_parse_exception"),
    ("POST", "/{i}/_search", b'[1, 2]', 400, "parsing_exception"),
    ("POST", "/{i}/_search", b'{"query": {"match": {"title": "x", "body": "y"}}}', 400, "parsing_exception"),
    ("POST", "/{i}/_search", b'{"query": {"range": {"n": {"gte": "abc"}}}}', 400,
     "search_phase_execution_exception"),
    ("POST", "/{i}/_search", b'{"query": {"hybrid": {"queries": []}}, "from": 1}', 400, None),
    ("GET", "/missing-index/_search", b"", 404, "index_not_found_exception"),
    ("GET", "/missing-index/_doc/1", b"", 404, "index_not_found_exception"),
    ("PUT", "/{i}/_doc/1", b'{"v": [1, 2]}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'{"v": "zzz"}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'{"n": 1e400}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'{"n": 99999999999999999999999}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'{"_id": "x"}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'[1]', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_doc/1", b'{"title": {"deep": 1}}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_mapping", b'{"properties": {"g": {"type": "geo_point"}}}', 400, "mapper_parsing_exception"),
    ("PUT", "/{i}/_mapping", b'{"properties": {"v": {"type": "knn_vector", "dimension": 4}}}', 400,
     "illegal_argument_exception"),
    ("PUT", "/{i}/_settings", b'{"index": {"knn": false}}', 400, "illegal_argument_exception"),
    ("PUT", "/{i}-new", b'{"settings": {"index": {"bogus_setting": 1}}}', 400, "settings_exception"),
    ("PUT", "/{i}-new2", b'{"mappings": {"properties": {"v": {"type": "knn_vector"}}}}', 400,
     "mapper_parsing_exception"),
    ("POST", "/_bulk", b'{"index": {"_index": "{i}"}}\n', 400, "illegal_argument_exception"),
    ("POST", "/_bulk", b"", 400, "parse_exception"),
    ("POST", "/_bulk", b'{"explode": {}}\n{}\n', 400, "illegal_argument_exception"),
    # OpenSearch parses every item's body first: one that does not parse fails the whole request
    ("POST", "/_msearch", b'{}\n{"query": {"bogus": {}}}\n', 400, "parsing_exception"),
    ("POST", "/_msearch", b'{"index": "missing-index"}\n{"query": {"match_all": {}}}\n', 200, None),
    ("PUT", "/_search/pipeline/p", b'{"phase_results_processors": [{"nope-processor": {}}]}', 400, None),
    ("GET", "/_search/scroll/abc", b"", 400, "illegal_argument_exception"),  # not an id at all
    ("GET", "/_nonexistent_api", b"", 400, "invalid_index_name_exception"),  # read as GET /{index}
    ("DELETE", "/_bulk", b"", 405, None),  # OpenSearch's 405 body has the message as a plain string
    ("POST", "/{i}/_update/1", b'{"script": {"source": "ctx._source.n++"}}', 400, "illegal_argument_exception"),
]


@pytest.fixture
def guarded_index(localsearch_server, index_name):
    client = localsearch_server.client()
    client.indices.create(index=index_name, body={"settings": {"index": {"knn": True}}, "mappings": {"properties": {
        "title": {"type": "text"}, "n": {"type": "integer"},
        "v": {"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "space_type": "l2"}}}}})
    client.index(index=index_name, id="keep", body={"title": "precious", "n": 7, "v": [1, 2, 3]}, refresh=True)
    return localsearch_server.url, index_name


@pytest.mark.parametrize(("method", "path", "body", "status", "error_type"), BAD_REQUESTS,
                         ids=[f"{m} {p} {b[:30]!r}" for m, p, b, *_ in BAD_REQUESTS])
def test_bad_request_gets_opensearch_error(guarded_index, method, path, body, status, error_type):
    url, index = guarded_index
    body = body.replace(b"{i}", index.encode())
    response = requests.request(method, url + path.replace("{i}", index), data=body,
                                headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == status, response.text
    parsed = response.json()
    assert "Traceback" not in response.text
    if status == 405:
        assert parsed["status"] == 405 and parsed["error"].startswith("Incorrect HTTP method for uri")
    elif status >= 400:
        assert parsed["status"] == status
        assert parsed["error"]["type"] and parsed["error"]["reason"]
        if error_type:
            assert parsed["error"]["type"] == error_type, parsed
        if parsed["error"]["root_cause"]:
            assert parsed["error"]["root_cause"][0]["type"]
    else:
        assert parsed["responses"][0]["status"] == 404
        assert parsed["responses"][0]["error"]["type"] == "index_not_found_exception"
    # nothing already stored is damaged
    stored = requests.get(f"{url}/{index}/_doc/keep", timeout=30).json()
    assert stored["_source"] == {"title": "precious", "n": 7, "v": [1, 2, 3]}
    assert requests.get(f"{url}/{index}/_count", timeout=30).json()["count"] == 1


def test_head_requests_have_no_body(localsearch_server, index_name):
    url = localsearch_server.url
    assert requests.head(f"{url}/{index_name}", timeout=10).status_code == 404
    requests.put(f"{url}/{index_name}", timeout=10)
    response = requests.head(f"{url}/{index_name}", timeout=10)
    assert response.status_code == 200 and response.content == b""


def test_huge_body_is_refused(localsearch_server, index_name):
    from localsearch.handlers.api import MAX_BODY_BYTES
    payload = b'{"title": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    response = requests.put(f"{localsearch_server.url}/{index_name}/_doc/1", data=payload,
                            headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == 413
    assert json.loads(response.content)["error"]["type"] == "content_too_long_exception"

"""Bad input, generated (hypothesis): every answer is a well-formed OpenSearch-style body with a fitting status.

In process (fast, hundreds of requests) before the real localsearch, and a few over real HTTP against gunicorn:
bytes no HTTP library would send (invalid UTF-8 in the path, over-long lines and headers), with the same
workers alive afterwards.
"""

from __future__ import annotations

import json
import socket
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import QUERY

INDEX = "e2e-docs"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15)
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=30)
queries = st.one_of(
    st.builds(lambda t: {"match": {"text": t}}, words),
    st.builds(lambda t, f: {"multi_match": {"query": t, "fields": f}}, words, st.lists(st.text(max_size=8), max_size=3)),
    st.builds(lambda t: {"query_string": {"query": t}}, words),
    st.builds(lambda t, extra: {"bool": {"must": [{"match": {"text": t}}], "filter": extra}}, words, json_values),
    json_values)
override_keys = st.sampled_from(["window", "fusion", "score_mode", "explain", "enabled", "query_text", "budget_ms",
                                 "retrieval", "bogus"])
rerank_ext = st.one_of(json_values, st.dictionaries(override_keys, json_values, max_size=4),
                       st.dictionaries(override_keys, st.one_of(
                           st.integers(min_value=-(10**30), max_value=10**30), st.floats(), words,
                           st.sampled_from(["rrf", "min_max", "raw", "blend", "server", "client", "auto"])), max_size=4))
search_keys = st.sampled_from(["query", "size", "from", "sort", "_source", "aggs", "track_total_hits", "min_score",
                               "search_after", "post_filter", "highlight", "explain", "timeout", "collapse"])
search_bodies = st.one_of(
    st.dictionaries(search_keys, json_values, max_size=5),
    st.builds(lambda q, extra, ext: {"query": q, **extra, "ext": {"rerank": ext}}, queries,
              st.dictionaries(search_keys, json_values, max_size=3), rerank_ext),
    json_values)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"{", b'{"size": 1e400}', b'{"size": -1e400}', b'{"from": 99999999999999999999999}',
                     b'{"query": ' + b"[" * 3000, b'{"query": {"match": {"text": "\\ud800"}}}', b"\xff\xfe{}",
                     b'{"size": NaN}', b'{"a": 1, "a": 2}', b"null", b"[]", b'"text"', b"\x00" * 10,
                     # JSON escapes in fields that are not the query text (tests/e2e/test_json_escapes.py: all)
                     b'{"query": {"match": {"\\ud800": "x"}}}', b'{"sort": ["\\ud800"]}', b'{"_source": "\\udfff"}',
                     b'{"ext": {"rerank": {"fusion": "\\ud800"}}}', b'{"query": {"term": {"category": "a\\u0000"}}}',
                     b'{"from": 1' + b"0" * 100 + b"}", b'{"\\ud800": 1}', b'{"aggs": {"\\ud800": {}}}']))


@pytest.fixture(scope="module")
def client(localsearch_server, localsearch_corpus, tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.settings import Limits, Profile, Settings
    settings = Settings(opensearch_url=localsearch_server.url, limits=Limits(max_window=50),
                        defaults=Profile(reranker=str(tiny_cross_encoder), window=5, budget_ms=60000))
    return create_app(settings, warm_up=False).test_client()


def assert_well_formed(response, method: str = "POST") -> None:
    status = response.status_code
    text = response.get_data(as_text=True)
    assert 200 <= status < 600
    assert status != 500, f"an internal error: {text[:500]}"
    assert "Traceback" not in text
    if status < 400 or method == "HEAD":
        return
    body = json.loads(text)
    assert isinstance(body, dict), text[:500]
    error = body["error"]
    if isinstance(error, str):   # OpenSearch's own form for a path or method no handler takes, passed through
        assert body.get("status", status) == status, text[:500]
        return
    assert body.get("status") == status, text[:500]
    assert isinstance(error, dict) and isinstance(error["type"], str) and isinstance(error["reason"], str), text[:500]
    assert isinstance(error.get("root_cause", []), list)


@SETTINGS
@given(body=search_bodies)
def test_search_bodies(client, body):
    for index in (INDEX, "e2e-plain"):
        assert_well_formed(client.post(f"/{index}/_search", json=body))


@SETTINGS
@given(ext=rerank_ext, text=words)
def test_rerank_overrides(client, ext, text):
    response = client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": text or QUERY}},
                                                      "ext": {"rerank": ext}})
    assert_well_formed(response)
    if response.status_code == 200:   # ext.rerank was accepted: it never reaches the cluster's answer
        assert response.headers["X-Rerank-Status"]


@SETTINGS
@given(raw=raw_bodies, route=st.sampled_from([f"/{INDEX}/_search", "/e2e-plain/_search", "/_msearch",
                                               f"/{INDEX}/_msearch", "/_bulk", "/rerank"]))
def test_raw_bodies(client, raw, route):
    response = client.post(route, data=raw, content_type="application/json")
    if route == "/rerank":   # TEI's error shape, by design
        assert response.status_code in (200, 400, 413, 422, 424, 503) and "Traceback" not in response.get_data(True)
        return
    assert_well_formed(response)


ndjson_lines = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40),
                         st.just(json.dumps({"index": INDEX}).encode()),
                         st.just(json.dumps({"query": {"match": {"text": QUERY}}}).encode()))


@SETTINGS
@given(lines=st.lists(ndjson_lines, max_size=8), index=st.sampled_from([None, INDEX, "e2e-plain", "missing"]))
def test_msearch_ndjson(client, lines, index):
    route = f"/{index}/_msearch" if index else "/_msearch"
    response = client.post(route, data=b"\n".join(lines) + b"\n", content_type="application/x-ndjson")
    assert_well_formed(response)
    if response.status_code == 200:
        for item in response.get_json()["responses"]:
            assert isinstance(item.get("status", 200), int) and item.get("status", 200) != 500, item


bulk_actions = st.one_of(
    st.builds(lambda a, i, d: [{a: {"_index": "e2e-fuzzed", "_id": i}}, d],
              st.sampled_from(["index", "create", "update", "delete", "bogus"]), st.text(max_size=10), json_values),
    st.builds(lambda v: [v], json_values))


@SETTINGS
@given(actions=st.lists(bulk_actions, max_size=5), garbage=st.binary(max_size=20))
def test_bulk_ndjson(client, actions, garbage):
    lines = [json.dumps(line).encode() for action in actions for line in action] + [garbage]
    assert_well_formed(client.post("/_bulk", data=b"\n".join(lines) + b"\n", content_type="application/x-ndjson"))


params = st.dictionaries(st.sampled_from(["q", "size", "from", "sort", "_source", "scroll", "explain",
                                          "rest_total_hits_as_int", "track_total_hits", "df", "search_type",
                                          "preference", "timeout", "bogus", "é"]),
                         st.one_of(words, st.integers(min_value=-(10**25), max_value=10**25).map(str)), max_size=4)


# what a query string can carry of a JSON escape: a surrogate's (invalid) UTF-8 bytes, NUL, an overlong number
raw_escapes = st.sampled_from(["%ED%A0%80", "%ED%B3%BF", "a%00b", "1e400", "-1e400", "9" * 100])
raw_queries = st.one_of(
    st.text(alphabet=string.printable + "%é", max_size=40),
    st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["q", "size", "from", "sort", "_source", "df",
                                                                 "timeout", "preference", "track_total_hits"]),
                       raw_escapes), min_size=1, max_size=3).map("&".join))


@SETTINGS
@given(query=params, raw=raw_queries)
def test_query_strings(client, query, raw):
    from urllib.parse import urlencode
    for target in (f"/{INDEX}/_search?{urlencode(query)}", f"/{INDEX}/_search?{raw}", f"/_cat/indices?{raw}"):
        assert_well_formed(client.get(target), "GET")


header_names = st.sampled_from(["X-Rerank", "X-Opaque-Id", "X-Request-Id", "Content-Type", "Accept", "Authorization",
                                "Accept-Encoding", "Connection", "X-Custom"])


@SETTINGS
@given(headers=st.dictionaries(header_names, st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255),
                                                     max_size=300), max_size=4))
def test_headers(client, headers):
    headers.pop("Content-Type", None) if headers.get("Content-Type", "").lower().startswith("multipart") else None
    assert_well_formed(client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": QUERY}}}, headers=headers))


segments = st.one_of(st.sampled_from(["..", ".", "%2e%2e", "%2E%2E%2F", "_search", "_msearch", "_bulk", "*", "_all",
                                      "e2e-docs", "-", "..%2f..", "%00", "%ff", "é", "中文", "%", "%ED%A0%80",
                                      "e2e-docs%00"]),
                     st.text(max_size=12).map(lambda t: quote(t, safe="")))


@SETTINGS
@given(parts=st.lists(segments, min_size=1, max_size=5),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]))
def test_paths(client, parts, method):
    if method == "DELETE" and any("*" in p or "_all" in p or p == INDEX for p in parts):
        return   # wiping the shared corpus index is not bad input, it is an admin's right
    if method in ("PUT", "POST") and len(parts) == 1:
        return   # creates an index (the cluster decides); not what is tested here
    target = "/" + "/".join(parts).lstrip("/")   # (a leading "//" would be a host to the test client)
    response = client.open(target, method=method)
    assert_well_formed(response, method)


def test_the_app_is_still_healthy(client):
    assert client.get("/-/healthy").status_code == 200
    assert client.post(f"/{INDEX}/_search", json={"query": {"match": {"text": QUERY}}}).status_code == 200


# ---- over real HTTP: what only a socket can send -------------------------------------------------------

def raw_request(url: str, request: bytes) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def workers_of(pid: int) -> list[int]:
    return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


@pytest.mark.parametrize("request_bytes, status", [
    # raw non-ASCII bytes in the request line are refused by gunicorn (RFC 9112 allows it; clients percent-encode)
    (b"GET /\xff\xfe/_search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    (b"GET /e2e-docs/_search?q=\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None),
    (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"POST /e2e-docs/_search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),   # the node drops the connection
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
], ids=["utf8-path", "utf8-query", "traversal", "encoded-traversal", "long-line", "long-header", "many-headers",
        "bad-chunk", "unknown-method", "bad-version"])
def test_bytes_only_a_socket_sends(backend, sidecar, request_bytes, status):
    """What gunicorn refuses is answered in OpenSearch's error format; what it lets through is the cluster's to
    answer (status None), and the answer is the cluster's own for the same bytes."""
    before = workers_of(sidecar.process.pid)
    code, body = raw_request(sidecar.url, request_bytes)
    assert 400 <= code < 500, (code, body)
    if status is None:
        assert (code, body) == raw_request(backend.url, request_bytes)
    else:
        assert code == status
        assert body["status"] == code and isinstance(body["error"]["type"], str)
        assert isinstance(body["error"]["reason"], str)
    assert workers_of(sidecar.process.pid) == before   # no worker died or was replaced


def test_a_chunked_body_past_the_limit_is_refused_while_it_streams(start_sidecar, localsearch_server, localsearch_corpus,
                                                                   tiny_cross_encoder):
    import requests
    server = start_sidecar(localsearch_server.url, reranker=str(tiny_cross_encoder),
                           config={"limits": {"max_body_bytes": 100_000}})
    sent = []

    def body():
        yield b'{"query": {"match": {"text": "'
        for _ in range(1000):   # 10 MB if it were all read
            sent.append(1)
            yield b"x" * 10_000
        yield b'"}}}'

    response = requests.post(f"{server.url}/{INDEX}/_search", data=body(), timeout=60,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "content_too_long_exception"

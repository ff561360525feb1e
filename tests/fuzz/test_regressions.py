"""Inputs that once crashed a parser (found by the hypothesis tests and the fuzzing run), kept as regressions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sidecar.plan import SearchPlan, plan_search, valid_text
from tests.conftest import REPO


def test_a_lone_surrogate_in_query_text_is_replaced_not_passed_to_the_tokenizer():
    body = json.loads('{"query": {"match": {"text": "caf\\ud800e"}}}')   # valid JSON, not a valid string
    plan = plan_search(body, {}, {}, profile_window=10, max_window=100)
    assert isinstance(plan, SearchPlan)
    assert plan.query_text == "caf\ufffde"
    plan.query_text.encode("utf-8")   # what every tokenizer and HTTP client does with it
    assert valid_text("plain") == "plain" and valid_text("\udcff") == "\ufffd"
    assert valid_text("a\U0001f600b") == "a\U0001f600b"   # real characters beyond the BMP stay


@pytest.mark.parametrize("body", [{"min_score": []}, {"size": 1e400}, {"from": -1e400}, {"sort": None, "min_score": {}},
                                  {"query": {"bool": {"must": 3}}},
                                  {"track_total_hits": []}, {"query": {"range": {"n": {"gte": []}}}}])
def test_localsearch_answers_400_for_wrongly_typed_search_json(tmp_path, body):
    from werkzeug.test import Client

    from localsearch.engine import Engine
    from localsearch.http import LocalsearchApp
    engine = Engine(tmp_path)
    try:
        client = Client(LocalsearchApp(engine))
        client.put("/idx", json={"mappings": {"properties": {"text": {"type": "text"}, "n": {"type": "long"}}}})
        client.put("/idx/_doc/1?refresh=true", json={"text": "hello", "n": 1})
        for path in ("/idx/_search", "/idx/_count"):
            if path.endswith("_count") and set(body) - {"query"}:
                continue
            response = client.post(path, json=body)
            assert 400 <= response.status_code < 500, (path, response.get_data(as_text=True))
            assert isinstance(response.get_json()["error"]["type"], str)
    finally:
        engine.close()


def test_the_json_error_pages_of_the_gunicorn_worker():
    import socket

    from sidecar.gunicorn_worker import rejection_body, write_opensearch_error
    left, right = socket.socketpair()
    with left, right:
        write_opensearch_error(left, 414, "URI Too Long", "line too long: 9000 bytes")
        left.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := right.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 URI Too Long") and b"application/json" in head
    answer = json.loads(body)
    assert answer["status"] == 414 and answer["error"]["type"] == "too_long_http_line_exception"
    assert rejection_body(8)["error"]["root_cause"][0]["type"] == "rejected_execution_exception"


@pytest.mark.slow
def test_a_short_fuzzing_run_finds_no_crash(tmp_path):
    """The CI part of `make fuzz`: 10 seconds of atheris over the request parsers, seeded."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run([sys.executable, "tests/fuzz/fuzz_parsing.py", "-max_total_time=10", "-rss_limit_mb=3000",
                             f"-artifact_prefix={tmp_path}/crash-", str(corpus), "tests/fuzz/seeds"],
                            cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr and not list(tmp_path.glob("crash-*"))


def test_localsearch_takes_lone_surrogates_in_documents_ids_and_terms_as_the_node_does(tmp_path):
    """Valid JSON escapes no UTF-8 holds: the node writes and matches them (as U+FFFD, Lucene's UTF-8 of a lone
    surrogate); localsearch answered 500 to the writes and 400 to an `ids` query, and refuses them only in field
    names, as Jackson does."""
    from werkzeug.test import Client

    from localsearch.engine import Engine
    from localsearch.http import LocalsearchApp
    engine = Engine(tmp_path)
    try:
        client = Client(LocalsearchApp(engine))
        client.put("/idx", json={"mappings": {"properties": {"text": {"type": "text"}, "k": {"type": "keyword"}}}})
        written = client.put("/idx/_doc/1?refresh=true", data=b'{"text": "a\\ud800b", "k": "\\udc00"}',
                             content_type="application/json")
        assert written.status_code == 201, written.get_data(as_text=True)
        bulk = client.post("/_bulk?refresh=true", data=b'{"index": {"_index": "idx", "_id": "\\ud800"}}\n{"k": "x"}\n',
                           content_type="application/x-ndjson")
        assert bulk.status_code == 200 and not bulk.get_json()["errors"], bulk.get_data(as_text=True)
        for query, hits in ((b'{"ids": {"values": ["\\ud800"]}}', 1), (b'{"term": {"k": "\\udfff"}}', 1),
                            (b'{"match": {"text": "\\ud800"}}', 0)):
            found = client.post("/idx/_search", data=b'{"query": ' + query + b"}", content_type="application/json")
            assert found.status_code == 200, found.get_data(as_text=True)
            assert found.get_json()["hits"]["total"]["value"] == hits, (query, found.get_json())
        refused = client.post("/idx/_search", data=b'{"query": {"term": {"\\ud800": "x"}}}',
                              content_type="application/json")
        assert refused.status_code == 400 and refused.get_json()["error"]["type"] == "json_parse_exception"
    finally:
        engine.close()

"""Error bodies, differential: a missing index, a query that does not parse, a value a field cannot take, and
unreadable JSON get the same status, error type and root cause from both engines, on every endpoint."""

from __future__ import annotations

import pytest

from tests.differential.harness import assert_same_error

pytestmark = pytest.mark.opensearch

MISSING = "diff-no-such-index"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", f"/{MISSING}/_search", {"query": {"match_all": {}}}),
    ("POST", f"/{MISSING},also-missing/_search", None),
    ("POST", f"/{MISSING}/_count", None),
    ("GET", f"/{MISSING}/_doc/1", None),
    ("DELETE", f"/{MISSING}/_doc/1", None),
    ("POST", f"/{MISSING}/_update/1", {"doc": {"a": 1}}),
    ("GET", f"/{MISSING}/_mapping", None),
    ("PUT", f"/{MISSING}/_mapping", {"properties": {"a": {"type": "text"}}}),
    ("POST", f"/{MISSING}/_refresh", None),
    ("DELETE", f"/{MISSING}", None),
    ("GET", f"/{MISSING}/_alias", None),
], ids=lambda v: v if isinstance(v, str) else "")
def test_missing_index(pair, method, path, body):
    try:
        assert_same_error(*pair.send(method, path, body))
    finally:
        pair.send("DELETE", f"/{MISSING}")  # an update creates the index (then misses the document) on both


def test_missing_index_ignored_when_asked(pair, corpus):
    local, reference = pair.search(f"{corpus},{MISSING}", {"size": 0}, {"ignore_unavailable": "true"})
    assert local.status == reference.status == 200
    assert local.body["hits"]["total"] == reference.body["hits"]["total"]
    local, reference = pair.search("diff-nothing-matches-*", {"size": 0})
    assert local.status == reference.status == 200
    assert local.body["hits"]["total"] == reference.body["hits"]["total"]


BAD_QUERIES = {
    "unknown query": {"bogus": {}},
    "unknown query inside bool": {"bool": {"must": [{"bogus": {}}]}},
    "unknown query deep inside bool": {"bool": {"filter": {"bool": {"should": [{"bogus": {}}]}}}},
    "unknown query inside constant_score": {"constant_score": {"filter": {"bogus": {}}}},
    "two queries in one object": {"match": {"title": "a"}, "term": {"tag": "b"}},
    "match on two fields": {"match": {"title": "a", "body": "b"}},
    "unknown match option": {"match": {"title": {"query": "a", "bogus": 1}}},
    "unknown match option inside bool": {"bool": {"must": [{"match": {"title": {"query": "a", "bogus": 1}}}]}},
    "match without text": {"match": {"title": {}}},
    "query not an object": ["match_all"],
    "empty query": {},
    "text into a number": {"match": {"n": "abc"}},
    "text into a number, in a filter": {"bool": {"filter": [{"term": {"n": "abc"}}]}},
    "text into a date": {"range": {"day": {"gte": "yesterday"}}},
    "text into a boolean": {"term": {"flag": "maybe"}},
    "multi_match over a number": {"multi_match": {"query": "vector", "fields": ["body", "n"]}},
    "terms not a list": {"terms": {"tag": "red"}},
    "exists without a field": {"exists": {}},
}


@pytest.mark.parametrize("query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_query(pair, corpus, query):
    local, reference = pair.search(corpus, {"query": query})
    assert reference.status >= 400, reference.body
    assert_same_error(local, reference)


BAD_BODIES = {
    "unknown key": {"query": {"match_all": {}}, "bogus": 1},
    "body is a list": [1, 2],
    "unknown aggregation": {"aggs": {"x": {"bogus": {}}}},
    "aggregation on a text field": {"size": 0, "aggs": {"x": {"terms": {"field": "body"}}}},
    "numeric aggregation on a keyword": {"size": 0, "aggs": {"x": {"avg": {"field": "tag"}}}},
    "aggregation with two types": {"aggs": {"x": {"terms": {"field": "tag"}, "avg": {"field": "n"}}}},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_search_body(pair, corpus, body):
    assert_same_error(*pair.search(corpus, body))


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/{i}/_search"), ("POST", "/{i}/_count"), ("PUT", "/{i}/_doc/x"), ("POST", "/{i}/_update/0"),
    ("PUT", "/{i}/_mapping"), ("PUT", "/{i}/_settings"), ("POST", "/_aliases"), ("PUT", "/_search/pipeline/diff-x"),
    ("POST", "/_search/scroll"), ("PUT", "/diff-malformed-index"),
], ids=lambda v: v)
@pytest.mark.parametrize("payload", [b"{not json", b'{"a": ', b"\xff\xfe{}"], ids=["bad token", "cut short",
                                                                                 "not UTF-8"])
def test_malformed_json(pair, corpus, method, path, payload):
    assert_same_error(*pair.send(method, path.replace("{i}", corpus), payload))


@pytest.mark.parametrize(("method", "path"), [("GET", "/_no_such_api"), ("DELETE", "/_bulk"),
                                              ("PUT", "/_search"), ("GET", "/{i}/_no_such_api")],
                         ids=["unknown API", "wrong method", "wrong method on search", "unknown index API"])
def test_unknown_endpoints(pair, corpus, method, path):
    local, reference = pair.send(method, path.replace("{i}", corpus))
    assert local.status == reference.status
    if reference.error_type:
        assert_same_error(local, reference)

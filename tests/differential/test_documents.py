"""Documents, differential: `_doc` index/get/delete, `_bulk` with good and bad items, versions, aliases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.differential.harness import Reply, assert_same_error, describe

pytestmark = pytest.mark.opensearch

MAPPING = {"settings": {"index": {"knn": True}}, "mappings": {"properties": {
    "title": {"type": "text"}, "n": {"type": "integer"}, "day": {"type": "date"}, "flag": {"type": "boolean"},
    "v": {"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"}}}}}
VOLATILE = {"took", "_primary_term", "index_uuid", "_shards"}


def comparable(body: Any) -> Any:
    """A write's answer without what differs by design between two clusters (timings, uuids, shard counts) and
    with auto-generated ids replaced by their presence."""
    if isinstance(body, dict):
        out = {k: comparable(v) for k, v in body.items() if k not in VOLATILE}
        if "_id" in out and isinstance(out["_id"], str) and len(out["_id"]) == 20 and "auto" in str(out.get("_index")):
            out["_id"] = "<generated>"
        return out
    if isinstance(body, list):
        return [comparable(v) for v in body]
    return body


def same_write(local: Reply, reference: Reply) -> None:
    """The same status and the same result, version, sequence number and error types."""
    assert local.status == reference.status, describe(local, reference)
    if reference.status >= 400:
        assert_same_error(local, reference)
    else:
        assert comparable(local.body) == comparable(reference.body), describe(local, reference)


@pytest.fixture
def index(pair, indices):
    name = indices.name()
    pair.ok("PUT", f"/{name}", MAPPING)
    return name


def test_document_life_cycle(pair, index):
    steps = [
        ("PUT", f"/{index}/_doc/1", {"title": "hello world", "n": 1}, None),
        ("PUT", f"/{index}/_doc/1", {"title": "hello again", "n": 2}, None),
        ("GET", f"/{index}/_doc/1", None, None),
        ("GET", f"/{index}/_doc/1", None, {"_source_includes": "title"}),
        ("GET", f"/{index}/_doc/1", None, {"_source": "false"}),
        ("GET", f"/{index}/_source/1", None, None),
        ("HEAD", f"/{index}/_doc/1", None, None),
        ("POST", f"/{index}/_update/1", {"doc": {"flag": True}}, None),
        ("POST", f"/{index}/_update/1", {"doc": {"flag": True}}, None),
        ("PUT", f"/{index}/_create/1", {"title": "dup"}, None),
        ("PUT", f"/{index}/_doc/1", {"n": 3}, {"if_seq_no": 0, "if_primary_term": 1}),
        ("DELETE", f"/{index}/_doc/1", None, None),
        ("DELETE", f"/{index}/_doc/1", None, None),
        ("GET", f"/{index}/_doc/1", None, None),
        ("PUT", f"/{index}/_doc/1", {"title": "back"}, None),
        ("POST", f"/{index}/_update/missing", {"doc": {"n": 1}}, None),
        ("POST", f"/{index}/_update/up", {"doc": {"n": 1}, "doc_as_upsert": True}, None),
        ("PUT", f"/{index}/_doc/2", {"title": "refresh me"}, {"refresh": "true"}),
        ("PUT", f"/{index}/_doc/3", {"title": "wait for me"}, {"refresh": "wait_for"}),
        ("GET", f"/{index}/_count", None, None),
    ]
    for method, path, body, params in steps:
        local, reference = pair.send(method, path, body, params)
        same_write(local, reference)


BAD_DOCUMENTS = {
    "not a number": {"n": "abc"},
    "integer out of range": {"n": 99_999_999_999},
    "not a date": {"day": "yesterday"},
    "not a boolean": {"flag": "yes"},
    "object into text": {"title": {"a": 1}},
    "vector of the wrong dimension": {"v": [1, 2]},
    "vector of strings": {"v": "abc"},
    "metadata field": {"_id": "x"},
    "not an object": [1, 2],
    "malformed JSON": "{not json",
    "empty body": None,
}


@pytest.mark.parametrize("body", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_bad_documents_are_refused_the_same(pair, index, body):
    assert_same_error(*pair.send("PUT", f"/{index}/_doc/bad", body))


GOOD_DOCUMENTS = {
    "float into an integer": {"n": 1.7},
    "numeric string": {"n": "42"},
    "date as epoch millis": {"day": 1704067200000},
    "date without time": {"day": "2024-01-05"},
    "boolean as string": {"flag": "true"},
    "array of values": {"title": ["a", "b"], "n": [1, 2]},
    "nulls": {"title": None, "v": None},
    "vector of numeric strings": {"v": ["1", "2", "3"]},
    "new fields": {"extra": "x", "nested": {"deep": 1}},
}


@pytest.mark.parametrize("body", GOOD_DOCUMENTS.values(), ids=GOOD_DOCUMENTS.keys())
def test_documents_are_accepted_the_same(pair, index, body):
    same_write(*pair.send("PUT", f"/{index}/_doc/good", body, {"refresh": "true"}))
    same_write(*pair.send("GET", f"/{index}/_doc/good"))
    local, reference = pair.send("GET", f"/{index}/_mapping")
    assert local.body == reference.body, describe(local, reference)


def test_bulk_with_good_and_bad_items(pair, index):
    auto = f"diff-auto-{index[-8:]}"
    lines = [{"index": {"_index": index, "_id": "10"}}, {"title": "good", "n": 1},
             {"index": {"_index": index, "_id": "11"}}, {"n": "bad"},
             {"create": {"_index": index, "_id": "10"}}, {"title": "duplicate"},
             {"create": {"_index": index, "_id": "12"}}, {"v": [1, 2]},
             {"update": {"_index": index, "_id": "10"}}, {"doc": {"n": 5}},
             {"update": {"_index": index, "_id": "404"}}, {"doc": {"n": 5}},
             {"update": {"_index": index, "_id": "10"}}, {"doc": {"n": 5}},
             {"delete": {"_index": index, "_id": "10"}},
             {"delete": {"_index": index, "_id": "10"}},
             {"index": {"_index": "Diff-Bad-Name", "_id": "1"}}, {"x": 1},
             {"index": {"_index": index, "_id": "13"}}, {"v": [1, 2, 3], "title": "with a vector"},
             {"index": {"_index": index}}, {"title": "generated id"},
             {"index": {"_index": auto, "_id": "1"}}, {"title": "auto-created index"}]
    try:
        local, reference = pair.send("POST", "/_bulk", lines, {"refresh": "true"}, ndjson=True)
        assert local.status == reference.status == 200, describe(local, reference)
        assert local.body["errors"] is reference.body["errors"] is True
        for mine, real in zip(local.body["items"], reference.body["items"], strict=True):
            (action, ours), (real_action, theirs) = next(iter(mine.items())), next(iter(real.items()))
            assert action == real_action
            assert (ours["status"], ours.get("result"), ours.get("_version"), ours.get("_seq_no")) == \
                (theirs["status"], theirs.get("result"), theirs.get("_version"), theirs.get("_seq_no")), \
                f"{mine}\n{real}"
            assert ours.get("error", {}).get("type") == theirs.get("error", {}).get("type"), f"{mine}\n{real}"
        same_write(*pair.send("GET", f"/{index}/_count"))
        local, reference = pair.send("GET", f"/{auto}/_mapping")
        assert local.body == reference.body, describe(local, reference)
    finally:
        pair.send("DELETE", f"/{auto}")


@pytest.mark.parametrize("payload", [
    '{"index": {"_index": "%s"}}\n{"n": 1}\n"oops"\n',
    '{"bogus": {"_index": "%s"}}\n{"n": 1}\n',
    '{"index": {"_index": "%s"}}\n{"n": 1}',
    '{"index": {"_index": ["%s"]}}\n{"n": 1}\n',
    "",
], ids=["malformed action line", "unknown action", "no final newline", "index as a list", "empty body"])
def test_bulk_requests_refused_the_same(pair, index, payload):
    body = payload % index if "%s" in payload else payload
    local, reference = pair.send("POST", "/_bulk", body, ndjson=True)
    assert_same_error(local, reference)


def test_bulk_item_with_malformed_source(pair, index):
    local, reference = pair.send("POST", "/_bulk", '{"index": {"_index": "%s"}}\n{bad\n' % index, ndjson=True)
    assert local.status == reference.status == 200
    ours, theirs = (next(iter(r.body["items"][0].values())) for r in (local, reference))
    assert (ours["status"], ours["error"]["type"], ours["error"]["caused_by"]["type"]) == \
        (theirs["status"], theirs["error"]["type"], theirs["error"]["caused_by"]["type"])
    assert len(ours["_id"]) == len(theirs["_id"]) == 20  # an id is generated before the source is read


def test_aliases(pair, indices):
    old, new, alias = indices.name("v1"), indices.name("v2"), indices.name("live")
    for name, title in ((old, "old"), (new, "new")):
        pair.ok("PUT", f"/{name}", MAPPING)
        pair.ok("PUT", f"/{name}/_doc/1", {"title": title}, {"refresh": "true"})
    steps = [
        ("POST", "/_aliases", {"actions": [{"add": {"index": old, "alias": alias}}]}),
        ("GET", f"/_alias/{alias}", None),
        ("GET", f"/{alias}/_doc/1", None),
        ("POST", "/_aliases", {"actions": [{"remove": {"index": old, "alias": alias}},
                                           {"add": {"index": new, "alias": alias}}]}),
        ("GET", f"/{old}/_alias", None),
        ("GET", f"/{new}/_alias/{alias}", None),
        ("PUT", f"/{alias}/_doc/2", {"title": "through the alias"}),
        ("POST", "/_aliases", {"actions": [{"add": {"index": old, "alias": alias}}]}),
        ("PUT", f"/{alias}/_doc/3", {"title": "two indices, no write index"}),
        ("POST", "/_aliases", {"actions": [{"remove": {"index": old, "alias": "diff-no-such-alias"}}]}),
        ("GET", "/_alias/diff-no-such-alias", None),
        ("POST", "/_aliases", {"actions": [{"add": {"index": "diff-no-such-index", "alias": alias}}]}),
        ("POST", "/_aliases", {"actions": []}),
        ("POST", "/_aliases", {"actions": [{"bogus": {"index": old, "alias": alias}}]}),
        ("PUT", f"/{alias}", None),
        ("DELETE", f"/{old}/_alias/{alias}", None),
    ]
    for method, path, body in steps:
        local, reference = pair.send(method, path, body)
        if reference.status >= 400:
            assert local.status == reference.status, describe(local, reference)
            if reference.error_type is not None:
                assert_same_error(local, reference)
        else:
            same_write(local, reference)
    local, reference = pair.search(alias, {"query": {"match_all": {}}})
    assert sorted(local.ids) == sorted(reference.ids), describe(local, reference)


def test_an_index_replaced_by_an_alias_of_its_name(pair, indices):
    """One _aliases call adds an alias named like an index and removes that index (ingest's --replace-index)."""
    old, new = indices.name("old"), indices.name("new")
    for name in (old, new):
        pair.ok("PUT", f"/{name}", MAPPING)
    pair.ok("PUT", f"/{new}/_doc/1", {"title": "new"}, {"refresh": "true"})
    local, reference = pair.send("POST", "/_aliases", {"actions": [{"add": {"index": new, "alias": old}},
                                                                   {"remove_index": {"index": old}}]})
    same_write(local, reference)
    for path in (f"/_alias/{old}", f"/{old}/_count"):
        local, reference = pair.send("GET", path)
        assert (local.status, local.body.get("count", local.body)) == \
            (reference.status, reference.body.get("count", reference.body)), describe(local, reference)
    pair.send("POST", "/_aliases", {"actions": [{"remove": {"index": new, "alias": old}}]})

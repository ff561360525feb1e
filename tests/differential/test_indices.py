"""Indices and mappings, differential: creation (settings, mappings, k-NN fields), wrong mappings, get and put
mapping, settings, refresh."""

from __future__ import annotations

import pytest

from tests.differential.harness import assert_same_error, describe

pytestmark = pytest.mark.opensearch

KNN = {"settings": {"index": {"knn": True}}}


def vector(method: dict | None = None, **extra: object) -> dict:
    spec: dict = {"type": "knn_vector", "dimension": 3, **extra}
    if method is not None:
        spec["method"] = method
    return {**KNN, "mappings": {"properties": {"v": spec}}}


LUCENE_L2 = {"name": "hnsw", "engine": "lucene", "space_type": "l2"}

ACCEPTED = {
    "no body": None,
    "settings only": {"settings": {"index": {"number_of_replicas": 0, "refresh_interval": "5s"}}},
    "flat settings": {"settings": {"index.refresh_interval": "2s", "number_of_shards": 1}},
    "text with a keyword subfield": {"mappings": {"properties": {
        "t": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 10}}}}}},
    "every supported type": {"mappings": {"properties": {
        "a": {"type": "text"}, "b": {"type": "keyword"}, "c": {"type": "long"}, "d": {"type": "integer"},
        "e": {"type": "short"}, "f": {"type": "byte"}, "g": {"type": "double"}, "h": {"type": "float"},
        "i": {"type": "half_float"}, "j": {"type": "scaled_float", "scaling_factor": 100}, "k": {"type": "date"},
        "l": {"type": "boolean"}, "m": {"properties": {"n": {"type": "keyword"}}}}}},
    "dotted field names": {"mappings": {"properties": {"a.b": {"type": "text"}}}},
    "_meta and dynamic strict": {"mappings": {"dynamic": "strict", "_meta": {"model": "m", "dimension": 3},
                                              "properties": {"t": {"type": "text"}}}},
    "date with the default format": {"mappings": {"properties": {"d": {"type": "date",
                                                                       "format": "strict_date_optional_time"}}}},
    "parameters at their defaults": {"mappings": {"properties": {
        "t": {"type": "text", "norms": True, "index": True, "analyzer": "standard"},
        "k": {"type": "keyword", "doc_values": True, "store": False}}}},
    "knn lucene l2": vector(LUCENE_L2),
    "knn lucene cosine, parameters": vector({"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
                                             "parameters": {"m": 8, "ef_construction": 64}}),
    "knn lucene innerproduct": vector({"name": "hnsw", "engine": "lucene", "space_type": "innerproduct"}),
    "knn lucene, default space": vector({"name": "hnsw", "engine": "lucene"}),
    "knn dimension as a string": vector(LUCENE_L2, dimension="3"),
    "knn space_type beside the method": vector(LUCENE_L2, space_type="l2"),
    "knn without index.knn, no method": {"mappings": {"properties": {"v": {"type": "knn_vector", "dimension": 3}}}},
    "custom folding analyzer": {"settings": {"index": {"analysis": {"analyzer": {"folded": {
        "type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}}},
        "mappings": {"properties": {"t": {"type": "text", "analyzer": "folded"}}}},
    "aliases": {"aliases": {"diff-alias-of-a-created-index": {}}},
}

REFUSED = {
    "unknown field type": {"mappings": {"properties": {"x": {"type": "bogus"}}}},
    "unknown subfield type": {"mappings": {"properties": {"x": {"type": "text", "fields": {"k": {"type": "bogus"}}}}}},
    "unknown parameter": {"mappings": {"properties": {"x": {"type": "text", "bogus": 1}}}},
    "unknown object parameter": {"mappings": {"properties": {"x": {"type": "object", "bogus": 1}}}},
    "unknown root parameter": {"mappings": {"bogus": 1}},
    "field not an object": {"mappings": {"properties": {"x": "text"}}},
    "empty field name": {"mappings": {"properties": {"": {"type": "text"}}}},
    "bad boolean parameter": {"mappings": {"properties": {"x": {"type": "text", "index": "nope"}}}},
    "ignore_above not a number": {"mappings": {"properties": {"x": {"type": "keyword", "ignore_above": "abc"}}}},
    "scaled_float without a factor": {"mappings": {"properties": {"x": {"type": "scaled_float"}}}},
    "dynamic not a value": {"mappings": {"dynamic": "bogus"}},
    "unknown top-level key": {"bogus": 1},
    "unknown setting": {"settings": {"index": {"bogus": 1}}},
    "zero shards": {"settings": {"index": {"number_of_shards": 0}}},
    "bad refresh_interval": {"settings": {"index": {"refresh_interval": "abc"}}},
    "knn not a boolean": {"settings": {"index": {"knn": "yes"}}},
    "knn without a dimension": vector(LUCENE_L2, dimension=None),
    "knn dimension zero": vector(LUCENE_L2, dimension=0),
    "knn dimension too large": vector(LUCENE_L2, dimension=16_001),
    "knn method without index.knn": {"mappings": {"properties": {"v": {"type": "knn_vector", "dimension": 3,
                                                                       "method": LUCENE_L2}}}},
    "knn nmslib (refused on 3.x)": vector({"name": "hnsw", "engine": "nmslib", "space_type": "l2"}),
    "knn unknown engine": vector({"name": "hnsw", "engine": "bogus", "space_type": "l2"}),
    "knn unknown space": vector({"name": "hnsw", "engine": "lucene", "space_type": "bogus"}),
    "knn method without a name": vector({"engine": "lucene", "space_type": "l2"}),
    "knn unknown method key": vector({**LUCENE_L2, "bogus": 1}),
    "knn unknown hnsw parameter": vector({**LUCENE_L2, "parameters": {"bogus": 4}}),
    "knn lucene ef_search": vector({**LUCENE_L2, "parameters": {"ef_search": 10}}),
    "knn m zero": vector({**LUCENE_L2, "parameters": {"m": 0}}),
    "knn m not an integer": vector({**LUCENE_L2, "parameters": {"m": "8"}}),
    "knn conflicting space types": vector(LUCENE_L2, space_type="innerproduct"),
    "knn method and model": vector(LUCENE_L2, model_id="m"),
    "knn unknown parameter": vector(LUCENE_L2, bogus=1),
    "invalid name": "Diff-Upper",
    "malformed JSON": "{not json",
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_index_is_created_the_same(pair, indices, body):
    name = indices.name()
    local, reference = pair.send("PUT", f"/{name}", body)
    assert local.status == reference.status == 200, describe(local, reference)
    assert local.body == reference.body
    for path in (f"/{name}/_mapping", f"/{name}/_alias"):
        local, reference = pair.send("GET", path)
        assert (local.status, local.body) == (reference.status, reference.body), describe(local, reference)
    local, reference = pair.send("GET", f"/{name}/_settings")
    ours, theirs = (r.body[name]["settings"]["index"] for r in (local, reference))
    for key in ("number_of_shards", "number_of_replicas", "refresh_interval", "knn", "analysis", "provided_name"):
        assert ours.get(key) == theirs.get(key), f"[{key}]" + describe(local, reference)


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_index_is_refused_the_same(pair, indices, body):
    name = indices.name() if body != "Diff-Upper" else "Diff-Upper"
    local, reference = pair.send("PUT", f"/{name}", None if body == "Diff-Upper" else body)
    assert_same_error(local, reference)


def test_existing_index_and_missing_index(pair, indices):
    name = indices.name()
    pair.ok("PUT", f"/{name}")
    assert_same_error(*pair.send("PUT", f"/{name}"))
    for method, path in (("GET", "/diff-no-such-index"), ("DELETE", "/diff-no-such-index"),
                         ("GET", "/diff-no-such-index/_mapping"), ("GET", "/diff-no-such-index/_settings"),
                         ("POST", "/diff-no-such-index/_refresh"), ("PUT", "/diff-no-such-index/_mapping")):
        local, reference = pair.send(method, path, {"properties": {}} if method == "PUT" else None)
        assert_same_error(local, reference)
    local, reference = pair.send("HEAD", "/diff-no-such-index")
    assert local.status == reference.status == 404


PUT_MAPPING = {
    "new field": ({"properties": {"extra": {"type": "keyword"}}}, True),
    "new subfield": ({"properties": {"title": {"type": "text", "fields": {"raw": {"type": "keyword"}}}}}, True),
    "same field again": ({"properties": {"title": {"type": "text"}}}, True),
    "new vector field": ({"properties": {"v2": {"type": "knn_vector", "dimension": 2, "method": LUCENE_L2}}}, True),
    "_meta": ({"_meta": {"model": "x"}}, True),
    "type change": ({"properties": {"title": {"type": "keyword"}}}, False),
    "dimension change": ({"properties": {"v": {"type": "knn_vector", "dimension": 4, "method": LUCENE_L2}}}, False),
    "unknown type": ({"properties": {"x": {"type": "bogus"}}}, False),
    "unknown parameter": ({"properties": {"x": {"type": "text", "bogus": 1}}}, False),
    "malformed": ("{nope", False),
    "empty body": (None, False),
}


@pytest.mark.parametrize(("body", "accepted"), PUT_MAPPING.values(), ids=PUT_MAPPING.keys())
def test_put_mapping(pair, indices, body, accepted):
    name = indices.name()
    pair.ok("PUT", f"/{name}", {**KNN, "mappings": {"properties": {
        "title": {"type": "text"}, "v": {"type": "knn_vector", "dimension": 3, "method": LUCENE_L2}}}})
    local, reference = pair.send("PUT", f"/{name}/_mapping", body)
    if not accepted:
        assert_same_error(local, reference)
    else:
        assert local.status == reference.status == 200 and local.body == reference.body, describe(local, reference)
    assert pair.local.send("GET", f"/{name}/_mapping").body == pair.reference.send("GET", f"/{name}/_mapping").body


def test_dynamic_mapping_maps_documents_the_same(pair, indices):
    name = indices.name()
    doc = {"text": "hello", "count": 3, "ratio": 0.5, "ok": True, "when": "2024-03-01T10:00:00Z",
           "day": "2024-03-01", "nested": {"word": "x", "n": 1}, "list": ["a", "b"], "nothing": None,
           "numbers": [1, 2]}
    pair.ok("PUT", f"/{name}/_doc/1", doc, {"refresh": "true"})
    local, reference = pair.send("GET", f"/{name}/_mapping")
    assert local.body == reference.body, describe(local, reference)


@pytest.mark.parametrize("body", [{"index": {"refresh_interval": "30s"}}, {"index": {"number_of_replicas": 0}},
                                  {"index": {"max_result_window": 50}}, {"index": {"knn": False}},
                                  {"index": {"bogus": 1}}, {"index": {"refresh_interval": "abc"}}, "{bad"],
                         ids=["refresh_interval", "replicas", "max_result_window", "static setting", "unknown",
                              "bad value", "malformed"])
def test_put_settings(pair, indices, body):
    name = indices.name()
    pair.ok("PUT", f"/{name}", KNN)
    local, reference = pair.send("PUT", f"/{name}/_settings", body)
    if reference.status >= 400:
        assert_same_error(local, reference)
    else:
        assert local.status == 200 and local.body == reference.body, describe(local, reference)
        key = next(iter(body["index"]))
        values = [r.body[name]["settings"]["index"].get(key) for r in pair.send("GET", f"/{name}/_settings")]
        assert values[0] == values[1]


def test_refresh_and_cat_count(pair, indices):
    name = indices.name()
    pair.ok("PUT", f"/{name}", {"settings": {"index": {"refresh_interval": "-1"}}})
    pair.ok("PUT", f"/{name}/_doc/1", {"a": 1})
    local, reference = pair.send("POST", f"/{name}/_refresh")
    assert local.body == reference.body, describe(local, reference)
    local, reference = pair.send("GET", f"/{name}/_count")
    assert local.body["count"] == reference.body["count"] == 1

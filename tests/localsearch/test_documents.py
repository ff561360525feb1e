"""Index lifecycle, mappings, aliases and document writes through opensearch-py, as OpenSearch answers them."""

from __future__ import annotations

import pytest
from opensearchpy import NotFoundError, RequestError, helpers
from opensearchpy.exceptions import ConflictError

MAPPING = {"properties": {"title": {"type": "text"}, "tag": {"type": "keyword"}, "n": {"type": "integer"},
                          "embedding": {"type": "knn_vector", "dimension": 3,
                                        "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"}}}}


def create(client, name, mappings=MAPPING):
    return client.indices.create(index=name, body={"settings": {"index": {"knn": True}}, "mappings": mappings})


def test_index_lifecycle(os_client, index_name):
    assert create(os_client, index_name) == {"acknowledged": True, "shards_acknowledged": True, "index": index_name}
    assert os_client.indices.exists(index=index_name)
    with pytest.raises(RequestError) as err:
        create(os_client, index_name)
    assert err.value.error == "resource_already_exists_exception"
    mapping = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]
    assert mapping["properties"]["embedding"]["dimension"] == 3
    settings = os_client.indices.get_settings(index=index_name)[index_name]["settings"]["index"]
    assert settings["knn"] == "true"
    assert os_client.indices.delete(index=index_name) == {"acknowledged": True}
    assert not os_client.indices.exists(index=index_name)
    with pytest.raises(NotFoundError) as err:
        os_client.indices.delete(index=index_name)
    assert err.value.error == "index_not_found_exception"


def test_invalid_index_names_are_refused(os_client):
    for name in ["UPPER", "_under", "a*b", "a,b"]:
        with pytest.raises(RequestError) as err:
            os_client.indices.create(index=name)
        assert err.value.error == "invalid_index_name_exception"


def test_put_mapping_adds_fields_and_refuses_type_changes(os_client, index_name):
    create(os_client, index_name)
    os_client.indices.put_mapping(index=index_name, body={"properties": {"body": {"type": "text"}}})
    props = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]["properties"]
    assert props["body"] == {"type": "text"} and props["title"] == {"type": "text"}
    with pytest.raises(RequestError) as err:
        os_client.indices.put_mapping(index=index_name, body={"properties": {"title": {"type": "keyword"}}})
    assert err.value.error == "illegal_argument_exception"
    assert "cannot be changed from type [text] to [keyword]" in err.value.info["error"]["reason"]


def test_dynamic_mapping_maps_strings_to_text_with_keyword(os_client, index_name):
    os_client.index(index=index_name, id="1", body={"name": "Ada", "age": 36, "score": 1.5, "ok": True,
                                                      "born": "1815-12-10", "meta": {"lang": "en"}}, refresh=True)
    props = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]["properties"]
    assert props["name"] == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    assert props["age"]["type"] == "long"
    assert props["score"]["type"] == "float"
    assert props["ok"]["type"] == "boolean"
    assert props["born"]["type"] == "date"
    assert props["meta"]["properties"]["lang"]["type"] == "text"
    hits = os_client.search(index=index_name, body={"query": {"term": {"name.keyword": "Ada"}}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]


def test_strict_mapping_refuses_new_fields(os_client, index_name):
    create(os_client, index_name, {"dynamic": "strict", "properties": {"title": {"type": "text"}}})
    with pytest.raises(RequestError) as err:
        os_client.index(index=index_name, id="1", body={"other": "x"})
    assert err.value.error == "strict_dynamic_mapping_exception"


def test_document_crud_and_versions(os_client, index_name):
    create(os_client, index_name)
    first = os_client.index(index=index_name, id="a", body={"title": "one", "n": 1})
    assert (first["result"], first["_version"]) == ("created", 1)
    second = os_client.index(index=index_name, id="a", body={"title": "two", "n": 2})
    assert (second["result"], second["_version"]) == ("updated", 2)
    assert second["_seq_no"] > first["_seq_no"]
    got = os_client.get(index=index_name, id="a")
    assert got["found"] and got["_source"] == {"title": "two", "n": 2} and got["_version"] == 2
    updated = os_client.update(index=index_name, id="a", body={"doc": {"tag": "x"}})
    assert updated["result"] == "updated"
    assert os_client.get(index=index_name, id="a")["_source"] == {"title": "two", "n": 2, "tag": "x"}
    noop = os_client.update(index=index_name, id="a", body={"doc": {"tag": "x"}})
    assert noop["result"] == "noop"
    with pytest.raises(ConflictError):
        os_client.create(index=index_name, id="a", body={"title": "dup"})
    with pytest.raises(NotFoundError) as err:
        os_client.update(index=index_name, id="missing", body={"doc": {"n": 1}})
    assert err.value.error == "document_missing_exception"
    assert os_client.delete(index=index_name, id="a")["result"] == "deleted"
    with pytest.raises(NotFoundError):
        os_client.get(index=index_name, id="a")
    assert os_client.get(index=index_name, id="a", ignore=404)["found"] is False


def test_optimistic_concurrency(os_client, index_name):
    create(os_client, index_name)
    written = os_client.index(index=index_name, id="a", body={"n": 1})
    os_client.index(index=index_name, id="a", body={"n": 2}, if_seq_no=written["_seq_no"], if_primary_term=1)
    with pytest.raises(ConflictError):
        os_client.index(index=index_name, id="a", body={"n": 3}, if_seq_no=written["_seq_no"], if_primary_term=1)


def test_bulk_mixes_good_and_bad_items(os_client, index_name):
    create(os_client, index_name)
    body = "\n".join([
        '{"index": {"_index": "%s", "_id": "1"}}' % index_name, '{"title": "good one", "n": 1}',
        '{"index": {"_index": "%s", "_id": "2"}}' % index_name, '{"n": "not a number"}',
        '{"create": {"_index": "%s", "_id": "3"}}' % index_name, '{"embedding": [1, 2]}',
        '{"update": {"_index": "%s", "_id": "404"}}' % index_name, '{"doc": {"n": 5}}',
        '{"delete": {"_index": "%s", "_id": "1"}}' % index_name,
        '{"index": {"_index": "%s", "_id": "4"}}' % index_name, '{"title": "good two", "embedding": [1, 2, 3]}',
    ]) + "\n"
    result = os_client.bulk(body=body, refresh=True)
    assert result["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in result["items"]]
    assert statuses == [201, 400, 400, 404, 200, 201]
    errors = [next(iter(item.values())).get("error", {}).get("type") for item in result["items"]]
    assert errors[1] == "mapper_parsing_exception"
    assert errors[2] == "mapper_parsing_exception"
    assert errors[3] == "document_missing_exception"
    assert os_client.count(index=index_name)["count"] == 1
    assert os_client.get(index=index_name, id="4")["_source"]["title"] == "good two"


def test_bulk_with_malformed_action_line_fails_whole_request(os_client, index_name):
    create(os_client, index_name)
    with pytest.raises(RequestError) as err:
        os_client.bulk(body='{"index": {"_index": "%s"}}\n{"n": 1}\n"oops"\n' % index_name)
    assert err.value.error == "illegal_argument_exception"
    os_client.indices.refresh(index=index_name)
    assert os_client.count(index=index_name)["count"] == 0


def test_refresh_controls_visibility(localsearch_server, index_name):
    client = localsearch_server.client()
    client.indices.create(index=index_name, body={"settings": {"index": {"refresh_interval": "-1"}}})
    client.index(index=index_name, id="1", body={"title": "hello"})
    assert client.count(index=index_name)["count"] == 0  # not refreshed yet
    assert client.get(index=index_name, id="1")["found"]  # realtime get
    client.indices.refresh(index=index_name)
    assert client.count(index=index_name)["count"] == 1
    client.index(index=index_name, id="2", body={"title": "hello"}, refresh="wait_for")
    assert client.count(index=index_name)["count"] == 2
    result = client.index(index=index_name, id="3", body={"title": "hello"}, refresh="true")
    assert result["forced_refresh"] is True
    assert client.count(index=index_name)["count"] == 3


def test_aliases_swap_atomically(os_client, index_name):
    old, new, alias = f"{index_name}-v1", f"{index_name}-v2", f"{index_name}-live"
    create(os_client, old)
    create(os_client, new)
    os_client.index(index=old, id="1", body={"title": "old"}, refresh=True)
    os_client.index(index=new, id="1", body={"title": "new"}, refresh=True)
    os_client.indices.update_aliases(body={"actions": [{"add": {"index": old, "alias": alias}}]})
    assert os_client.search(index=alias)["hits"]["hits"][0]["_source"]["title"] == "old"
    os_client.indices.update_aliases(body={"actions": [{"remove": {"index": old, "alias": alias}},
                                                       {"add": {"index": new, "alias": alias}}]})
    assert os_client.search(index=alias)["hits"]["hits"][0]["_source"]["title"] == "new"
    assert os_client.indices.get_alias(name=alias) == {new: {"aliases": {alias: {}}}}
    os_client.index(index=alias, id="2", body={"title": "through alias"}, refresh=True)
    assert os_client.count(index=new)["count"] == 2


def test_scan_reads_every_document(os_client, index_name):
    create(os_client, index_name)
    helpers.bulk(os_client, ({"_index": index_name, "_id": str(i), "_source": {"n": i}} for i in range(250)),
                 refresh=True)
    seen = [hit["_source"]["n"] for hit in helpers.scan(os_client, index=index_name, size=40)]
    assert sorted(seen) == list(range(250))


def test_cat_and_cluster_apis(localsearch_server, index_name):
    client = localsearch_server.client()
    client.indices.create(index=index_name)
    assert client.cluster.health()["status"] in ("green", "yellow")
    rows = client.cat.indices(index=index_name, format="json")
    assert rows[0]["index"] == index_name and rows[0]["docs.count"] == "0"
    plugins = client.cat.plugins(format="json")
    assert {p["component"] for p in plugins} >= {"opensearch-knn", "opensearch-neural-search"}
    assert client.info()["version"]["distribution"] == "opensearch"

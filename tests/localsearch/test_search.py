"""Search request features: paging, sorting, search_after, _source, totals, bool semantics, msearch, count."""

from __future__ import annotations

import json

import pytest
from opensearchpy import RequestError

ROWS = [
    {"title": "red apple pie", "color": "red", "price": 3, "day": "2024-01-01", "nested": {"a": 1, "b": 2}},
    {"title": "green apple", "color": "green", "price": 1, "day": "2024-01-02", "nested": {"a": 3, "b": 4}},
    {"title": "red cherry", "color": "red", "price": 5, "day": "2024-01-03", "nested": {"a": 5, "b": 6}},
    {"title": "banana bread", "color": "yellow", "price": 2, "day": "2024-01-04", "nested": {"a": 7, "b": 8}},
    {"title": "apple crumble with red apple", "color": "red", "day": "2024-01-05", "nested": {"a": 9, "b": 0}},
]


@pytest.fixture
def shop(os_client, index_name):
    os_client.indices.create(index=index_name, body={"mappings": {"properties": {
        "title": {"type": "text"}, "color": {"type": "keyword"}, "price": {"type": "integer"},
        "day": {"type": "date"}, "nested": {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}})
    for i, row in enumerate(ROWS):
        os_client.index(index=index_name, id=str(i), body=row)
    os_client.indices.refresh(index=index_name)
    return os_client, index_name


def ids(response):
    return [h["_id"] for h in response["hits"]["hits"]]


def test_from_size_pages_are_consistent(shop):
    client, index = shop
    everything = ids(client.search(index=index, body={"query": {"match": {"title": "apple red"}}, "size": 10}))
    pages = [ids(client.search(index=index, body={"query": {"match": {"title": "apple red"}}, "from": f, "size": 2}))
             for f in (0, 2, 4)]
    assert sum(pages, []) == everything
    assert len(everything) == 4


def test_sort_by_field_with_missing_values_last(shop):
    client, index = shop
    asc = client.search(index=index, body={"sort": [{"price": "asc"}], "size": 10})
    assert ids(asc) == ["1", "3", "0", "2", "4"]
    assert [h["sort"] for h in asc["hits"]["hits"]][:4] == [[1], [2], [3], [5]]
    assert asc["hits"]["max_score"] is None and asc["hits"]["hits"][0]["_score"] is None
    desc = client.search(index=index, body={"sort": [{"price": {"order": "desc"}}], "size": 10})
    assert ids(desc) == ["2", "0", "3", "1", "4"]
    multi = client.search(index=index, body={"sort": [{"color": "asc"}, {"day": "desc"}], "size": 10})
    assert ids(multi) == ["1", "4", "2", "0", "3"]


def test_sorting_on_text_is_refused(shop):
    client, index = shop
    with pytest.raises(RequestError) as err:
        client.search(index=index, body={"sort": [{"title": "asc"}]})
    assert "Text fields are not optimised" in json.dumps(err.value.info)


def test_search_after_walks_the_sorted_list(shop):
    client, index = shop
    body = {"sort": [{"day": "asc"}], "size": 2}
    first = client.search(index=index, body=body)
    second = client.search(index=index, body={**body, "search_after": first["hits"]["hits"][-1]["sort"]})
    third = client.search(index=index, body={**body, "search_after": second["hits"]["hits"][-1]["sort"]})
    assert ids(first) + ids(second) + ids(third) == ["0", "1", "2", "3", "4"]


def test_source_filtering(shop):
    client, index = shop
    hit = client.search(index=index, body={"query": {"ids": {"values": ["0"]}},
                                           "_source": {"includes": ["title", "nested.*"], "excludes": ["nested.b"]}}
                        )["hits"]["hits"][0]
    assert hit["_source"] == {"title": "red apple pie", "nested": {"a": 1}}
    hit = client.search(index=index, body={"query": {"ids": {"values": ["0"]}}, "_source": False})["hits"]["hits"][0]
    assert "_source" not in hit
    hit = client.search(index=index, body={"query": {"ids": {"values": ["0"]}}, "_source": "color"})["hits"]["hits"][0]
    assert hit["_source"] == {"color": "red"}


def test_track_total_hits_and_int_totals(shop):
    client, index = shop
    assert client.search(index=index, body={"track_total_hits": 2})["hits"]["total"] == {"value": 2,
                                                                                         "relation": "gte"}
    assert "total" not in client.search(index=index, body={"track_total_hits": False})["hits"]
    assert client.search(index=index, params={"rest_total_hits_as_int": "true"})["hits"]["total"] == 5


def test_bool_semantics(shop):
    client, index = shop
    body = {"query": {"bool": {"must": [{"match": {"title": "apple"}}], "filter": [{"term": {"color": "red"}}],
                               "must_not": [{"range": {"price": {"gte": 3}}}]}}}
    assert ids(client.search(index=index, body=body)) == ["4"]
    should_only = {"query": {"bool": {"should": [{"term": {"color": "green"}}, {"term": {"color": "yellow"}}]}}}
    assert sorted(ids(client.search(index=index, body=should_only))) == ["1", "3"]
    filter_only = client.search(index=index, body={"query": {"bool": {"filter": [{"term": {"color": "red"}}]}}})
    assert {h["_score"] for h in filter_only["hits"]["hits"]} == {0.0}
    msm = {"query": {"bool": {"should": [{"match": {"title": "red"}}, {"match": {"title": "apple"}},
                                         {"match": {"title": "pie"}}], "minimum_should_match": 2}}}
    assert sorted(ids(client.search(index=index, body=msm))) == ["0", "4"]
    not_only = client.search(index=index, body={"query": {"bool": {"must_not": [{"term": {"color": "red"}}]}}})
    assert sorted(ids(not_only)) == ["1", "3"]


def test_range_exists_terms_and_dates(shop):
    client, index = shop
    assert sorted(ids(client.search(index=index, body={"query": {"range": {"price": {"gt": 1, "lte": 3}}}}))) == [
        "0", "3"]
    assert sorted(ids(client.search(index=index, body={"query": {"exists": {"field": "price"}}}))) == [
        "0", "1", "2", "3"]
    assert sorted(ids(client.search(index=index, body={"query": {"terms": {"color": ["green", "yellow"]}}}))) == [
        "1", "3"]
    window = {"query": {"range": {"day": {"gte": "2024-01-02", "lt": "2024-01-04"}}}}
    assert sorted(ids(client.search(index=index, body=window))) == ["1", "2"]


def test_phrase_and_query_string(shop):
    client, index = shop
    assert ids(client.search(index=index, body={"query": {"match_phrase": {"title": "red apple"}}})) in (
        ["0", "4"], ["4", "0"])
    assert ids(client.search(index=index, body={"query": {"match_phrase": {"title": "apple red"}}})) == []
    qs = client.search(index=index, body={"query": {"query_string": {"query": "cherry OR banana"}}})
    assert sorted(ids(qs)) == ["2", "3"]
    assert len(ids(client.search(index=index, body={"query": {"query_string": {"query": "*"}}}))) == 5


def test_msearch_and_count(shop):
    client, index = shop
    body = [{"index": index}, {"query": {"term": {"color": "red"}}},
            {"index": "missing-index-xyz"}, {"query": {"match_all": {}}},
            {"index": index}, {"query": {"match": {"title": "banana"}}, "size": 1}]
    responses = client.msearch(body=body)["responses"]
    assert [r["status"] for r in responses] == [200, 404, 200]
    assert responses[0]["hits"]["total"]["value"] == 3
    assert responses[1]["error"]["type"] == "index_not_found_exception"
    assert ids(responses[2]) == ["3"]
    assert client.count(index=index, body={"query": {"term": {"color": "red"}}})["count"] == 3


def test_multi_index_search_and_wildcards(os_client, index_name):
    for suffix in ("a", "b"):
        os_client.index(index=f"{index_name}-{suffix}", id="1", body={"title": f"doc {suffix}"}, refresh=True)
    assert os_client.count(index=f"{index_name}-*")["count"] == 2
    assert os_client.count(index=f"{index_name}-a,{index_name}-b")["count"] == 2
    hits = os_client.search(index=f"{index_name}-*", body={"query": {"match": {"title": "doc"}}})["hits"]["hits"]
    assert sorted(h["_index"] for h in hits) == [f"{index_name}-a", f"{index_name}-b"]
    assert os_client.search(index=f"{index_name}-a,nope", params={"ignore_unavailable": "true"})["hits"]["total"][
        "value"] == 1

"""Search request options, differential: paging, totals, _source, sort, search_after, post_filter, scroll, _msearch,
_count."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.corpus import TAGS
from tests.differential.harness import (
    BM25_REL,
    assert_same_aggregations,
    assert_same_answer,
    assert_same_error,
    assert_same_hits,
    describe,
    same_values,
)

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = {"match": {"body": "index score vector"}}
RED = {"term": {"tag": "red"}}

CASES = {
    # paging and totals
    "from and size": ({"query": TEXT, "from": 5, "size": 7}, None),
    "page past the end": ({"query": TEXT, "from": 200, "size": 10}, None),
    "size 0": ({"query": TEXT, "size": 0}, None),
    "size 0, from past the window": ({"query": TEXT, "from": 10_000, "size": 0}, None),
    "from + size past max_result_window": ({"query": TEXT, "from": 9_995, "size": 10}, None),
    "size past max_result_window": ({"size": 10_001}, None),
    "negative from": ({"from": -1}, None),
    "negative size": ({"size": -2}, None),
    "size not a number": ({"size": "ten"}, None),
    "from and size as parameters": ({"query": TEXT}, {"from": 3, "size": 4}),
    "track_total_hits false": ({"query": TEXT, "track_total_hits": False}, None),
    "track_total_hits true": ({"query": TEXT, "track_total_hits": True}, None),
    "track_total_hits below the count": ({"query": TEXT, "track_total_hits": 5}, None),
    "track_total_hits at the count": ({"query": {"term": {"tag": "red"}}, "track_total_hits": 13}, None),
    "track_total_hits as parameter": ({"query": TEXT}, {"track_total_hits": "7"}),
    "track_total_hits negative": ({"query": TEXT, "track_total_hits": -5}, None),
    "rest_total_hits_as_int": ({"query": TEXT}, {"rest_total_hits_as_int": "true"}),
    "rest_total_hits_as_int, not tracked": ({"query": TEXT, "track_total_hits": False},
                                            {"rest_total_hits_as_int": "true"}),
    "rest_total_hits_as_int, bounded": ({"query": TEXT, "track_total_hits": 5}, {"rest_total_hits_as_int": "true"}),
    "min_score": ({"query": TEXT, "min_score": 0.5}, None),
    "terminate_after": ({"query": TEXT, "terminate_after": 10}, None),
    # _source
    "_source false": ({"query": TEXT, "_source": False}, None),
    "_source one field": ({"query": TEXT, "_source": "title"}, None),
    "_source list": ({"query": TEXT, "_source": ["title", "author.*"]}, None),
    "_source includes excludes": ({"query": TEXT, "_source": {"includes": ["*"], "excludes": ["v_*", "body"]}}, None),
    "_source as parameters": ({"query": TEXT}, {"_source_includes": "title,n", "_source_excludes": "n"}),
    "version and seq_no": ({"query": TEXT, "version": True, "seq_no_primary_term": True}, None),
    "docvalue_fields": ({"query": TEXT, "docvalue_fields": ["n", {"field": "day", "format": "date_time"}]}, None),
    # sort
    "sort keyword": ({"sort": [{"tag": "asc"}, {"n": "desc"}], "size": 30}, None),
    "sort with missing values": ({"sort": [{"n": "asc"}], "size": 60}, None),
    "sort desc, missing first": ({"sort": [{"price": {"order": "desc", "missing": "_first"}}], "size": 60}, None),
    "sort, custom missing": ({"sort": [{"n": {"order": "asc", "missing": 50}}], "size": 60}, None),
    "sort date": ({"query": TEXT, "sort": [{"day": "desc"}]}, None),
    "sort float": ({"query": TEXT, "sort": [{"price": "asc"}]}, None),
    "sort boolean then id": ({"sort": [{"flag": "desc"}, {"_id": "asc"}], "size": 20}, None),
    "sort multi-valued": ({"sort": [{"labels": "asc"}], "size": 60}, None),
    "sort object field": ({"sort": [{"author.age": "desc"}], "size": 60}, None),
    "sort _score asc": ({"query": TEXT, "sort": [{"_score": "asc"}]}, None),
    "sort _score then field": ({"query": TEXT, "sort": ["_score", {"n": "asc"}]}, None),
    "sort with track_scores": ({"query": TEXT, "sort": [{"n": "asc"}], "track_scores": True}, None),
    "sort unmapped_type": ({"sort": [{"missing_field": {"order": "asc", "unmapped_type": "long"}}]}, None),
    "sort as parameter": ({"query": TEXT}, {"sort": "n:desc"}),
    "sort on text": ({"sort": [{"body": "asc"}]}, None),
    "sort on an unmapped field": ({"sort": [{"missing_field": "asc"}]}, None),
    "sort order unknown": ({"sort": [{"n": "up"}]}, None),
    # search_after
    "search_after": ({"sort": [{"n": "asc"}, {"_id": "asc"}], "search_after": [30, "12"], "size": 10}, None),
    "search_after a date string": ({"sort": [{"day": "asc"}], "search_after": ["2024-02-01T00:00:00Z"]}, None),
    "search_after without sort": ({"search_after": [1]}, None),
    "search_after with from": ({"sort": [{"n": "asc"}], "search_after": [1], "from": 2}, None),
    "search_after wrong count": ({"sort": [{"n": "asc"}], "search_after": [1, 2]}, None),
    "search_after bad value": ({"sort": [{"n": "asc"}], "search_after": ["x"]}, None),
    # post_filter: narrows the hits and their total, leaves the scores
    "post_filter": ({"query": TEXT, "post_filter": RED}, None),
    "post_filter, match_all": ({"post_filter": {"range": {"n": {"gte": 60}}}, "size": 60}, None),
    "post_filter a scoring query": ({"query": TEXT, "post_filter": {"match": {"title": "vector model"}}}, None),
    "post_filter bool": ({"query": TEXT, "post_filter": {"bool": {"should": [RED, {"term": {"flag": True}}],
                                                                 "must_not": {"range": {"n": {"lt": 20}}}}}},
                         None),
    "post_filter matching nothing": ({"query": TEXT, "post_filter": {"term": {"tag": "violet"}}}, None),
    "post_filter, from and size": ({"query": TEXT, "post_filter": {"exists": {"field": "n"}}, "from": 3, "size": 4},
                                   None),
    "post_filter, size 0": ({"query": TEXT, "post_filter": RED, "size": 0}, None),
    "post_filter, bounded total": ({"query": TEXT, "post_filter": {"exists": {"field": "n"}},
                                    "track_total_hits": 5}, None),
    "post_filter, no total": ({"query": TEXT, "post_filter": RED, "track_total_hits": False}, None),
    "post_filter, min_score": ({"query": TEXT, "post_filter": RED, "min_score": 0.5}, None),
    "post_filter, terminate_after": ({"post_filter": RED, "terminate_after": 5, "size": 20}, None),
    "post_filter, sort": ({"query": TEXT, "post_filter": RED, "sort": [{"n": "desc"}]}, None),
    "post_filter, sort with scores": ({"query": TEXT, "post_filter": RED, "sort": ["_score", {"_id": "asc"}]},
                                      None),
    "post_filter, search_after": ({"post_filter": RED, "sort": [{"n": "asc"}, {"_id": "asc"}],
                                   "search_after": [30, "12"]}, None),
    "post_filter with q": ({"post_filter": RED}, {"q": "body:vector"}),
    "post_filter not an object": ({"post_filter": "tag:red"}, None),
    "post_filter a list": ({"post_filter": [RED]}, None),
    "post_filter null": ({"post_filter": None}, None),
    "post_filter empty": ({"post_filter": {}}, None),
    "post_filter unknown query": ({"post_filter": {"bogus": {}}}, None),
    "post_filter two queries": ({"post_filter": {**RED, "exists": {"field": "n"}}}, None),
    "post_filter a value the field cannot take": ({"post_filter": {"term": {"n": "abc"}}}, None),
    "post_filter and a bad query": ({"query": {"bogus": {}}, "post_filter": {"term": {"n": "abc"}}}, None),
}


@pytest.mark.parametrize(("body", "params"), CASES.values(), ids=CASES.keys())
def test_search_option(pair, corpus, body, params):
    local, reference = pair.search(corpus, body, params)
    assert_same_answer(local, reference)


def test_stored_fields_none_drops_ids_and_sources(pair, corpus):
    local, reference = pair.search(corpus, {"query": {"term": {"tag": "red"}}, "stored_fields": "_none_"})
    assert reference.status == local.status == 200, describe(local, reference)
    assert local.body["hits"]["total"] == reference.body["hits"]["total"]
    assert [sorted(h) for h in local.hits] == [sorted(h) for h in reference.hits], describe(local, reference)


post_filters = st.one_of(
    st.none(),
    st.builds(lambda tag: {"term": {"tag": tag}}, st.sampled_from(TAGS)),
    st.builds(lambda lo: {"range": {"n": {"gte": lo}}}, st.integers(0, 100)),
    st.builds(lambda words: {"match": {"title": words}}, st.sampled_from(["vector", "model rank", "zebra"])),
    st.just({"bool": {"must_not": [{"term": {"flag": True}}]}}))


def with_post_filter(body: dict, post_filter: dict | None) -> dict:
    return body if post_filter is None else {**body, "post_filter": post_filter}


@SETTINGS
@given(page=st.integers(1, 25), query=st.sampled_from([TEXT, {"match_all": {}}, {"term": {"tag": "amber"}}]),
       post_filter=post_filters)
def test_pages_of_a_search_are_the_same(pair, corpus, page, query, post_filter):
    for start in range(0, 60, page):
        local, reference = pair.search(corpus, with_post_filter({"query": query, "from": start, "size": page},
                                                                post_filter))
        assert_same_hits(local, reference)


@SETTINGS
@given(keys=st.lists(st.sampled_from(["n", "price", "day", "tag", "flag", "author.age", "labels", "_id"]),
                     min_size=1, max_size=3, unique=True),
       orders=st.lists(st.sampled_from(["asc", "desc"]), min_size=3, max_size=3),
       page=st.integers(3, 20), post_filter=post_filters)
def test_search_after_walks_the_same_sorted_list(pair, corpus, keys, orders, page, post_filter):
    sort = [{key: order} for key, order in zip(keys, orders, strict=False)] + [{"_id": "asc"}] * ("_id" not in keys)
    after = None
    for _ in range(70 // page + 2):
        body = with_post_filter({"sort": sort, "size": page, "_source": False,
                                 **({"search_after": after} if after else {})}, post_filter)
        local, reference = pair.search(corpus, body)
        assert_same_hits(local, reference, sources=False)
        assert local.ids == reference.ids, describe(local, reference)  # _id breaks every tie
        if not reference.hits:
            break
        after = reference.hits[-1]["sort"]


@pytest.mark.parametrize("post_filter", [None, {"range": {"n": {"gte": 25}}}], ids=["", "post_filter"])
def test_scroll_reads_the_same_pages(pair, corpus, post_filter):
    body = with_post_filter({"query": TEXT, "size": 7, "_source": ["title"]}, post_filter)
    local, reference = pair.search(corpus, body, {"scroll": "1m"})
    pages = 0
    while True:
        assert_same_hits(local, reference)
        if not reference.hits:
            break
        pages += 1
        local = pair.local.send("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": local.body["_scroll_id"]})
        reference = pair.reference.send("POST", "/_search/scroll",
                                        {"scroll": "1m", "scroll_id": reference.body["_scroll_id"]})
    assert pages >= 3
    cleared = [target.send("DELETE", "/_search/scroll", {"scroll_id": reply.body["_scroll_id"]})
               for target, reply in ((pair.local, local), (pair.reference, reference))]
    assert cleared[0] == cleared[1]
    gone = [target.send("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": reply.body["_scroll_id"]})
            for target, reply in ((pair.local, local), (pair.reference, reference))]
    assert_same_error(*gone)


def test_scroll_errors(pair, corpus):
    assert_same_error(*pair.send("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": "not-an-id"}))
    assert_same_error(*pair.send("POST", "/_search/scroll", {"scroll": "1m"}))
    assert_same_error(*pair.search(corpus, {"size": 10_001}, {"scroll": "1m"}))


def test_msearch(pair, corpus):
    lines = [{"index": corpus}, {"query": TEXT, "size": 3},
             {"index": "diff-no-such-index"}, {"query": {"match_all": {}}},
             {}, {"query": {"match": {"n": "abc"}}},
             {"index": corpus, "search_type": "query_then_fetch"}, {"query": {"term": {"tag": "red"}}, "size": 0},
             {"index": corpus}, {"sort": [{"body": "asc"}]},
             {"index": corpus}, {"query": TEXT, "post_filter": RED, "size": 4},
             {"index": corpus}, {"post_filter": {"term": {"n": "abc"}}}]
    local, reference = pair.send("POST", f"/{corpus}/_msearch", lines, {"rest_total_hits_as_int": "true"},
                                 ndjson=True)
    assert local.status == reference.status == 200, describe(local, reference)
    assert len(local.body["responses"]) == len(reference.body["responses"]) == 7
    for mine, real in zip(local.body["responses"], reference.body["responses"], strict=True):
        item = (type(local)(mine["status"], mine), type(reference)(real["status"], real))
        assert mine["status"] == real["status"], describe(*item)
        assert_same_answer(*item)
    # an item whose body does not parse fails the whole request (the REST layer parses every body first)
    unparsable = lines[:2] + [{"index": corpus}, {"query": {"bogus": {}}}]
    assert_same_error(*pair.send("POST", "/_msearch", unparsable, ndjson=True))


@pytest.mark.parametrize("body", [None, {"query": TEXT}, {"query": {"match": {"n": "abc"}}},
                                  {"query": {"bogus": {}}}, {"size": 3}, "{not json",
                                  {"query": TEXT, "post_filter": RED}],
                         ids=["everything", "a query", "a shard error", "unknown query", "not a count option",
                              "malformed", "post_filter"])
def test_count(pair, corpus, body):
    local, reference = pair.send("POST", f"/{corpus}/_count", body)
    if reference.status >= 400:
        assert_same_error(local, reference)
    else:
        assert local.status == 200 and local.body["count"] == reference.body["count"], describe(local, reference)


def test_count_with_q(pair, corpus):
    local, reference = pair.send("GET", f"/{corpus}/_count", params={"q": "tag:red"})
    assert local.body["count"] == reference.body["count"], describe(local, reference)


def test_search_after_values_are_the_sort_values(pair, corpus):
    local, reference = pair.search(corpus, {"sort": [{"price": "desc"}, {"day": "asc"}], "size": 60})
    assert [h["sort"] for h in local.hits] and all(
        same_values(a["sort"], b["sort"], 1e-7) for a, b in zip(local.hits, reference.hits, strict=True))


@pytest.mark.parametrize("query", [TEXT, {"match_all": {}}], ids=["match", "match_all"])
def test_post_filter_narrows_the_hits_not_the_aggregations(pair, corpus, query):
    aggs = {"tags": {"terms": {"field": "tag"}}, "top": {"top_hits": {"size": 3, "_source": False}},
            "n": {"stats": {"field": "n"}}}
    body = {"query": query, "post_filter": RED, "size": 30, "aggs": aggs}
    local, reference = pair.search(corpus, body)
    assert_same_hits(local, reference)
    assert_same_aggregations(local, reference, rel=BM25_REL)  # top_hits' scores
    buckets = {b["key"]: b["doc_count"] for b in local.body["aggregations"]["tags"]["buckets"]}
    assert local.body["hits"]["total"]["value"] == buckets["red"] < sum(buckets.values())


def test_post_filter_leaves_the_scores(pair, corpus):
    plain, _ = pair.search(corpus, {"query": TEXT, "size": 100})
    local, reference = pair.search(corpus, {"query": TEXT, "post_filter": RED, "size": 100})
    assert_same_hits(local, reference)
    scores = {h["_id"]: h["_score"] for h in plain.hits}
    assert local.hits and all(h["_score"] == scores[h["_id"]] for h in local.hits)
    assert all(h["_source"]["tag"] == "red" for h in local.hits)


@SETTINGS
@given(query=st.sampled_from([TEXT, {"match_all": {}}, {"match": {"title": "rank model"}},
                              {"bool": {"should": [TEXT], "filter": [{"range": {"n": {"lte": 70}}}]}}]),
       post_filter=post_filters, start=st.integers(0, 30), size=st.integers(0, 25),
       options=st.fixed_dictionaries({}, optional={
           "sort": st.sampled_from([[{"n": "asc"}, {"_id": "desc"}], ["_score", {"_id": "asc"}],
                                    [{"day": "desc"}, {"_id": "asc"}]]),
           "track_total_hits": st.sampled_from([True, False, 3, 20]),
           "min_score": st.sampled_from([0.1, 0.6, 1.0]),
           "_source": st.sampled_from([False, ["title", "tag"]]),
           "aggs": st.just({"tags": {"terms": {"field": "tag"}}}),
       }))
def test_generated_search_options(pair, corpus, query, post_filter, start, size, options):
    body = with_post_filter({"query": query, "from": start, "size": size, **options}, post_filter)
    local, reference = pair.search(corpus, body)
    assert_same_answer(local, reference)
    if "aggs" in options and reference.status == 200:
        assert_same_aggregations(local, reference)

"""Aggregations and highlighting as OpenSearch Dashboards sends them, differential: Discover's histogram and
field summaries, Visualize's terms and metrics, and highlighted hits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.harness import (
    assert_same_aggregations,
    assert_same_answer,
    assert_same_hits,
    describe,
)

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DASHBOARDS_TAGS = {"pre_tags": ["@opensearch-dashboards-highlighted-field@"],
                   "post_tags": ["@/opensearch-dashboards-highlighted-field@"],
                   "fields": {"*": {}}, "fragment_size": 2147483647}
TIME_RANGE = {"range": {"day": {"gte": "2024-01-01T00:00:00.000Z", "lte": "2024-03-31T23:59:59.999Z",
                                "format": "strict_date_optional_time"}}}


def discover(free_text: str | None, interval: dict, time_zone: str = "UTC", sort: list | None = None) -> dict:
    """The body Discover sends (OpenSearch Dashboards 2.x): hits sorted by time, a date histogram, DQL free text
    as a lenient multi_match filter, highlighting with Dashboards' tags."""
    filters: list[dict] = [TIME_RANGE]
    if free_text:
        filters.insert(0, {"multi_match": {"type": "best_fields", "query": free_text, "lenient": True}})
    return {
        "sort": sort or [{"day": {"order": "desc", "unmapped_type": "boolean"}}], "size": 20, "version": True,
        "aggs": {"2": {"date_histogram": {"field": "day", **interval, "time_zone": time_zone, "min_doc_count": 1}}},
        "stored_fields": ["*"], "script_fields": {}, "docvalue_fields": [{"field": "day", "format": "date_time"}],
        "_source": {"excludes": []},
        "query": {"bool": {"must": [], "filter": filters, "should": [], "must_not": []}},
        "highlight": DASHBOARDS_TAGS,
    }


PARAMS = {"rest_total_hits_as_int": "true", "ignore_unavailable": "true", "track_total_hits": "true"}


@pytest.mark.parametrize(("free_text", "interval", "time_zone", "sort"), [
    (None, {"calendar_interval": "1w"}, "UTC", None),
    ("vector", {"fixed_interval": "12h"}, "UTC", None),
    ("reranker passage", {"calendar_interval": "1d"}, "Europe/Berlin", None),
    ("hybrid", {"calendar_interval": "1M"}, "America/New_York", [{"_score": {"order": "desc"}}]),
], ids=["no query, weekly", "free text, 12h", "two words, daily, Berlin", "score-sorted, monthly, New York"])
def test_discover(pair, corpus, free_text, interval, time_zone, sort):
    local, reference = pair.search(corpus, discover(free_text, interval, time_zone, sort), PARAMS)
    assert_same_hits(local, reference)
    assert_same_aggregations(local, reference)


VISUALIZE = {
    "terms by count": {"2": {"terms": {"field": "tag", "order": {"_count": "desc"}, "size": 5}}},
    "terms by key": {"2": {"terms": {"field": "author.name", "order": {"_key": "asc"}, "size": 3}}},
    "terms with other bucket counts": {"2": {"terms": {"field": "labels", "size": 2}}},
    "terms on a number": {"2": {"terms": {"field": "n", "size": 5}}},
    "terms ordered by a metric": {"2": {"terms": {"field": "tag", "order": {"1": "desc"}, "size": 3},
                                        "aggs": {"1": {"avg": {"field": "price"}}}}},
    "terms with a missing bucket": {"2": {"terms": {"field": "author.name", "missing": "__missing__"}}},
    "terms on the index": {"2": {"terms": {"field": "_index"}}},
    "date_histogram with sub-terms": {"2": {"date_histogram": {"field": "day", "calendar_interval": "1M",
                                                               "time_zone": "UTC", "min_doc_count": 1},
                                            "aggs": {"3": {"terms": {"field": "tag", "size": 2}}}}},
    "date_histogram with extended bounds": {"2": {"date_histogram": {
        "field": "day", "fixed_interval": "7d", "time_zone": "UTC", "min_doc_count": 0,
        "extended_bounds": {"min": 1703980800000, "max": 1711929599999}}}},
    "metrics": {"a": {"avg": {"field": "price"}}, "b": {"sum": {"field": "n"}}, "c": {"min": {"field": "day"}},
                "d": {"max": {"field": "price"}}, "e": {"cardinality": {"field": "tag"}},
                "f": {"value_count": {"field": "labels"}}, "g": {"stats": {"field": "n"}}},
    "histogram": {"h": {"histogram": {"field": "price", "interval": 10, "min_doc_count": 1}}},
    "range": {"r": {"range": {"field": "n", "ranges": [{"to": 25}, {"from": 25, "to": 75}, {"from": 75}]}}},
    "filters": {"f": {"filters": {"filters": {"red": {"term": {"tag": "red"}},
                                              "text": {"match": {"body": "vector"}}}}}},
    "filter with a metric": {"f": {"filter": {"range": {"n": {"gte": 50}}}, "aggs": {"m": {"max": {"field": "n"}}}}},
    "missing": {"m": {"missing": {"field": "n"}}},
}


@pytest.mark.parametrize("aggs", VISUALIZE.values(), ids=VISUALIZE.keys())
def test_visualize(pair, corpus, aggs):
    body = {"size": 0, "aggs": aggs, "query": {"bool": {"filter": [TIME_RANGE]}}}
    local, reference = pair.search(corpus, body, {"rest_total_hits_as_int": "true"})
    assert local.body["hits"] == reference.body["hits"], describe(local, reference)
    assert_same_aggregations(local, reference)


@SETTINGS
@given(field=st.sampled_from(["tag", "labels", "author.name", "title.raw", "n", "price", "day", "flag"]),
       size=st.sampled_from([1, 2, 5, 20, 50]),
       order=st.sampled_from([{"_count": "desc"}, {"_count": "asc"}, {"_key": "asc"}, {"_key": "desc"},
                              {"m": "desc"}, {"m": "asc"}]),
       text=st.sampled_from([None, "vector", "rank model", "zebra"]))
def test_generated_terms(pair, corpus, field, size, order, text):
    query = {"match": {"body": text}} if text else {"match_all": {}}
    terms = {"terms": {"field": field, "size": size, "order": order}, "aggs": {"m": {"avg": {"field": "n"}}}}
    assert_same_aggregations(*pair.search(corpus, {"size": 0, "query": query, "aggs": {"t": terms}}))


@SETTINGS
@given(interval=st.sampled_from([{"calendar_interval": "1d"}, {"calendar_interval": "1w"},
                                 {"calendar_interval": "1M"}, {"fixed_interval": "3h"}, {"fixed_interval": "30m"},
                                 {"fixed_interval": "2d"}]),
       time_zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "-05:00"]),
       min_doc_count=st.sampled_from([0, 1]))
def test_generated_date_histograms(pair, corpus, interval, time_zone, min_doc_count):
    body = {"size": 0, "aggs": {"h": {"date_histogram": {"field": "day", **interval, "time_zone": time_zone,
                                                         "min_doc_count": min_doc_count}}}}
    assert_same_aggregations(*pair.search(corpus, body))


HIGHLIGHTS = {
    "one field": ({"match": {"body": "vector search"}}, {"fields": {"body": {}}}),
    "every field, Dashboards tags": ({"multi_match": {"query": "rank", "fields": ["title", "body"]}},
                                     DASHBOARDS_TAGS),
    "DQL filter": ({"bool": {"filter": [{"multi_match": {"type": "best_fields", "query": "token",
                                                         "lenient": True}}]}}, DASHBOARDS_TAGS),
    "phrase": ({"match_phrase": {"body": "passage answer"}}, {"fields": {"body": {}}}),
    "custom tags and fragments": ({"match": {"body": "index"}},
                                  {"pre_tags": ["<b>"], "post_tags": ["</b>"],
                                   "fields": {"body": {"fragment_size": 40, "number_of_fragments": 2}}}),
    "no fragments": ({"match": {"body": "cluster"}}, {"fields": {"body": {"number_of_fragments": 0}}}),
    "keyword field": ({"term": {"tag": "red"}}, {"fields": {"tag": {}}}),
    "require_field_match false": ({"match": {"title": "neural"}},
                                  {"require_field_match": False, "fields": {"title": {}, "body": {}}}),
}


@pytest.mark.parametrize(("query", "highlight"), HIGHLIGHTS.values(), ids=HIGHLIGHTS.keys())
def test_highlight(pair, corpus, query, highlight):
    local, reference = pair.search(corpus, {"query": query, "highlight": highlight, "size": 60, "_source": False})
    assert_same_answer(local, reference)

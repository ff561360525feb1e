"""Query DSL, differential: the same query to localsearch and to OpenSearch gives the same hits, totals and scores.

Hand-written cases cover each clause the product, opensearch-py and Dashboards send; generated ones (hypothesis)
combine them. Scores are compared within BM25_REL (see harness.py).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.corpus import TAGS, WORDS
from tests.differential.harness import assert_same_answer

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

QUERIES = {
    "match": {"match": {"body": "vector search"}},
    "match one word": {"match": {"title": "neural"}},
    "match and": {"match": {"body": {"query": "vector search score", "operator": "and"}}},
    "match minimum_should_match": {"match": {"body": {"query": "vector search score model",
                                                      "minimum_should_match": 2}}},
    "match minimum_should_match percent": {"match": {"body": {"query": "vector search score model",
                                                              "minimum_should_match": "75%"}}},
    "match boost": {"match": {"body": {"query": "hybrid", "boost": 2.5}}},
    "match on a keyword": {"match": {"tag": "red"}},
    "match on a number": {"match": {"n": "42"}},
    "match on a number, lenient": {"match": {"n": {"query": "abc", "lenient": True}}},
    "match, no such field": {"match": {"nothing_here": "vector"}},
    "match, nothing matches": {"match": {"body": "zebra"}},
    "match, no tokens": {"match": {"body": "!!!"}},
    "match, no tokens, zero_terms_query all": {"match": {"body": {"query": "!!", "zero_terms_query": "all"}}},
    "match_phrase": {"match_phrase": {"body": "vector search"}},
    "match_phrase one word": {"match_phrase": {"title": "rank"}},
    "match_phrase reversed": {"match_phrase": {"body": "search vector"}},
    "multi_match best_fields": {"multi_match": {"query": "neural ranking model", "fields": ["title", "body"]}},
    "multi_match field boosts": {"multi_match": {"query": "hybrid query", "fields": ["title^3", "body"]}},
    "multi_match tie_breaker": {"multi_match": {"query": "hybrid query", "fields": ["title", "body"],
                                                "tie_breaker": 0.3}},
    "multi_match most_fields": {"multi_match": {"query": "shard token", "fields": ["title", "body"],
                                                "type": "most_fields"}},
    "multi_match phrase": {"multi_match": {"query": "shard token", "fields": ["title", "body"], "type": "phrase"}},
    "multi_match every field, lenient": {"multi_match": {"query": "red", "lenient": True}},
    "multi_match wildcard fields": {"multi_match": {"query": "model", "fields": ["t*", "body"]}},
    "multi_match keyword and text": {"multi_match": {"query": "red index", "fields": ["title", "tag"]}},
    "multi_match operator and": {"multi_match": {"query": "index score", "fields": ["title", "body"],
                                                 "operator": "and"}},
    "DQL free text": {"bool": {"must": [], "filter": [
        {"multi_match": {"type": "best_fields", "query": "reranker passage", "lenient": True}}],
        "should": [], "must_not": []}},
    "DQL phrase": {"bool": {"filter": [{"match_phrase": {"body": "passage answer"}}]}},
    "DQL field:value": {"bool": {"filter": [{"bool": {"should": [{"match": {"tag": "green"}}],
                                                      "minimum_should_match": 1}}]}},
    "DQL and range": {"bool": {"must": [], "filter": [
        {"multi_match": {"type": "best_fields", "query": "vector", "lenient": True}},
        {"range": {"day": {"gte": "2024-01-15T00:00:00.000Z", "lte": "2024-02-20T00:00:00.000Z",
                           "format": "strict_date_optional_time"}}}], "should": [], "must_not": []}},
    "term keyword": {"term": {"tag": "blue"}},
    "term keyword boost": {"term": {"tag": {"value": "blue", "boost": 3}}},
    "term text": {"term": {"body": "vector"}},
    "term number": {"term": {"n": 7}},
    "term boolean": {"term": {"flag": True}},
    "term subfield": {"term": {"title.raw": "vector"}},
    "term object field": {"term": {"author.name": "ada"}},
    "terms": {"terms": {"tag": ["red", "amber"]}},
    "terms multi-valued": {"terms": {"labels": ["green"]}},
    "terms numbers": {"terms": {"n": [1, 2, 3, 40, 50]}},
    "range integer": {"range": {"n": {"gte": 10, "lt": 40}}},
    "range integer, decimal bounds": {"range": {"n": {"gt": 10.5, "lte": 39.5}}},
    "range float": {"range": {"price": {"gte": 12.5, "lte": 30}}},
    "range date": {"range": {"day": {"gte": "2024-02-01", "lt": "2024-03-01"}}},
    "range date, lte a day": {"range": {"day": {"gte": "2024-01-05", "lte": "2024-01-20"}}},
    "range date, gt a day": {"range": {"day": {"gt": "2024-01-05", "lt": "2024-02-10T12:00"}}},
    "range date math": {"range": {"day": {"gte": "2024-01-05||/M", "lte": "2024-02-10||+1d/d"}}},
    "range date, epoch millis": {"range": {"day": {"gte": 1706745600000}}},
    "range keyword": {"range": {"tag": {"gte": "b", "lt": "h"}}},
    "range, no bounds": {"range": {"n": {}}},
    "exists": {"exists": {"field": "price"}},
    "exists object": {"exists": {"field": "author"}},
    "exists, no such field": {"exists": {"field": "nothing_here"}},
    "ids": {"ids": {"values": ["1", "5", "17", "999"]}},
    "match_all": {"match_all": {}},
    "match_all boost": {"match_all": {"boost": 1.5}},
    "match_none": {"match_none": {}},
    "bool must filter must_not": {"bool": {"must": [{"match": {"body": "index"}}],
                                           "filter": [{"term": {"tag": "red"}}],
                                           "must_not": [{"range": {"n": {"gte": 50}}}]}},
    "bool should": {"bool": {"should": [{"match": {"title": "vector"}}, {"match": {"body": "rank"}}]}},
    "bool should minimum_should_match": {"bool": {"should": [{"match": {"title": "vector"}},
                                                             {"match": {"body": "rank"}},
                                                             {"term": {"tag": "red"}}],
                                                  "minimum_should_match": 2}},
    "bool must and should": {"bool": {"must": {"match": {"body": "filter"}},
                                      "should": [{"match": {"title": "filter"}}]}},
    "bool filter only": {"bool": {"filter": [{"term": {"flag": False}}]}},
    "bool must_not only": {"bool": {"must_not": [{"terms": {"tag": ["red", "blue"]}}]}},
    "bool nested": {"bool": {"should": [{"bool": {"must": [{"match": {"body": "cluster"}}],
                                                  "filter": {"exists": {"field": "n"}}}},
                                        {"bool": {"must_not": {"match_all": {}}}}]}},
    "bool boost": {"bool": {"must": [{"match": {"body": "token"}}], "boost": 2}},
    "empty bool": {"bool": {}},
    "constant_score": {"constant_score": {"filter": {"match": {"body": "answer"}}, "boost": 1.7}},
    "dis_max": {"dis_max": {"queries": [{"match": {"title": "model"}}, {"match": {"body": "model"}}],
                            "tie_breaker": 0.2}},
    "prefix keyword": {"prefix": {"tag": "gr"}},
    "wildcard keyword": {"wildcard": {"tag": "*e*"}},
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_query(pair, corpus, query):
    local, reference = pair.search(corpus, {"query": query, "size": 100})
    assert reference.status == 200, reference.body
    assert_same_answer(local, reference)


# ---- generated: the shapes the product, opensearch-py and Dashboards send, combined ----------------------------

words = st.lists(st.sampled_from(WORDS + ["zebra"]), min_size=1, max_size=4).map(" ".join)
text_fields = st.sampled_from(["title", "body"])
leaf = st.one_of(
    st.builds(lambda f, t: {"match": {f: t}}, text_fields, words),
    st.builds(lambda f, t, op: {"match": {f: {"query": t, "operator": op}}}, text_fields, words,
              st.sampled_from(["or", "and"])),
    st.builds(lambda f, t: {"match_phrase": {f: t}}, text_fields, words),
    st.builds(lambda t, fields, kind: {"multi_match": {"query": t, "fields": fields, "type": kind}}, words,
              st.sampled_from([["title", "body"], ["title^2", "body"], ["body", "tag"]]),
              st.sampled_from(["best_fields", "most_fields"])),
    st.builds(lambda t: {"multi_match": {"type": "best_fields", "query": t, "lenient": True}}, words),
    st.builds(lambda v: {"term": {"tag": v}}, st.sampled_from(TAGS)),
    st.builds(lambda v: {"terms": {"labels": v}}, st.lists(st.sampled_from(TAGS), min_size=1, max_size=2)),
    st.builds(lambda lo, width: {"range": {"n": {"gte": lo, "lte": lo + width}}},
              st.integers(0, 100), st.integers(0, 60)),
    st.builds(lambda m, d: {"range": {"day": {"gte": f"2024-{m:02d}-{d:02d}"}}},
              st.integers(1, 3), st.integers(1, 28)),
    st.builds(lambda f: {"exists": {"field": f}}, st.sampled_from(["n", "price", "labels", "author.name"])),
    st.builds(lambda b: {"term": {"flag": b}}, st.booleans()),
)


def _bool(parts: dict[str, list]) -> dict:
    return {"bool": {k: v for k, v in parts.items() if v}}


queries = st.recursive(
    leaf,
    lambda inner: st.builds(_bool, st.fixed_dictionaries({
        "must": st.lists(inner, max_size=2), "should": st.lists(inner, max_size=2),
        "filter": st.lists(inner, max_size=2), "must_not": st.lists(inner, max_size=1)})),
    max_leaves=5)


@SETTINGS
@given(query=queries, size=st.sampled_from([5, 20, 100]))
def test_generated_queries(pair, corpus, query, size):
    local, reference = pair.search(corpus, {"query": query, "size": size})
    assert_same_answer(local, reference)

"""Lucene query syntax, differential: `query_string` (Dashboards' Lucene mode, the `q` parameter) and
`simple_query_string` match and score as OpenSearch's parsers make them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.corpus import TAGS, WORDS
from tests.differential.harness import assert_same_answer

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

QUERY_STRINGS = [
    "vector", "vector search", "vector AND search", "vector OR search", "vector && search || rank",
    "+vector -search", "vector NOT search", "NOT vector", "-vector", "!vector", "(vector OR rank) AND model",
    "vector AND (rank OR model) NOT index", '"vector search"', '"search vector"', 'title:"neural rank"',
    "title:vector", "title:(vector OR rank)", "body:vector^2 title:rank", "(vector rank)^3",
    "tag:red", "tag:RED", "tag:(red OR blue)", "n:42", "n:[10 TO 40]", "n:{10 TO 40}", "n:>50", "n:<=5",
    "n:[* TO 10]", "price:[10.5 TO 20]", "day:[2024-02-01 TO 2024-02-15]", "day:>2024-03-01",
    "_exists_:price", "author.name:ada", "title.raw:vector", "vec*", "title:ran*", "tag:gr*", "t?g:red",
    "flag:true", "vector AND tag:red AND n:[0 TO 50]", "nothing_here:vector", "zebra", "vector zebra",
    "title:*", "tag:*", "reranker-passage", "vector\\-search",
]


@pytest.mark.parametrize("text", QUERY_STRINGS)
@pytest.mark.parametrize("options", [{}, {"default_operator": "AND"}, {"fields": ["title", "body"]},
                                     {"default_field": "body"}, {"fields": ["title^2", "body"], "tie_breaker": 0.3}],
                         ids=["default", "AND", "two fields", "default_field", "boost and tie_breaker"])
def test_query_string(pair, corpus, text, options):
    query = {"query_string": {"query": text, **options}}
    assert_same_answer(*pair.search(corpus, {"query": query, "size": 60}))


@pytest.mark.parametrize("text", ["vector", "tag:red AND rank", '"passage answer"', "n:[1 TO 30]"])
def test_q_parameter(pair, corpus, text):
    assert_same_answer(*pair.search(corpus, None, {"q": text, "size": 60}))
    local, reference = pair.send("GET", f"/{corpus}/_count", params={"q": text})
    assert local.body["count"] == reference.body["count"]


def test_dashboards_lucene_mode(pair, corpus):
    query = {"bool": {"must": [{"query_string": {"query": "vector AND tag:red", "analyze_wildcard": True,
                                                 "time_zone": "UTC"}}],
                      "filter": [{"range": {"day": {"gte": "2024-01-01T00:00:00.000Z",
                                                    "lte": "2024-03-31T00:00:00.000Z",
                                                    "format": "strict_date_optional_time"}}}]}}
    assert_same_answer(*pair.search(corpus, {"query": query, "size": 60}))


@pytest.mark.parametrize("text", ["vector AND", "(vector", "title:", '"vector', "n:abc"])
def test_query_string_errors(pair, corpus, text):
    assert_same_answer(*pair.search(corpus, {"query": {"query_string": {"query": text}}}))


SIMPLE = ["vector", "vector search", "vector +search", "vector | search", "vector -search", "-vector",
          '"vector search"', "vec*", "(vector | rank) +model", "vector + -search", "zebra", "reranker-passage"]


@pytest.mark.parametrize("text", SIMPLE)
@pytest.mark.parametrize("options", [{}, {"default_operator": "and"}, {"fields": ["title", "body"]},
                                     {"fields": ["title^3", "body"]}],
                         ids=["default", "and", "two fields", "boosted field"])
def test_simple_query_string(pair, corpus, text, options):
    query = {"simple_query_string": {"query": text, **options}}
    assert_same_answer(*pair.search(corpus, {"query": query, "size": 60}))


word = st.sampled_from(WORDS + ["zebra"])
atom = st.one_of(word, word.map(lambda w: f"title:{w}"), st.sampled_from(TAGS).map(lambda t: f"tag:{t}"),
                 st.lists(word, min_size=2, max_size=2).map(lambda ws: f'"{" ".join(ws)}"'),
                 st.integers(0, 90).map(lambda n: f"n:[{n} TO {n + 20}]"))
expressions = st.recursive(
    atom,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " ", " -", " +", " NOT "]), inner).map("".join),
        inner.map(lambda e: f"({e})")),
    max_leaves=6)


@SETTINGS
@given(text=expressions, operator=st.sampled_from(["OR", "AND"]))
def test_generated_query_strings(pair, corpus, text, operator):
    query = {"query_string": {"query": text, "default_operator": operator}}
    assert_same_answer(*pair.search(corpus, {"query": query, "size": 30, "_source": False}))

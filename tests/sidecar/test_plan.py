"""Which searches are reranked (design section 3): query text, filters, pass-through, overrides."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchcore.errors import IllegalArgument, ParsingError, SearchError
from sidecar.plan import (
    PASSTHROUGH_KEYS,
    PassThrough,
    RerankOverrides,
    SearchPlan,
    plan_search,
    strip_rerank_ext,
)
from sidecar.query_text import knn_filters, lucene_to_text, query_texts
from sidecar.settings import Limits


def plan(body, params=None, headers=None, *, profile_window=100, max_window=500, limits=None):
    return plan_search(body, params or {}, headers or {}, profile_window=profile_window,
                       max_window=max_window, limits=limits)


def reranked(body, params=None, headers=None, **kwargs) -> SearchPlan:
    result = plan(body, params, headers, **kwargs)
    assert isinstance(result, SearchPlan), result
    return result


def passed(body, params=None, headers=None, **kwargs) -> PassThrough:
    result = plan(body, params, headers, **kwargs)
    assert isinstance(result, PassThrough), result
    return result


# ---- query text from each DSL form ----

@pytest.mark.parametrize("query, text", [
    ({"match": {"title": "neural ranking"}}, "neural ranking"),
    ({"match": {"title": {"query": "neural ranking", "operator": "and"}}}, "neural ranking"),
    ({"match_phrase": {"body": "deep learning"}}, "deep learning"),
    ({"match_phrase": {"body": {"query": "deep learning", "slop": 2}}}, "deep learning"),
    ({"match_phrase_prefix": {"title": {"query": "quick bro"}}}, "quick bro"),
    ({"multi_match": {"query": "vector search", "fields": ["title^2", "body"]}}, "vector search"),
    ({"combined_fields": {"query": "cross encoder", "fields": ["title", "body"]}}, "cross encoder"),
    ({"query_string": {"query": "title:neural AND (ranking OR retrieval)"}}, "neural ranking retrieval"),
    ({"simple_query_string": {"query": '"fried eggs" +(eggplant | potato) -frittata'}},
     "fried eggs eggplant potato"),
    ({"match": {"title": "  spaced \n  out  "}}, "spaced out"),
])
def test_query_text_from_each_full_text_form(query, text):
    assert reranked({"query": query}).query_text == text


def test_texts_inside_nested_bools_join_in_written_order():
    query = {"bool": {
        "should": [{"match": {"title": "alpha"}},
                   {"bool": {"must": [{"multi_match": {"query": "beta", "fields": ["a"]}}],
                             "should": {"bool": {"should": [{"match_phrase": {"b": "gamma"}}]}}}}],
        "must": [{"query_string": {"query": "delta"}}],
    }}
    assert reranked({"query": query}).query_text == "alpha beta gamma delta"


def test_the_same_text_on_several_fields_counts_once():
    query = {"bool": {"should": [{"match": {"title": "neural"}}, {"match": {"body": "neural"}}]}}
    assert reranked({"query": query}).query_text == "neural"


def test_numbers_and_negated_text_are_not_query_text():
    assert query_texts({"match": {"year": 2020}}) == []
    assert query_texts({"match": {"year": {"query": 2020}}}) == []
    assert query_texts({"bool": {"must_not": [{"match": {"title": "spam"}}]}}) == []
    assert query_texts({"boosting": {"positive": {"match": {"t": "good"}},
                                     "negative": {"match": {"t": "bad"}}}}) == ["good"]


def test_text_inside_scoring_wrappers_is_found():
    assert query_texts({"function_score": {"query": {"match": {"t": "wrapped"}},
                                           "functions": [{"weight": 2}]}}) == ["wrapped"]
    assert query_texts({"dis_max": {"queries": [{"match": {"a": "x"}}, {"match": {"b": "y"}}]}}) == ["x", "y"]


def test_field_scoped_matches_in_filter_context_are_structured_filters():
    # Dashboards' filter pills and DQL `field:value` arrive as match/match_phrase inside bool.filter
    query = {"bool": {"filter": [{"match_phrase": {"extension": "jpg"}}]}}
    assert passed({"query": query}).reason == "no-query-text"


@pytest.mark.parametrize("query", [
    None, {"match_all": {}}, {"term": {"status": "published"}}, {"match": {"title": ""}},
    {"query_string": {"query": "*"}}, {"bool": {"filter": [{"range": {"y": {"gte": 1}}}]}},
    {"bool": {"must": "not a list of clauses"}}, "not an object", {"match": {}},
])
def test_without_query_text_the_search_passes_through(query):
    body = {} if query is None else {"query": query}
    assert passed(body).reason == "no-query-text"


def test_ext_query_text_wins_and_works_without_a_text_query():
    body = {"query": {"match": {"title": "from the dsl"}}, "ext": {"rerank": {"query_text": "  given  text "}}}
    result = reranked(body)
    assert result.query_text == "given text"
    assert result.lexical_query == {"match": {"title": "from the dsl"}}
    assert reranked({"ext": {"rerank": {"query_text": "only this"}}}).lexical_query == {"match_all": {}}


def test_q_parameter_is_a_query_string_query():
    result = reranked(None, {"q": "title:neural ranking", "df": "body", "analyze_wildcard": "true"})
    assert result.query_text == "neural ranking"
    assert result.lexical_query == {"query_string": {"query": "title:neural ranking",
                                                     "default_field": "body", "analyze_wildcard": True}}


# ---- Lucene syntax to natural text ----

@pytest.mark.parametrize("lucene, text", [
    ("title:neural AND retrieval", "neural retrieval"),
    ('"deep learning"^2 OR title:(transformers -bert)', "deep learning transformers"),
    ("NOT spam AND ham", "ham"),
    ("!spam ham", "ham"),
    ("ham && eggs || bacon", "ham eggs bacon"),
    ("date:[2020-01-01 TO 2021-01-01] foo", "foo"),
    ("price:{10 TO *} foo", "foo"),
    ("year:>=2020 foo", "foo"),
    ("_exists_:title foo", "foo"),
    ('fuzzy~2 "a b"~3 boost^1.5', "fuzzy a b boost"),
    ("name:/joh?n/ x", "x"),
    (r"c\+\+ programming", "c++ programming"),
    ("neur* qu?ck", "neur quck"),
    ("*", ""),
    ("*:*", ""),
    ("-title:(a b) c", "c"),
    ("rock and roll", "rock and roll"),  # lower-case and/or are words, as in Lucene
    ("e-mail", "e-mail"),
    ('"unterminated phrase', "unterminated phrase"),
])
def test_lucene_to_text(lucene, text):
    assert lucene_to_text(lucene) == text


# ---- filters for the k-NN leg ----

def test_non_text_clauses_become_filters_for_both_legs():
    query = {"bool": {
        "must": [{"match": {"title": "neural"}}, {"term": {"lang": "en"}}],
        "filter": [{"range": {"year": {"gte": 2020}}}],
        "must_not": {"term": {"status": "draft"}},
        "should": [{"match": {"body": "ranking"}}, {"term": {"featured": True}}],
    }}
    result = reranked({"query": query})
    assert result.lexical_query == query  # the BM25 leg is the client's query, untouched
    assert result.filters == [{"range": {"year": {"gte": 2020}}}, {"term": {"lang": "en"}},
                              {"bool": {"must_not": [{"term": {"status": "draft"}}]}}]
    assert result.query_text == "neural ranking"


def test_a_bare_text_query_has_no_filters():
    assert reranked({"query": {"match": {"title": "neural"}}}).filters == []


def test_required_should_clauses_filter_unless_one_is_text():
    only_structured = {"bool": {"should": [{"term": {"a": 1}}, {"term": {"b": 2}}],
                                "must": {"match": {"t": "x"}}, "minimum_should_match": 1}}
    assert knn_filters(only_structured) == [
        {"bool": {"should": [{"term": {"a": 1}}, {"term": {"b": 2}}], "minimum_should_match": 1}}]
    with_text = {"bool": {"should": [{"match": {"t": "x"}}, {"term": {"b": 2}}]}}
    assert knn_filters(with_text) == []


def test_filters_nested_under_text_clauses_are_kept():
    # a tenant filter inside each should-branch must still bind the k-NN leg
    branch = {"bool": {"must": {"match": {"t": "x"}}, "filter": {"term": {"tenant": "a"}}}}
    query = {"bool": {"should": [branch, branch]}}
    expected_branch = {"bool": {"filter": [{"term": {"tenant": "a"}}]}}
    assert knn_filters(query) == [{"bool": {"should": [expected_branch, expected_branch],
                                            "minimum_should_match": 1}}]
    scored = {"function_score": {"query": {"bool": {"must": {"match": {"t": "x"}},
                                                    "filter": {"term": {"tenant": "a"}}}}}}
    assert knn_filters(scored) == [{"term": {"tenant": "a"}}]


def test_post_filter_binds_both_legs():
    body = {"query": {"match": {"t": "x"}}, "post_filter": {"term": {"color": "red"}}}
    result = reranked(body)
    assert result.filters == [{"term": {"color": "red"}}]
    assert result.lexical_query == {"bool": {"must": [{"match": {"t": "x"}}],
                                             "filter": [{"term": {"color": "red"}}]}}


# ---- the shapes OpenSearch Dashboards sends (src/plugins/data/common/opensearch_query) ----

TIME_RANGE = {"range": {"@timestamp": {"gte": "2024-05-01T00:00:00.000Z", "lte": "2024-05-02T00:00:00.000Z",
                                       "format": "strict_date_optional_time"}}}


def discover_body(query, sort=None):
    """Discover's search source body (non-time-based index pattern sorts by _score)."""
    return {"version": True, "size": 500, "sort": sort or [{"_score": {"order": "desc"}}],
            "aggs": {"2": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30m",
                                              "time_zone": "Europe/Berlin", "min_doc_count": 1}}},
            "stored_fields": ["*"], "script_fields": {},
            "docvalue_fields": [{"field": "@timestamp", "format": "date_time"}],
            "_source": {"excludes": []}, "query": query,
            "highlight": {"pre_tags": ["@opensearch-dashboards-highlighted-field@"],
                          "post_tags": ["@/opensearch-dashboards-highlighted-field@"],
                          "fields": {"*": {}}, "fragment_size": 2147483647}}


def dql(*filters):
    """buildOpenSearchQuery: kuery clauses land in bool.filter (from_kuery, functions/and.ts)."""
    return {"bool": {"must": [], "filter": [*filters, TIME_RANGE], "should": [], "must_not": []}}


def test_dql_free_text_is_the_query_text_and_stays_a_filter():
    free_text = {"multi_match": {"type": "best_fields", "query": "neural retrieval", "lenient": True}}
    result = reranked(discover_body(dql(free_text)))
    assert result.query_text == "neural retrieval"
    assert result.filters == [free_text, TIME_RANGE]
    assert result.size == 500
    assert set(result.passthrough_keys) == {"version", "aggs", "stored_fields", "script_fields",
                                            "docvalue_fields", "highlight"}


def test_dql_quoted_phrase_and_or():
    phrase = {"multi_match": {"type": "phrase", "query": "neural retrieval", "lenient": True}}
    assert reranked(discover_body(dql(phrase))).query_text == "neural retrieval"
    either = {"bool": {"should": [{"multi_match": {"type": "best_fields", "query": "neural", "lenient": True}},
                                  {"multi_match": {"type": "best_fields", "query": "ranking", "lenient": True}}],
                       "minimum_should_match": 1}}
    result = reranked(discover_body(dql(either)))
    assert result.query_text == "neural ranking"
    assert result.filters == [either, TIME_RANGE]


def test_dql_text_and_not_field_value():
    # `neural and not status:draft` (functions/and.ts, not.ts, is.ts)
    clause = {"bool": {"filter": [
        {"multi_match": {"type": "best_fields", "query": "neural", "lenient": True}},
        {"bool": {"must_not": {"bool": {"should": [{"match": {"status": "draft"}}], "minimum_should_match": 1}}}},
    ]}}
    result = reranked(discover_body(dql(clause)))
    assert result.query_text == "neural"
    assert result.filters == [clause, TIME_RANGE]


def test_dql_wildcard_value_is_a_query_string():
    assert reranked(discover_body(dql({"query_string": {"query": "neur*"}}))).query_text == "neur"


def test_dashboards_lucene_query_is_scoring_text():
    lucene = {"bool": {"must": [{"query_string": {"query": "title:neural AND retrieval", "analyze_wildcard": True,
                                                  "time_zone": "Europe/Berlin"}}],
                       "filter": [TIME_RANGE], "should": [], "must_not": []}}
    result = reranked(discover_body(lucene))
    assert result.query_text == "neural retrieval"
    assert result.filters == [TIME_RANGE]


def test_dashboards_time_sorted_discover_passes_through():
    sort = [{"@timestamp": {"order": "desc", "unmapped_type": "boolean"}}]
    free_text = {"multi_match": {"type": "best_fields", "query": "neural", "lenient": True}}
    assert passed(discover_body(dql(free_text), sort=sort)).reason == "sorted"


def test_dashboards_empty_query_passes_through():
    empty = {"bool": {"must": [{"match_all": {}}], "filter": [TIME_RANGE], "should": [], "must_not": []}}
    assert passed(discover_body(empty)).reason == "no-query-text"


# ---- sort, paging and other pass-through reasons ----

@pytest.mark.parametrize("sort", [
    "_score", ["_score"], {"_score": "desc"}, [{"_score": "DESC"}], [{"_score": {"order": "desc"}}],
    [{"_score": {}}], [],
])
def test_sorting_by_score_descending_is_still_reranked(sort):
    assert isinstance(plan({"query": {"match": {"t": "x"}}, "sort": sort}), SearchPlan)


@pytest.mark.parametrize("sort", [
    "date", [{"date": "desc"}], [{"_score": "asc"}], [{"_score": {"order": "asc"}}],
    ["_score", {"date": "desc"}], [{"_script": {"type": "number", "script": "1"}}], [{"_score": 3}],
])
def test_any_other_sort_passes_through(sort):
    assert passed({"query": {"match": {"t": "x"}}, "sort": sort}).reason == "sorted"


def test_sort_parameter():
    text = {"query": {"match": {"t": "x"}}}
    assert isinstance(plan(text, {"sort": "_score:desc"}), SearchPlan)
    assert passed(text, {"sort": "_score:desc,date:asc"}).reason == "sorted"
    assert passed(text, {"sort": "_score:asc"}).reason == "sorted"


@pytest.mark.parametrize("extra, params, reason", [
    ({}, {"scroll": "1m"}, "scroll"),
    ({"pit": {"id": "abc", "keep_alive": "1m"}}, {}, "pit"),
    ({"search_after": [1.5, "doc-3"], "sort": ["_score"]}, {}, "search_after"),
    ({"rescore": {"window_size": 50, "query": {"rescore_query": {"match": {"t": "x"}}}}}, {}, "rescore"),
    ({"collapse": {"field": "user"}}, {}, "collapse"),
    ({"min_score": 1.5}, {}, "min-score"),
    ({"size": 0, "aggs": {"n": {"terms": {"field": "tag"}}}}, {}, "size-zero"),
    ({}, {"size": "0"}, "size-zero"),
])
def test_pass_through_reasons(extra, params, reason):
    assert passed({"query": {"match": {"t": "x"}}, **extra}, params).reason == reason


@pytest.mark.parametrize("query", [
    {"knn": {"embedding": {"vector": [0.1, 0.2], "k": 10}}},
    {"bool": {"must": [{"match": {"t": "x"}}], "should": [{"knn": {"embedding": {"vector": [1], "k": 5}}}]}},
    {"hybrid": {"queries": [{"match": {"t": "x"}}, {"neural": {"e": {"query_text": "x", "k": 5}}}]}},
    {"bool": {"must": {"match": {"t": "x"}}, "filter": {"neural": {"e": {"query_text": "x"}}}}},
])
def test_a_client_doing_vector_search_itself_passes_through(query):
    assert passed({"query": query}).reason == "vector-query"


def test_from_and_size_defaults_and_parameters_win():
    text = {"query": {"match": {"t": "x"}}}
    result = reranked(text)
    assert (result.from_, result.size) == (0, 10)
    result = reranked({**text, "from": 20, "size": 5}, {"from": "40", "size": "25"})
    assert (result.from_, result.size) == (40, 25)
    assert reranked({**text, "from": "3", "size": 7.0}).from_ == 3  # coerced like OpenSearch


def test_pages_past_the_window_are_still_planned():
    result = reranked({"query": {"match": {"t": "x"}}, "from": 490, "size": 50}, profile_window=100)
    assert (result.from_, result.size, result.window) == (490, 50, 100)


@pytest.mark.parametrize("body, params, error, reason", [
    ({"size": -1}, {}, IllegalArgument, "[size] parameter cannot be negative, found [-1]"),
    ({"from": -5}, {}, IllegalArgument, "[from] parameter cannot be negative, found [-5]"),
    ({}, {"size": "ten"}, IllegalArgument, "Failed to parse int parameter [size] with value [ten]"),
    ({}, {"size": "1e400"}, IllegalArgument, "Failed to parse int parameter [size] with value [1e400]"),
])
def test_bad_from_and_size(body, params, error, reason):
    with pytest.raises(error) as caught:
        plan({"query": {"match": {"t": "x"}}, **body}, params)
    assert caught.value.reason == reason
    assert caught.value.status == 400


@pytest.mark.parametrize("value", ["ten", "\ud800", 1.5, True, [], float("inf"), float("-inf"), 2**31, -(2**31) - 1,
                                   10**100, 1e300])
@pytest.mark.parametrize("key", ["from", "size"])
def test_from_or_size_the_cluster_reads_its_own_way_is_the_clusters_to_answer(key, value):
    """The node coerces some (1.5, "10"), refuses others with Jackson's and Java's own error types
    (number_format_exception, input_coercion_exception, json_parse_exception): it answers them itself."""
    body = {"query": {"match": {"t": "x"}}, key: value, "ext": {"rerank": {"window": 5}}}
    result = passed(body)
    assert result.reason == "cluster-judges"
    assert result.body == {"query": {"match": {"t": "x"}}, key: value}   # ext.rerank stays with the sidecar


# ---- opt-out and ext.rerank ----

def test_opt_out_in_the_body_strips_ext_rerank():
    body = {"query": {"match": {"t": "x"}}, "ext": {"rerank": {"enabled": False}}}
    result = passed(body)
    assert result.reason == "opt-out"
    assert result.body == {"query": {"match": {"t": "x"}}}
    assert result.body_changed


@pytest.mark.parametrize("name, value", [("X-Rerank", "off"), ("x-rerank", "OFF"), ("X-RERANK", " Off "),
                                         ("X-Rerank", "false"), ("X-Rerank", "0")])
def test_opt_out_header(name, value):
    body = {"query": {"match": {"t": "x"}}}
    result = passed(body, headers={name: value})
    assert result.reason == "opt-out"
    assert result.body is body and not result.body_changed  # raw bytes can go upstream


def test_other_header_values_do_not_opt_out():
    assert isinstance(plan({"query": {"match": {"t": "x"}}}, headers={"X-Rerank": "on"}), SearchPlan)


def test_overrides_are_parsed():
    rerank = {"enabled": True, "window": 50, "fusion": "rrf", "score_mode": "blend", "explain": True,
              "query_text": "q", "budget_ms": 250, "retrieval": "client"}
    result = reranked({"query": {"match": {"t": "x"}}, "ext": {"rerank": rerank}})
    assert result.overrides == RerankOverrides(enabled=True, window=50, fusion="rrf", score_mode="blend",
                                               explain=True, query_text="q", budget_ms=250.0, retrieval="client")
    assert result.window == 50 and result.explain
    assert isinstance(result.overrides.budget_ms, float)


def test_fusion_overrides_are_parsed():
    rerank = {"fusion": "l2", "fusion_combination": "geometric_mean", "fusion_weights": [0.3, 0.7],
              "fusion_rank_constant": 20}
    result = reranked({"query": {"match": {"t": "x"}}, "ext": {"rerank": rerank}})
    assert result.overrides == RerankOverrides(fusion="l2", fusion_combination="geometric_mean",
                                               fusion_weights=(0.3, 0.7), fusion_rank_constant=20)


def test_window_defaults_to_the_profile():
    assert reranked({"query": {"match": {"t": "x"}}}, profile_window=64).window == 64


@pytest.mark.parametrize("rerank, reason", [
    ({"window": 5000}, "[ext.rerank.window] must be between 1 and 500, got 5000"),
    ({"window": 0}, "[ext.rerank.window] must be between 1 and 500, got 0"),
    ({"window": "10"}, '[ext.rerank.window] must be between 1 and 500, got "10"'),
    ({"window": True}, "[ext.rerank.window] must be between 1 and 500, got true"),
    ({"fusion": "cosine"}, "[ext.rerank.fusion] must be one of [min_max, l2, z_score, rrf], got [cosine]"),
    ({"score_mode": "max"}, "[ext.rerank.score_mode] must be one of [sigmoid, raw, minmax, blend], got [max]"),
    ({"retrieval": "magic"}, "[ext.rerank.retrieval] must be one of [auto, server, client], got [magic]"),
    ({"enabled": "no"}, "[ext.rerank.enabled] must be true or false, got [no]"),
    ({"explain": 1}, "[ext.rerank.explain] must be true or false, got [1]"),
    ({"budget_ms": -1}, "[ext.rerank.budget_ms] must be a positive number of milliseconds, got -1"),
    ({"budget_ms": "fast"}, '[ext.rerank.budget_ms] must be a positive number of milliseconds, got "fast"'),
    ({"query_text": ""}, "[ext.rerank.query_text] must be a non-empty string, got []"),
    ({"query_text": "  \t"}, "[ext.rerank.query_text] must be a non-empty string, got [  \t]"),
    ({"query_text": 42}, "[ext.rerank.query_text] must be a non-empty string, got [42]"),
    ({"windw": 10, "fusoin": "rrf"}, "[ext.rerank] unknown fields [windw, fusoin], expected any of "
     "[enabled, window, fusion, fusion_combination, fusion_weights, fusion_rank_constant, score_mode, explain, "
     "query_text, budget_ms, retrieval]"),
    ({"fusion_combination": "median"}, "[ext.rerank.fusion_combination] must be one of [arithmetic_mean, "
     "geometric_mean, harmonic_mean, rrf], got [median]"),
    ({"fusion_weights": "0.5,0.5"}, "[ext.rerank.fusion_weights] must be a list of numbers, got [0.5,0.5]"),
    ({"fusion_weights": [0.5, True]}, "[ext.rerank.fusion_weights] must be a list of numbers, got [[0.5, true]]"),
    ({"fusion_weights": [0.6, 0.6]}, "[ext.rerank.fusion_weights] sum of weights for combination must be equal "
     "to 1.0, submitted weights: [0.6, 0.6]"),
    ({"fusion_weights": [1.5, -0.5]}, "[ext.rerank.fusion_weights] all weights must be in range [0.0 ... 1.0], "
     "submitted weights: [1.5, -0.5]"),
    ({"fusion_rank_constant": 0}, "[ext.rerank.fusion_rank_constant] rank constant must be in the interval "
     "between 1 and 10000, submitted rank constant: 0"),
    ({"fusion_rank_constant": 2.5}, "[ext.rerank.fusion_rank_constant] must be an integer, got 2.5"),
])
def test_bad_overrides(rerank, reason):
    with pytest.raises(IllegalArgument) as caught:
        plan({"query": {"match": {"t": "x"}}, "ext": {"rerank": rerank}})
    assert caught.value.reason == reason
    assert caught.value.body()["error"]["root_cause"][0]["type"] == "illegal_argument_exception"


def test_ext_rerank_must_be_an_object():
    with pytest.raises(IllegalArgument, match=r"\[ext.rerank\] must be an object"):
        plan({"query": {"match": {"t": "x"}}, "ext": {"rerank": [1]}})


def test_window_bound_is_the_smaller_of_profile_and_global_maximum():
    with pytest.raises(IllegalArgument, match="between 1 and 200, got 300"):
        plan({"query": {"match": {"t": "x"}}, "ext": {"rerank": {"window": 300}}},
             limits=Limits(max_window=200))


def test_invalid_overrides_fail_even_when_opting_out():
    with pytest.raises(IllegalArgument, match="unknown field"):
        plan({"ext": {"rerank": {"enabled": False, "bogus": 1}}})


def test_query_text_length_is_bounded():
    limits = Limits(max_query_chars=20)
    with pytest.raises(IllegalArgument, match="query text is too long: 21 characters, the maximum is 20"):
        plan({"query": {"match": {"t": "x" * 21}}}, limits=limits)
    with pytest.raises(IllegalArgument, match="too long"):
        plan({"ext": {"rerank": {"query_text": "y" * 21}}}, limits=limits)
    assert reranked({"query": {"match": {"t": "x" * 20}}}, limits=limits).query_text == "x" * 20


# ---- stripping ext.rerank: everything else identical ----

def test_strip_leaves_the_rest_of_the_body_identical():
    body = {"size": 3, "query": {"match": {"t": "x"}}, "ext": {"rerank": {"window": 10}, "rag": {"k": 1}},
            "aggs": {"a": {"terms": {"field": "f"}}}}
    original = copy.deepcopy(body)
    stripped = strip_rerank_ext(body)
    assert body == original  # the input is not modified
    assert json.dumps(stripped) == json.dumps({"size": 3, "query": {"match": {"t": "x"}}, "ext": {"rag": {"k": 1}},
                                               "aggs": {"a": {"terms": {"field": "f"}}}})  # order kept too
    only_rerank = strip_rerank_ext({"query": {}, "ext": {"rerank": {}}, "size": 1})
    assert list(only_rerank) == ["query", "size"]


def test_strip_returns_the_same_object_when_there_is_nothing_to_strip():
    for body in ({"query": {}}, {"ext": {"rag": {}}}, {"ext": "odd"}, None, []):
        assert strip_rerank_ext(body) is body


def test_plan_carries_the_upstream_body_source_and_passthrough_keys():
    body = {"query": {"match": {"t": "x"}}, "ext": {"rerank": {"window": 10}}, "_source": ["title"],
            "aggs": {"tags": {"terms": {"field": "tag"}}}, "track_total_hits": True, "highlight": {"fields": {"t": {}}}}
    result = reranked(body)
    assert result.upstream_body == {key: value for key, value in body.items() if key != "ext"}
    assert result.source == (["title"], [])
    assert result.passthrough_keys == {"aggs": body["aggs"], "track_total_hits": True,
                                       "highlight": body["highlight"]}
    assert set(result.passthrough_keys) <= set(PASSTHROUGH_KEYS)


def test_source_parameters_win_over_the_body():
    body = {"query": {"match": {"t": "x"}}, "_source": False}
    assert reranked(body).source is False
    assert reranked(body, {"_source_includes": "title,body", "_source_excludes": "body.raw"}).source == \
        (["title", "body"], ["body.raw"])
    assert reranked(body, {"_source": "true"}).source is True


def test_explain_from_body_parameter_or_ext():
    text = {"query": {"match": {"t": "x"}}}
    assert not reranked(text).explain
    assert reranked({**text, "explain": True}).explain
    assert reranked(text, {"explain": "true"}).explain
    assert reranked({**text, "ext": {"rerank": {"explain": True}}}).explain


# ---- malformed and hostile bodies ----

def nested(depth: int) -> dict:
    query: dict = {"match": {"t": "x"}}
    for _ in range(depth):
        query = {"bool": {"must": [query]}}
    return {"query": query}


def test_ten_thousand_levels_are_refused_without_recursion():
    with pytest.raises(ParsingError) as caught:
        plan(nested(10_000))
    assert caught.value.reason == "The nesting depth of the request body exceeds the maximum allowed [64]"


def test_nesting_within_the_limit_is_planned():
    assert reranked(nested(20)).query_text == "x"  # 20 bools: 63 JSON levels, the limit is 64
    with pytest.raises(ParsingError):
        plan(nested(21))


def deep_list(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_the_depth_limit_is_exact():
    text = {"query": {"match": {"t": "x"}}}
    assert isinstance(plan({**text, "docvalue_fields": deep_list(63)}), SearchPlan)  # 64 with the body
    with pytest.raises(ParsingError):
        plan({**text, "docvalue_fields": deep_list(64)})


def test_a_body_that_is_not_an_object_is_a_parsing_error():
    with pytest.raises(ParsingError, match=r"Expected \[START_OBJECT\] but found \[START_ARRAY\]"):
        plan([{"query": {}}])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.sampled_from(
        ["_score", "desc", "x", "", "*", "title:(a", "NOT", "\\", '"']),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["query", "bool", "must", "should", "filter", "must_not", "match", "multi_match",
                         "query_string", "ext", "rerank", "window", "sort", "size", "from", "_score", "order",
                         "knn", "function_score", "dis_max", "queries", "post_filter", "t"]),
        children, max_size=3),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["query", "sort", "size", "from", "ext", "post_filter", "_source"]),
                            json_values, max_size=4))
def test_any_json_body_gets_a_plan_or_an_opensearch_error(body):
    try:
        result = plan(body)
    except SearchError as error:
        assert error.status == 400
        return
    assert isinstance(result, SearchPlan | PassThrough)


@pytest.mark.parametrize("extra, params", [
    ({"bogus": 1}, {}), ({"indices_boost": [{"a": 1.0}]}, {}), ({"_source": 1}, {}), ({"_source": {"includes": [1]}}, {}),
    ({"timeout": float("inf")}, {}), ({"aggs": {"a": {"terms": {"field": "c", "size": float("-inf")}}}}, {}),
    ({}, {"df": "title"}), ({}, {"bogus": "1"}), ({}, {"rest_total_hits_as_int": "yes"}),
    ({}, {"track_total_hits": "1e400"}), ({}, {"terminate_after": "9" * 100}),
])
def test_what_the_sidecar_cannot_read_as_the_cluster_does_is_the_clusters_to_answer(extra, params):
    """An unknown key or parameter (the cluster refuses some, reads others the sidecar would drop), a number no
    double holds (it could not be sent on as written), a `_source` form the cluster refuses."""
    assert passed({"query": {"match": {"t": "x"}}, **extra}, params).reason == "cluster-judges"


@pytest.mark.parametrize("extra, params", [
    ({"_source": {"excludes": []}, "stored_fields": ["*"], "script_fields": {}, "version": True}, {}),
    ({"track_total_hits": 10}, {"track_total_hits": "true", "rest_total_hits_as_int": "true", "preference": "1"}),
    ({}, {"q": "x", "df": "t", "terminate_after": "5"}),
])
def test_what_dashboards_sends_is_still_reranked(extra, params):
    reranked({"query": {"match": {"t": "x"}}, **extra}, params)

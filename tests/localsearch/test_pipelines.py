"""Search pipeline bodies and hybrid clauses are accepted and refused as OpenSearch does."""

from __future__ import annotations

import copy

import pytest

from localsearch.failures import phase_failure, shard_failure
from localsearch.hybrid_clause import (
    ShardQueryError,
    check_page_in_results,
    unfused_hybrid_hits,
    validate_hybrid_request,
)
from localsearch.pipelines import SearchPipeline
from searchcore.errors import IllegalArgument, ParsingError, SearchError
from searchcore.fusion import TECHNIQUES, FusionConfig, pipeline_body, pipeline_name


def normalization(**options):
    return {"phase_results_processors": [{"normalization-processor": options}]}


def refused(body, pipeline_id="p"):
    with pytest.raises(SearchError) as caught:
        SearchPipeline.from_body(pipeline_id, body)
    return caught.value


# ---- accepted pipelines ----

def test_normalization_processor_defaults_to_min_max_and_arithmetic_mean():
    assert SearchPipeline.from_body("p", normalization()).fusion == FusionConfig(
        "min_max", "arithmetic_mean", None, 60)


def test_normalization_processor_with_techniques_and_weights():
    body = {"description": "Post processor for hybrid search", **normalization(
        normalization={"technique": "l2"},
        combination={"technique": "harmonic_mean", "parameters": {"weights": [0.3, 0.7]}})}
    pipeline = SearchPipeline.from_body("hybrid", body)
    assert pipeline.fusion == FusionConfig("l2", "harmonic_mean", (0.3, 0.7))
    assert pipeline.id == "hybrid"
    assert pipeline.body == body


def test_body_is_kept_as_given():
    body = normalization(combination={"technique": "arithmetic_mean", "parameters": {}})
    before = copy.deepcopy(body)
    pipeline = SearchPipeline.from_body("p", body)
    assert pipeline.body == before
    assert body == before  # validation does not consume the caller's dict


def test_rrf_normalization_in_normalization_processor_takes_a_rank_constant():
    body = normalization(normalization={"technique": "rrf", "parameters": {"rank_constant": 20}})
    assert SearchPipeline.from_body("p", body).fusion == FusionConfig("rrf", "arithmetic_mean",
                                                                      rank_constant=20)


def test_score_ranker_processor():
    default = {"phase_results_processors": [{"score-ranker-processor": {}}]}
    assert SearchPipeline.from_body("p", default).fusion == FusionConfig("rrf", "rrf", None, 60)
    body = {"phase_results_processors": [{"score-ranker-processor": {"combination": {
        "technique": "rrf", "rank_constant": 40, "parameters": {"weights": [0.6, 0.4]}}}}]}
    assert SearchPipeline.from_body("p", body).fusion == FusionConfig("rrf", "rrf", (0.6, 0.4), 40)
    as_text = {"phase_results_processors": [{"score-ranker-processor": {
        "combination": {"rank_constant": "15"}}}]}
    assert SearchPipeline.from_body("p", as_text).fusion.rank_constant == 15


def test_processor_common_options_are_accepted():
    body = normalization(tag="t1", description="d", ignore_failure=True, **{"sub-query-scores": True})
    assert SearchPipeline.from_body("p", body).fusion == FusionConfig()


def test_pipeline_without_phase_results_processor_has_no_fusion():
    body = {"request_processors": [{"filter_query": {"query": {"term": {"lang": "en"}}}}],
            "response_processors": [{"truncate_hits": {"target_size": 5}}]}
    pipeline = SearchPipeline.from_body("p", body)
    assert pipeline.fusion is None
    assert pipeline.request_processors == ("filter_query",)
    assert pipeline.response_processors == ("truncate_hits",)
    assert SearchPipeline.from_body("empty", {}).fusion is None


# ---- refused pipelines ----

def test_unknown_processor_type():
    error = refused({"phase_results_processors": [{"reranker": {}}]})
    assert (error.error_type, error.status) == ("illegal_argument_exception", 400)
    assert error.reason == "Invalid processor type reranker"
    assert refused({"request_processors": [{"normalization-processor": {}}]}).reason == (
        "Invalid processor type normalization-processor")


def test_unknown_pipeline_key():
    error = refused({"phase_results_processors": [], "stages": 1})
    assert error.error_type == "parse_exception"
    assert error.reason == (
        "pipeline [p] doesn't support one or more provided configuration parameters [stages]")


def test_unknown_processor_option_names_the_processor_and_tag():
    error = refused(normalization(weights=[0.5, 0.5]))
    assert error.error_type == "parse_exception"
    assert error.reason == ("processor [normalization-processor] doesn't support one or more "
                            "provided configuration parameters: [weights]")
    tagged = refused(normalization(tag="t1", extra=True))
    assert tagged.reason.startswith("processor [normalization-processor:t1] doesn't support")


@pytest.mark.parametrize(("options", "reason"), [
    ({"normalization": {"technique": "max"}}, "provided normalization technique is not supported"),
    ({"combination": {"technique": "median"}}, "provided combination technique is not supported"),
    ({"normalization": {"technique": "z_score"}, "combination": {"technique": "harmonic_mean"}},
     "provided combination technique harmonic_mean is not supported for normalization technique "
     "z_score. Supported techniques are: arithmetic_mean"),
    ({"combination": {"technique": "rrf"}},
     "provided combination technique rrf is not supported for normalization technique min_max. "
     "Supported techniques are: arithmetic_mean, geometric_mean, harmonic_mean"),
    ({"combination": {"technique": "arithmetic_mean", "parameters": {"weight": [1.0]}}},
     "provided parameter for combination technique is not supported. supported parameters are "
     "[weights]"),
    ({"combination": {"parameters": {"weights": "0.5,0.5"}}},
     "parameter [weights] must be a collection of numbers"),
    ({"combination": {"parameters": {"weights": [0.5, 0.2]}}},
     "sum of weights for combination must be equal to 1.0, submitted weights: [0.5, 0.2]"),
    ({"combination": {"parameters": {"weights": [1.2, -0.2]}}},
     "all weights must be in range [0.0 ... 1.0], submitted weights: [1.2, -0.2]"),
    ({"normalization": {"technique": "l2", "parameters": {"min_score": 0.1}}},
     "unrecognized parameters in normalization technique"),
    ({"normalization": {"technique": "rrf", "parameters": {"rank_constant": 0}}},
     "rank constant must be in the interval between 1 and 10000, submitted rank constant: 0"),
])
def test_normalization_processor_refusals(options, reason):
    error = refused(normalization(**options))
    assert (error.error_type, error.status, error.reason) == ("illegal_argument_exception", 400, reason)


def test_normalization_parameters_are_checked_before_the_combination():
    error = refused(normalization(normalization={"technique": "l2", "parameters": {"x": 1}},
                                  combination={"technique": "median"}))
    assert error.reason == "unrecognized parameters in normalization technique"


def test_min_max_bounds_are_refused_by_name():
    error = refused(normalization(normalization={"technique": "min_max", "parameters": {
        "lower_bounds": [{"mode": "clip", "min_score": 0.1}]}}))
    assert error.status == 400
    assert "lower_bounds" in error.reason


@pytest.mark.parametrize(("combination", "reason"), [
    ({"rank_constant": 0},
     "rank constant must be in the interval between 1 and 10000, submitted rank constant: 0"),
    ({"rank_constant": 1.5}, "parameter [rank_constant] must be an integer"),
    ({"rank_constant": "sixty"}, "parameter [rank_constant] must be an integer"),
    ({"technique": "borda"}, "provided combination technique is not supported"),
    ({"parameters": {"weights": [0.9, 0.3]}},
     "sum of weights for combination must be equal to 1.0, submitted weights: [0.9, 0.3]"),
])
def test_score_ranker_refusals(combination, reason):
    error = refused({"phase_results_processors": [{"score-ranker-processor": {
        "combination": combination}}]})
    assert (error.error_type, error.reason) == ("illegal_argument_exception", reason)


@pytest.mark.parametrize(("body", "reason", "property_name"), [
    (normalization(normalization={"technique": 5}),
     "[technique] property isn't a string, but of type [java.lang.Integer]", "technique"),
    (normalization(normalization="min_max"),
     "[normalization] property isn't a map, but of type [java.lang.String]", "normalization"),
    (normalization(combination=[]),
     "[combination] property isn't a map, but of type [java.util.ArrayList]", "combination"),
    (normalization(**{"sub-query-scores": "yes"}),
     "[sub-query-scores] property isn't a boolean, but of type [java.lang.String]", "sub-query-scores"),
])
def test_wrong_option_types_are_parse_exceptions(body, reason, property_name):
    error = refused(body)
    assert (error.error_type, error.status, error.reason) == ("parse_exception", 400, reason)
    cause = error.body()["error"]["root_cause"][0]
    assert cause["processor_type"] == "normalization-processor"
    assert cause["property_name"] == property_name


@pytest.mark.parametrize(("body", "reason"), [
    ({"phase_results_processors": {"normalization-processor": {}}},
     "[phase_results_processors] property isn't a list, but of type [java.util.HashMap]"),
    ({"description": 3}, "[description] property isn't a string, but of type [java.lang.Integer]"),
    ({"version": "v1"}, "[version] property cannot be converted to an int [v1]"),
])
def test_wrong_pipeline_field_types(body, reason):
    error = refused(body)
    assert (error.error_type, error.reason) == ("parse_exception", reason)


def test_version_may_be_a_numeric_string():
    assert SearchPipeline.from_body("p", {"version": "3"}).fusion is None


# ---- the hybrid clause ----

MATCH = {"match": {"title": "wind"}}
KNN = {"knn": {"embedding": {"vector": [0.1, 0.2], "k": 10}}}


def test_hybrid_with_depth_and_filter():
    spec = validate_hybrid_request({"queries": [MATCH, KNN], "pagination_depth": 50,
                                    "filter": {"term": {"lang": "en"}}}, from_=20, size=10)
    assert spec.queries == [MATCH, KNN]
    assert spec.pagination_depth == 50
    assert spec.filter == {"term": {"lang": "en"}}


def test_hybrid_without_depth_retrieves_size_hits_per_sub_query():
    spec = validate_hybrid_request({"queries": [MATCH, KNN]}, from_=0, size=25)
    assert (spec.pagination_depth, spec.given_depth, spec.filter) == (25, None, None)


def test_hybrid_paging_without_depth_fails_on_the_shard():
    with pytest.raises(ShardQueryError) as caught:
        validate_hybrid_request({"queries": [MATCH]}, from_=10, size=10)
    assert caught.value.reason == "pagination_depth param is missing in the search request"
    body = shard_failure(caught.value, index="docs").body()
    assert body["status"] == 400
    error = body["error"]
    assert (error["type"], error["reason"], error["phase"]) == (
        "search_phase_execution_exception", "all shards failed", "query")
    assert error["root_cause"] == [{"type": "illegal_argument_exception",
                                    "reason": "pagination_depth param is missing in the search request"}]
    assert error["failed_shards"][0]["index"] == "docs"
    assert error["caused_by"]["caused_by"]["type"] == "illegal_argument_exception"


@pytest.mark.parametrize(("depth", "reason"), [
    (-1, "pagination_depth should be greater than 0"),
    (0, "pagination_depth must not be zero"),
    (10_001, "pagination_depth should be less than or equal to index.max_result_window setting"),
])
def test_hybrid_depth_range(depth, reason):
    with pytest.raises(ShardQueryError) as caught:
        validate_hybrid_request({"queries": [MATCH], "pagination_depth": depth}, from_=0, size=10)
    assert caught.value.reason == reason
    cause = shard_failure(caught.value, index="docs", index_uuid="u1").body()["error"]["root_cause"][0]
    assert cause == {"type": "query_shard_exception", "reason": f"failed to create query: {reason}",
                     "index": "docs", "index_uuid": "u1"}


def test_hybrid_depth_limit_follows_max_result_window():
    assert validate_hybrid_request({"queries": [MATCH], "pagination_depth": 10_000},
                                   from_=0, size=10).pagination_depth == 10_000
    with pytest.raises(ShardQueryError):
        validate_hybrid_request({"queries": [MATCH], "pagination_depth": 600}, from_=0, size=10,
                                max_result_window=500)


@pytest.mark.parametrize(("hybrid", "reason"), [
    ({"queries": [MATCH] * 6}, "Number of sub-queries exceeds maximum supported by [hybrid] query"),
    ({}, "[hybrid] requires 'queries' field with at least one clause"),
    ({"queries": []}, "[_na] query malformed, must start with start_object"),
    ({"queries": [MATCH], "rank": 1}, "Field is not supported by [hybrid] query"),
    ({"queries": [MATCH], "filter": [MATCH]}, "Field is not supported by [hybrid] query"),
    ({"queries": [MATCH], "boost": 2.0}, "[hybrid] query does not support [boost]"),
])
def test_hybrid_parse_errors(hybrid, reason):
    with pytest.raises(ParsingError) as caught:
        validate_hybrid_request(hybrid, from_=0, size=10)
    assert caught.value.reason == reason
    assert caught.value.body()["error"]["type"] == "parsing_exception"


def test_hybrid_allows_five_sub_queries_and_a_unit_boost():
    spec = validate_hybrid_request({"queries": [MATCH] * 5, "boost": 1.0, "_name": "h"},
                                   from_=0, size=10)
    assert len(spec.queries) == 5
    assert spec.name == "h"


def test_page_past_the_fused_results_is_a_phase_failure():
    check_page_in_results(10, 10)  # from == count is an empty page, not an error
    with pytest.raises(IllegalArgument) as caught:
        check_page_in_results(11, 10)
    body = phase_failure(caught.value).body()
    assert body["status"] == 400
    assert body["error"]["reason"] == "The phase has failed"
    assert body["error"]["root_cause"] == []
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "Reached end of search result, increase pagination_depth value to see more results"}


def test_hybrid_without_a_fusing_pipeline_returns_the_raw_marked_list():
    hits = unfused_hybrid_hits([[("a", 3.0), ("b", 2.0)], [], [("c", 0.5)]])
    start, delimiter = -9549511920.0, -4422440593.0
    assert [key for key, _ in hits] == ["a", "a", "a", "b", "a", "a", "c", "a"]
    assert [score for _, score in hits] == [
        pytest.approx(start, rel=1e-6), pytest.approx(delimiter, rel=1e-6), 3.0, 2.0,
        pytest.approx(delimiter, rel=1e-6), pytest.approx(delimiter, rel=1e-6), 0.5,
        pytest.approx(start, rel=1e-6)]
    assert unfused_hybrid_hits([[], []]) == []


def test_the_sidecars_pipeline_for_every_technique_reads_back_as_that_technique():
    configs = [FusionConfig(n, c, (0.4, 0.6), rank_constant=7) for n, c in TECHNIQUES]
    assert len({pipeline_name(config) for config in configs}) == len(TECHNIQUES)
    for config in configs:
        read = SearchPipeline.from_body(pipeline_name(config), pipeline_body(config)).fusion
        expected = config if config.normalization == "rrf" else FusionConfig(
            config.normalization, config.combination, config.weights)
        assert read == expected

"""Fusion formulas checked against numbers worked out by hand from neural-search's definitions."""

from __future__ import annotations

import math

import pytest

from searchcore.errors import IllegalArgument
from searchcore.fusion import (
    COMBINATIONS,
    NORMALIZATIONS,
    TECHNIQUES,
    FusionConfig,
    check_technique,
    default_combination,
    fuse,
    java_float_str,
    normalize,
    pipeline_body,
    pipeline_name,
)

# Two legs used throughout: a lexical leg and a vector leg that share document "b".
LEXICAL = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
VECTOR = [("b", 0.9), ("d", 0.5)]
LEGS = [LEXICAL, VECTOR]


def scores(fused):
    return dict(fused)


def order(fused):
    return [key for key, _ in fused]


def approx(value):
    return pytest.approx(value, rel=1e-6, abs=1e-9)


# ---- min_max: lexical a=(3-1)/2=1, b=0.5, c=0 -> 0.001; vector b=1, d=0 -> 0.001 ----

def test_min_max_arithmetic_counts_the_weight_of_a_leg_that_missed_the_document():
    fused = fuse(LEGS, FusionConfig("min_max", "arithmetic_mean"))
    assert order(fused) == ["b", "a", "c", "d"]  # c and d tie; c appeared first
    assert scores(fused) == {"b": approx((0.5 + 1.0) / 2), "a": approx(1.0 / 2),
                             "c": approx(0.001 / 2), "d": approx(0.001 / 2)}


def test_min_max_geometric_skips_legs_where_the_document_is_missing():
    fused = fuse(LEGS, FusionConfig("min_max", "geometric_mean"))
    assert order(fused)[:2] == ["a", "b"]
    assert scores(fused) == {"a": approx(1.0), "b": approx(math.sqrt(0.5 * 1.0)),
                             "c": approx(0.001), "d": approx(0.001)}


def test_min_max_harmonic_skips_legs_where_the_document_is_missing():
    fused = fuse(LEGS, FusionConfig("min_max", "harmonic_mean"))
    assert order(fused)[:2] == ["a", "b"]
    assert scores(fused) == {"a": approx(1.0), "b": approx(2 / (1 / 0.5 + 1 / 1.0)),
                             "c": approx(0.001), "d": approx(0.001)}


def test_min_max_arithmetic_with_weights():
    fused = fuse(LEGS, FusionConfig("min_max", "arithmetic_mean", (0.3, 0.7)))
    assert order(fused) == ["b", "a", "d", "c"]
    assert scores(fused) == {"b": approx(0.3 * 0.5 + 0.7 * 1.0), "a": approx(0.3 * 1.0),
                             "d": approx(0.7 * 0.001), "c": approx(0.3 * 0.001)}


def test_min_max_geometric_and_harmonic_with_weights():
    geometric = scores(fuse(LEGS, FusionConfig("min_max", "geometric_mean", (0.3, 0.7))))
    assert geometric["a"] == approx(1.0)  # only leg 0 counts: exp(0.3 ln 1 / 0.3)
    assert geometric["b"] == approx(math.exp(0.3 * math.log(0.5) + 0.7 * math.log(1.0)))
    harmonic = scores(fuse(LEGS, FusionConfig("min_max", "harmonic_mean", (0.3, 0.7))))
    assert harmonic["a"] == approx(1.0)
    assert harmonic["b"] == approx(1.0 / (0.3 / 0.5 + 0.7 / 1.0))


def test_min_max_single_result_and_all_equal_legs_score_one():
    assert list(normalize([4.2], "min_max")) == [1.0]
    assert list(normalize([2.0, 2.0, 2.0], "min_max")) == [1.0, 1.0, 1.0]
    fused = fuse([[("x", 7.0)], [("x", 0.3), ("y", 0.3)]], FusionConfig())
    assert scores(fused) == {"x": approx(1.0), "y": approx(0.5)}


# ---- l2: lexical norm sqrt(14), vector norm sqrt(1.06) ----

L2_A, L2_B1, L2_C = 3 / math.sqrt(14), 2 / math.sqrt(14), 1 / math.sqrt(14)
L2_B2, L2_D = 0.9 / math.sqrt(1.06), 0.5 / math.sqrt(1.06)


def test_l2_arithmetic():
    fused = fuse(LEGS, FusionConfig("l2", "arithmetic_mean"))
    assert order(fused) == ["b", "a", "d", "c"]
    assert scores(fused) == {"b": approx((L2_B1 + L2_B2) / 2), "a": approx(L2_A / 2),
                             "d": approx(L2_D / 2), "c": approx(L2_C / 2)}


def test_l2_geometric_and_harmonic():
    geometric = fuse(LEGS, FusionConfig("l2", "geometric_mean"))
    assert order(geometric) == ["a", "b", "d", "c"]
    assert scores(geometric) == {"a": approx(L2_A), "b": approx(math.sqrt(L2_B1 * L2_B2)),
                                 "d": approx(L2_D), "c": approx(L2_C)}
    harmonic = scores(fuse(LEGS, FusionConfig("l2", "harmonic_mean")))
    assert harmonic["b"] == approx(2 / (1 / L2_B1 + 1 / L2_B2))
    assert harmonic["a"] == approx(L2_A)


def test_l2_with_weights():
    fused = scores(fuse(LEGS, FusionConfig("l2", "arithmetic_mean", (0.25, 0.75))))
    assert fused["b"] == approx(0.25 * L2_B1 + 0.75 * L2_B2)
    assert fused["d"] == approx(0.75 * L2_D)


def test_l2_of_all_zero_scores_is_zero():
    assert list(normalize([0.0, 0.0], "l2")) == [0.0, 0.0]


# ---- z_score: commons-math mean and *sample* standard deviation ----

def test_z_score_uses_sample_standard_deviation_and_floors_at_0_001():
    # [4, 1, 1]: mean 2, sample variance (4 + 1 + 1) / 2 = 3 (population would be 2)
    assert list(normalize([4.0, 1.0, 1.0], "z_score")) == [approx(2 / math.sqrt(3)), approx(0.001),
                                                           approx(0.001)]


def test_z_score_of_a_score_equal_to_the_mean_is_the_raw_max():
    # ZScoreNormalizer: "score == mean" returns the leg's max raw score, even when std > 0
    assert list(normalize([3.0, 2.0, 1.0], "z_score")) == [approx(1.0), approx(3.0), approx(0.001)]


def test_z_score_single_result_and_all_equal_give_the_raw_score():
    assert list(normalize([7.5], "z_score")) == [approx(7.5)]
    assert list(normalize([5.0, 5.0], "z_score")) == [approx(5.0), approx(5.0)]


def test_z_score_arithmetic():
    # lexical [3, 2, 1]: a = 1, b = mean -> raw max 3, c -> 0.001
    # vector [0.9, 0.5]: mean 0.7, sample std sqrt(0.08) -> b = 0.2 / sqrt(0.08), d -> 0.001
    fused = fuse(LEGS, FusionConfig("z_score", "arithmetic_mean"))
    assert order(fused) == ["b", "a", "c", "d"]
    assert scores(fused) == {"b": approx((3.0 + 0.2 / math.sqrt(0.08)) / 2), "a": approx(0.5),
                             "c": approx(0.0005), "d": approx(0.0005)}
    weighted = scores(fuse(LEGS, FusionConfig("z_score", "arithmetic_mean", (0.6, 0.4))))
    assert weighted["b"] == approx(0.6 * 3.0 + 0.4 * 0.2 / math.sqrt(0.08))
    assert weighted["a"] == approx(0.6)


# ---- rrf ----

def test_rrf_sums_reciprocal_ranks_from_one():
    fused = fuse(LEGS, FusionConfig("rrf", "rrf"))
    assert order(fused) == ["b", "a", "d", "c"]
    assert scores(fused) == {"b": approx(1 / 62 + 1 / 61), "a": approx(1 / 61),
                             "d": approx(1 / 62), "c": approx(1 / 63)}


def test_rrf_rank_constant_and_weights():
    small = scores(fuse(LEGS, FusionConfig("rrf", "rrf", rank_constant=1)))
    assert small == {"b": approx(1 / 3 + 1 / 2), "a": approx(1 / 2), "d": approx(1 / 3),
                     "c": approx(1 / 4)}
    weighted = fuse(LEGS, FusionConfig("rrf", "rrf", (0.25, 0.75)))
    assert order(weighted) == ["b", "d", "a", "c"]
    assert scores(weighted) == {"b": approx(0.25 / 62 + 0.75 / 61), "d": approx(0.75 / 62),
                                "a": approx(0.25 / 61), "c": approx(0.25 / 63)}


def test_rrf_ignores_raw_scores():
    flipped = [[("a", 0.1), ("b", 99.0)], [("b", 1.0)]]
    assert scores(fuse(flipped, FusionConfig("rrf", "rrf"))) == {"a": approx(1 / 61),
                                                                 "b": approx(1 / 62 + 1 / 61)}


def test_rrf_normalization_with_arithmetic_mean_divides_by_the_weights():
    fused = scores(fuse(LEGS, FusionConfig("rrf", "arithmetic_mean")))
    assert fused == {"b": approx((1 / 62 + 1 / 61) / 2), "a": approx(1 / 61 / 2),
                     "d": approx(1 / 62 / 2), "c": approx(1 / 63 / 2)}


def test_rrf_normalization_with_geometric_and_harmonic_means():
    geometric = scores(fuse(LEGS, FusionConfig("rrf", "geometric_mean", (0.25, 0.75))))
    assert geometric == {"b": approx(math.exp(0.25 * math.log(1 / 62) + 0.75 * math.log(1 / 61))),
                         "a": approx(1 / 61), "d": approx(1 / 62), "c": approx(1 / 63)}
    harmonic = scores(fuse(LEGS, FusionConfig("rrf", "harmonic_mean", rank_constant=10)))
    assert harmonic == {"b": approx(2 / (12 + 11)), "a": approx(1 / 11), "d": approx(1 / 12),
                        "c": approx(1 / 13)}


# ---- the tables: every technique, its pipeline, its checks ----

# each pair a search pipeline can ask for, with the hand-computed fused scores of LEGS (equal weights)
MM_LEX, MM_VEC = {"a": 1.0, "b": 0.5, "c": 0.001}, {"b": 1.0, "d": 0.001}
RRF_LEX, RRF_VEC = {"a": 1 / 61, "b": 1 / 62, "c": 1 / 63}, {"b": 1 / 61, "d": 1 / 62}
L2_LEX = {"a": 3 / math.sqrt(14), "b": 2 / math.sqrt(14), "c": 1 / math.sqrt(14)}
L2_VEC = {"b": 0.9 / math.sqrt(1.06), "d": 0.5 / math.sqrt(1.06)}


def _by_hand(lexical, vector, combination):
    out = {}
    for doc in lexical.keys() | vector.keys():
        present = [s for s in (lexical.get(doc), vector.get(doc)) if s is not None]
        if combination == "arithmetic_mean":
            out[doc] = sum(present) / 2
        elif combination == "geometric_mean":
            out[doc] = math.exp(sum(math.log(s) for s in present) / len(present))
        elif combination == "harmonic_mean":
            out[doc] = len(present) / sum(1 / s for s in present)
        else:
            out[doc] = sum(present)
    return out


BY_HAND = {
    ("min_max", c): _by_hand(MM_LEX, MM_VEC, c) for c in ("arithmetic_mean", "geometric_mean", "harmonic_mean")}
BY_HAND |= {("l2", c): _by_hand(L2_LEX, L2_VEC, c) for c in ("arithmetic_mean", "geometric_mean", "harmonic_mean")}
BY_HAND |= {("rrf", c): _by_hand(RRF_LEX, RRF_VEC, c) for c in ("rrf", "arithmetic_mean", "geometric_mean",
                                                                  "harmonic_mean")}
# z_score: lexical mean 2, std 1 -> a=1, b equals the mean (the raw max, 3.0), c=-1 -> 0.001; the vector leg's
# two scores are mean +- std/sqrt(2) -> b=0.7071068, d -> 0.001
BY_HAND[("z_score", "arithmetic_mean")] = {"a": 1.0 / 2, "b": (3.0 + math.sqrt(0.5)) / 2, "c": 0.001 / 2,
                                           "d": 0.001 / 2}


def test_the_list_of_techniques_is_every_pair_opensearch_offers():
    assert set(TECHNIQUES) == set(BY_HAND)
    assert len(TECHNIQUES) == len(set(TECHNIQUES)) == 11
    assert NORMALIZATIONS == ("min_max", "l2", "z_score", "rrf")
    assert COMBINATIONS == ("arithmetic_mean", "geometric_mean", "harmonic_mean", "rrf")
    assert [default_combination(n) for n in NORMALIZATIONS] == [
        "arithmetic_mean", "arithmetic_mean", "arithmetic_mean", "rrf"]


@pytest.mark.parametrize(("normalization", "combination"), TECHNIQUES)
def test_every_technique_against_the_hand_computation(normalization, combination):
    fused = scores(fuse(LEGS, FusionConfig(normalization, combination)))
    assert fused == {doc: approx(value) for doc, value in BY_HAND[normalization, combination].items()}


@pytest.mark.parametrize(("config", "name", "processor"), [
    # the names the sidecar has always used stay as they were (pipelines already on clusters keep serving)
    (FusionConfig(), "rerank-sidecar-min_max-arithmetic_mean",
     {"normalization-processor": {"normalization": {"technique": "min_max"},
                                  "combination": {"technique": "arithmetic_mean"}}}),
    (FusionConfig("l2", "geometric_mean", (0.3, 0.7)), "rerank-sidecar-l2-geometric_mean-w0.3_0.7",
     {"normalization-processor": {"normalization": {"technique": "l2"}, "combination": {
         "technique": "geometric_mean", "parameters": {"weights": [0.3, 0.7]}}}}),
    (FusionConfig("rrf", "rrf"), "rerank-sidecar-rrf-60",
     {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}),
    (FusionConfig("rrf", "rrf", (0.25, 0.75), rank_constant=20), "rerank-sidecar-rrf-20-w0.25_0.75",
     {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 20,
                                                 "parameters": {"weights": [0.25, 0.75]}}}}),
    # score-ranker-processor with a mean fails every search on OpenSearch 3.6; a normalization-processor does it
    (FusionConfig("rrf", "harmonic_mean", rank_constant=5), "rerank-sidecar-rrf-harmonic_mean-5",
     {"normalization-processor": {"normalization": {"technique": "rrf", "parameters": {"rank_constant": 5}},
                                  "combination": {"technique": "harmonic_mean"}}}),
])
def test_pipeline_name_and_body(config, name, processor):
    assert pipeline_name(config) == name
    assert pipeline_body(config) == {"description": "rerank-sidecar hybrid fusion",
                                     "phase_results_processors": [processor]}


@pytest.mark.parametrize(("pair", "reason"), [
    (("min_max", "rrf"), "provided combination technique rrf is not supported for normalization technique "
                         "min_max. Supported techniques are: arithmetic_mean, geometric_mean, harmonic_mean"),
    (("z_score", "harmonic_mean"), "provided combination technique harmonic_mean is not supported for "
                                   "normalization technique z_score. Supported techniques are: arithmetic_mean"),
    (("max", "rrf"), "provided normalization technique is not supported"),
    (("rrf", "median"), "provided combination technique is not supported"),
])
def test_check_technique(pair, reason):
    with pytest.raises(IllegalArgument) as caught:
        check_technique(*pair)
    assert caught.value.reason == reason
    for normalization, combination in TECHNIQUES:
        check_technique(normalization, combination)


# ---- edges ----

def test_empty_legs():
    assert fuse([], FusionConfig()) == []
    assert fuse([[], []], FusionConfig()) == []
    one_empty = scores(fuse([[("a", 2.0), ("b", 1.0)], []], FusionConfig()))
    assert one_empty == {"a": approx(1.0 / 2), "b": approx(0.001 / 2)}
    assert scores(fuse([[], [("a", 2.0)]], FusionConfig("min_max", "geometric_mean"))) == {
        "a": approx(1.0)}


def test_document_found_by_one_leg_only():
    fused = scores(fuse([[("a", 1.0), ("b", 0.0)], [("c", 5.0), ("d", 1.0)]], FusionConfig()))
    assert fused == {"a": approx(0.5), "c": approx(0.5), "b": approx(0.0005), "d": approx(0.0005)}


def test_ties_keep_first_appearance_or_follow_tie_key():
    legs = [[("z", 1.0), ("y", 1.0)], [("x", 4.0)]]
    assert order(fuse(legs, FusionConfig())) == ["z", "y", "x"]  # 0.5 each, in appearance order
    ordinal = {"x": 0, "y": 1, "z": 2}
    assert order(fuse(legs, FusionConfig(), tie_key=ordinal.__getitem__)) == ["x", "y", "z"]


def test_scores_are_the_float32_values_as_printed():
    fused = scores(fuse([[("a", 2.0), ("b", 1.0)]], FusionConfig()))
    assert fused == {"a": 1.0, "b": 0.001}  # exactly, not 0.0010000000474974513


def test_repeated_document_in_one_leg_is_refused():
    with pytest.raises(ValueError):
        fuse([[("a", 2.0), ("a", 1.0)]], FusionConfig())


# ---- validation messages (ScoreCombinationUtil and the factories) ----

def test_weights_count_must_match_legs():
    with pytest.raises(IllegalArgument) as caught:
        fuse(LEGS, FusionConfig(weights=(0.2, 0.3, 0.5)))
    assert caught.value.reason == (
        "number of weights [3] must match number of sub-queries [2] in hybrid query")
    assert caught.value.body()["error"]["type"] == "illegal_argument_exception"
    assert fuse([[], []], FusionConfig(weights=(0.2, 0.3, 0.5))) == []  # checked per document


@pytest.mark.parametrize(("weights", "reason"), [
    ((0.4, 0.5, 0.6), "sum of weights for combination must be equal to 1.0, submitted weights: "
                      "[0.4, 0.5, 0.6]"),
    ((1.5, -0.5), "all weights must be in range [0.0 ... 1.0], submitted weights: [1.5, -0.5]"),
    ((), "sum of weights for combination must be equal to 1.0, submitted weights: []"),
])
def test_weights_validation(weights, reason):
    with pytest.raises(IllegalArgument) as caught:
        FusionConfig(weights=weights)
    assert caught.value.reason == reason
    assert caught.value.status == 400


def test_weights_sum_tolerance_is_0_01():
    assert FusionConfig(weights=(0.333, 0.333, 0.333)).weights == (0.333, 0.333, 0.333)
    with pytest.raises(IllegalArgument):
        FusionConfig(weights=(0.5, 0.48))


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"normalization": "max"}, "provided normalization technique is not supported"),
    ({"combination": "median"}, "provided combination technique is not supported"),
    ({"normalization": "z_score", "combination": "geometric_mean"},
     "provided combination technique geometric_mean is not supported for normalization technique "
     "z_score. Supported techniques are: arithmetic_mean"),
    ({"normalization": "min_max", "combination": "rrf"},
     "provided combination technique rrf is not supported for normalization technique min_max. "
     "Supported techniques are: arithmetic_mean, geometric_mean, harmonic_mean"),
    ({"normalization": "rrf", "combination": "rrf", "rank_constant": 0},
     "rank constant must be in the interval between 1 and 10000, submitted rank constant: 0"),
    ({"normalization": "rrf", "combination": "rrf", "rank_constant": 10001},
     "rank constant must be in the interval between 1 and 10000, submitted rank constant: 10001"),
])
def test_config_validation(kwargs, reason):
    with pytest.raises(IllegalArgument) as caught:
        FusionConfig(**kwargs)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("value", "text"), [
    (0.5, "0.5"), (1.0, "1.0"), (0.3, "0.3"), (1e-4, "1.0E-4"), (1.5e7, "1.5E7"), (-0.5, "-0.5"),
])
def test_java_float_str(value, text):
    assert java_float_str(value) == text

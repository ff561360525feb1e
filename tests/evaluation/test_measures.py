"""Measures as trec_eval computes them, and the paired comparison against a baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relevance.measures import compare, means, per_query, run_from_ranking


def test_graded_ndcg_and_binary_measures_by_hand():
    qrels = {"q": {"a": 3, "b": 1, "c": 0, "z": 2}}
    run = {"q": run_from_ranking([("b", 0), ("a", 0), ("c", 0), ("x", 0)])}
    values = per_query(run, qrels, ["q"], relevance_level=2)
    dcg = 1 / math.log2(2) + 3 / math.log2(3)           # b (gain 1) then a (gain 3); trec_eval: linear gain
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert values["ndcg@10"][0] == pytest.approx(dcg / ideal)
    assert values["mrr@10"][0] == pytest.approx(1 / 2)    # first grade >= 2 at rank 2
    assert values["recall@100"][0] == pytest.approx(1 / 2)  # a of {a, z}
    assert values["map"][0] == pytest.approx((1 / 2) / 2)
    level_one = per_query(run, qrels, ["q"], relevance_level=1)
    assert level_one["mrr@10"][0] == pytest.approx(1.0)


def test_a_query_the_run_misses_scores_zero_and_counts():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    values = per_query({"q1": {"a": 1.0}}, qrels, ["q1", "q2"])
    assert list(values["ndcg@10"]) == [1.0, 0.0]
    assert means(values)["ndcg@10"] == 0.5


def test_compare_counts_wins_and_tests_the_difference():
    baseline = np.array([0.2, 0.4, 0.5, 0.1, 0.3, 0.6, 0.2, 0.4])
    better = baseline + np.array([0.3, 0.2, 0.0, 0.4, 0.1, 0.2, 0.3, -0.1])
    result = compare(better, baseline, "bm25")
    assert (result.wins, result.losses, result.ties) == (6, 1, 1)
    assert result.delta == pytest.approx(0.175)
    assert 0 < result.p_ttest < 0.05 and 0 < result.p_randomization < 0.05
    same = compare(baseline, baseline, "bm25")
    assert same.p_ttest == 1.0 and same.delta == 0.0 and same.ties == len(baseline)


def test_randomization_test_is_seeded():
    rng = np.random.default_rng(1)
    a, b = rng.random(30), rng.random(30)
    assert compare(a, b, "x", seed=3).p_randomization == compare(a, b, "x", seed=3).p_randomization

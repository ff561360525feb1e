"""bench/capacity.py's model: its arithmetic, and the decisions it makes at the edges."""

from __future__ import annotations

import math

from bench.capacity import Workload, allowed_utilization, p99_ms, plan, saturated_throughput

BASE = Workload(pairs_per_s_per_core=100.0, window=20, doc_tokens=237.0, hit_rate=0.0, qps=10.0, p99_ms=2000.0,
                cores_per_replica=2, embed_ms=10.0, overhead_ms=3.0)


def test_a_computed_search_costs_window_pairs_at_the_measured_speed():
    result = plan(BASE)
    assert result.passages_per_doc == 1 and result.tokens_per_pair == 256.0
    assert math.isclose(result.cpu_ms_per_computed_search, 20 / 100.0 * 1000 + 10.0)
    assert math.isclose(result.cpu_ms_per_search, 213.0)


def test_long_documents_cost_a_pair_per_passage():
    result = plan(Workload(**{**BASE.__dict__, "doc_tokens": 1200.0}))
    assert result.passages_per_doc == 3 and result.tokens_per_pair == 512.0


def test_cache_hits_take_their_share_of_the_inference_away():
    half = plan(Workload(**{**BASE.__dict__, "hit_rate": 0.5}))
    assert math.isclose(half.cpu_ms_per_search, 0.5 * 210.0 + 3.0)
    assert saturated_throughput(Workload(**{**BASE.__dict__, "hit_rate": 0.5}), 2) > 1.9 * saturated_throughput(BASE, 2)


def test_replicas_grow_with_the_query_rate_and_meet_the_p99():
    small, large = plan(BASE), plan(Workload(**{**BASE.__dict__, "qps": 40.0}))
    assert large.replicas == math.ceil(40.0 / large.searches_per_s_per_replica) > small.replicas
    assert p99_ms(small.single_search_ms, small.utilization_allowed) <= BASE.p99_ms + 1e-6
    assert small.searches_per_s_per_replica * small.replicas >= BASE.qps


def test_a_p99_one_search_cannot_meet_moves_inference_to_remote():
    result = plan(Workload(**{**BASE.__dict__, "window": 200, "p99_ms": 500.0}))
    assert result.move_to_remote and result.replicas is None
    assert allowed_utilization(600.0, 500.0) == 0.0


def test_p99_rises_with_utilization():
    assert p99_ms(100.0, 0.0) == 100.0
    assert p99_ms(100.0, 0.5) < p99_ms(100.0, 0.8) < p99_ms(100.0, 0.95)

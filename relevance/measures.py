"""Quality measures as trec_eval computes them (via ir-measures), paired significance and per-query wins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from relevance.datasets import Qrels

Run = dict[str, dict[str, float]]  # query id -> document id -> score (higher first)
MEASURE_NAMES = ("ndcg@10", "mrr@10", "recall@100", "map")
PRIMARY = "ndcg@10"


def ir_measures_for(relevance_level: int) -> dict[str, object]:
    """Our names -> ir-measures objects. nDCG uses graded gains (trec_eval ndcg_cut); the binary measures
    count a document relevant from `relevance_level` up (trec_eval -l; TREC DL uses 2)."""
    from ir_measures import AP, RR, R, nDCG

    level = int(relevance_level)
    return {"ndcg@10": nDCG @ 10, "mrr@10": RR(rel=level) @ 10, "recall@100": R(rel=level) @ 100,
            "map": AP(rel=level)}


def per_query(run: Run, qrels: Qrels, query_ids: list[str], relevance_level: int = 1
              ) -> dict[str, np.ndarray]:
    """Each measure for each query in `query_ids` (in that order); a query the run misses scores 0."""
    import ir_measures

    measures = ir_measures_for(relevance_level)
    by_object = {str(m): name for name, m in measures.items()}
    index = {q: i for i, q in enumerate(query_ids)}
    values = {name: np.zeros(len(query_ids)) for name in measures}
    judged = {q: qrels[q] for q in query_ids if q in qrels}
    scored = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged and docs}
    if scored:
        for metric in ir_measures.iter_calc(list(measures.values()), judged, scored):
            if metric.query_id in index:
                values[by_object[str(metric.measure)]][index[metric.query_id]] = metric.value
    return values


def means(values: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.mean(v)) if len(v) else 0.0 for name, v in values.items()}


@dataclass(frozen=True)
class Comparison:
    """A system against the baseline on one measure, query by query."""

    baseline: str
    measure: str
    delta: float
    p_ttest: float | None
    p_randomization: float | None
    wins: int
    losses: int
    ties: int

    def as_dict(self) -> dict[str, object]:
        return {"baseline": self.baseline, "measure": self.measure, "delta": self.delta,
                "p_ttest": self.p_ttest, "p_randomization": self.p_randomization,
                "wins": self.wins, "losses": self.losses, "ties": self.ties}


def compare(system: np.ndarray, baseline: np.ndarray, baseline_name: str, measure: str = PRIMARY, *,
            resamples: int = 10_000, seed: int = 0) -> Comparison:
    """Paired two-sided t-test and paired randomization (sign-flip) test over the same queries."""
    from scipy import stats

    diff = np.asarray(system, dtype=float) - np.asarray(baseline, dtype=float)
    wins, losses = int(np.sum(diff > 1e-12)), int(np.sum(diff < -1e-12))
    ties = len(diff) - wins - losses
    p_t = p_r = None
    if len(diff) >= 2 and np.any(np.abs(diff) > 1e-12):
        p_t = float(stats.ttest_rel(system, baseline).pvalue)
        result = stats.permutation_test((diff,), np.mean, permutation_type="samples", n_resamples=resamples,
                                        alternative="two-sided", random_state=np.random.default_rng(seed))
        p_r = float(result.pvalue)
    elif len(diff) >= 2:
        p_t = p_r = 1.0
    return Comparison(baseline_name, measure, float(np.mean(diff)) if len(diff) else 0.0, p_t, p_r,
                      wins, losses, ties)


def run_from_ranking(ranking: list[tuple[str, float]]) -> dict[str, float]:
    """A ranked list as a run: scores strictly decreasing with the rank, so no tie can reorder it.

    trec_eval sorts by score and breaks ties by document id; the sidecar's order is what a user sees,
    so the evaluation scores exactly that order."""
    count = len(ranking)
    return {doc_id: float(count - position) for position, (doc_id, _) in enumerate(ranking)}

"""Run-with-texts mode: the run's own order (`given`) and each reranker over it, with the sidecar's stage 2."""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from relevance.datasets import Candidate, Dataset
from relevance.systems import SystemRun, SystemSpec, model_label


def given_system(dataset: Dataset, query_ids: list[str]) -> SystemRun:
    """The candidates as the run scored them (trec_eval orders by score, then document id)."""
    result = SystemRun(SystemSpec("given", "given"))
    for qid in query_ids:
        result.run[qid] = {c.doc_id: c.score for c in dataset.candidates.get(qid, [])}
    return result


def rerank_system(dataset: Dataset, query_ids: list[str], reranker: str, *, window: int | None = None,
                  backend: str = "torch", name: str | None = None, position: str = "") -> SystemRun:
    """Rerank the first `window` candidates (all when None) with the sidecar's scorer and MaxP stage;
    the rest keep the run's order below them, as the sidecar serves a window."""
    from sidecar.rerank import load_scorer, rerank_documents
    from sidecar.respond import ScoreMode, rank
    from sidecar.retrieve import Candidate as FirstStageCandidate

    scorer = load_scorer(reranker, backend=backend)
    label = name or (model_label(reranker) if window is None else f"{model_label(reranker)}@{window}")
    result = SystemRun(SystemSpec(label, "rerank", reranker=reranker, window=window))
    for qid in tqdm(query_ids, desc=f"{position}{label}", unit="q", leave=False):
        candidates = _ordered(dataset.candidates.get(qid, []))
        head = candidates if window is None else candidates[:window]
        started = time.perf_counter()
        scored = rerank_documents(scorer, dataset.queries[qid], [c.text for c in head],
                                  deadline=None, cache=None, doc_keys=[f"{qid}/{c.doc_id}" for c in head],
                                  max_passages=max(2000, 20 * len(head)))
        seconds = time.perf_counter() - started
        stage1 = [FirstStageCandidate({"_id": c.doc_id}, c.score, position)
                  for position, c in enumerate(candidates, start=1)]
        logits = list(scored.logits) if scored.reranked else []
        ranked = rank(stage1, logits, list(scored.passage_index) if logits else [], ScoreMode("raw"))
        count = len(ranked)
        result.run[qid] = {r.candidate.hit["_id"]: float(count - i) for i, r in enumerate(ranked)}
        result.logits[qid] = {c.doc_id: float(v) for c, v in zip(head, logits, strict=False) if v is not None}
        result.add_stages({"rerank": seconds, "total": seconds})
        result.statuses[scored.status] = result.statuses.get(scored.status, 0) + 1
    return result


def _ordered(candidates: list[Candidate]) -> list[Candidate]:
    """The run's ranking: by score, ties by document id descending (trec_eval's order)."""
    by_id = sorted(candidates, key=lambda c: c.doc_id, reverse=True)
    return sorted(by_id, key=lambda c: -c.score)

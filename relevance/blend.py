"""Blend score mode from logits already computed: α·sigmoid(logit) + (1 − α)·first-stage score.

The sidecar's `score_mode: blend` mixes the cross-encoder with the first stage; which α is worth it is a
question for the judgments, and answering it needs no new inference: each reranked system's logits and
first-stage scores are re-ranked here with the sidecar's own ranking code, once per α.
"""

from __future__ import annotations

from dataclasses import replace

from relevance.measures import run_from_ranking
from relevance.systems import SystemRun


def blend_name(name: str, alpha: float) -> str:
    return f"{name}+blend{alpha:g}"


def blended(system: SystemRun, alpha: float, temperature: float = 1.0, bias: float = 0.0) -> SystemRun:
    """`system` (a rerank run with first-stage scores recorded) as `score_mode: blend` with this α would rank it."""
    from sidecar.respond import ScoreMode, rank
    from sidecar.retrieve import Candidate

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"blend alpha must be within [0, 1], got {alpha}")
    mode = ScoreMode("blend", alpha, temperature, bias)
    spec = replace(system.spec, name=blend_name(system.spec.name, alpha), kind="blend", blend_alpha=alpha)
    out = SystemRun(spec, stages=system.stages, failures=system.failures, statuses=dict(system.statuses))
    for qid, scores in system.run.items():
        shown = sorted(scores, key=lambda doc: -scores[doc])
        first = system.first_stage.get(qid, {})
        window = sorted((doc for doc in shown if doc in first), key=lambda doc: first[doc][1])
        tail = [doc for doc in shown if doc not in first]
        logits = system.logits.get(qid, {})  # a document the budget left unscored has none: it stays below
        candidates = [Candidate({"_id": doc}, first[doc][0], first[doc][1]) for doc in window]
        ranked = rank(candidates, [logits.get(doc) for doc in window], [None] * len(window), mode)
        out.run[qid] = run_from_ranking([(r.candidate.hit["_id"], r.score) for r in ranked]
                                        + [(doc, 0.0) for doc in tail])
    return out

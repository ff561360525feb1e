"""Stage 2's answer in OpenSearch's shape: scores by mode, monotonic tail, page, `_source` filter, explain."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from searchcore.source_filter import filter_source, parse_source_spec
from sidecar.retrieve import Candidate, FirstStageResult


@dataclass(frozen=True)
class ScoreMode:
    name: str = "sigmoid"          # sigmoid | raw | minmax | blend
    blend_alpha: float = 0.5
    temperature: float = 1.0       # sigmoid(logit / temperature + bias): calibration from `eval --calibrate`
    bias: float = 0.0

    def sigmoid(self, logit: float) -> float:
        x = logit / self.temperature + self.bias
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass
class Ranked:
    candidate: Candidate
    score: float
    logit: float | None = None
    passage: int | None = None


def rank(candidates: Sequence[Candidate], logits: Sequence[float | None], passages: Sequence[int | None],
         mode: ScoreMode) -> list[Ranked]:
    """Reranked candidates first (by score), then the rest in first-stage order with lower, decreasing scores.

    `logits` covers the first len(logits) candidates (the window); None marks one that was not scored (budget).
    With nothing scored the first-stage order and scores stand (fail-open).
    """
    scored = [(c, logit, p) for c, logit, p in zip(candidates, logits, passages, strict=False) if logit is not None]
    if not scored:
        return [Ranked(c, c.score) for c in candidates]
    scores = _scores([logit for _, logit, _ in scored], [c.score for c, _, _ in scored], mode)
    head = sorted((Ranked(c, s, logit, p) for (c, logit, p), s in zip(scored, scores, strict=True)),
                  key=lambda r: (-r.score, r.candidate.rank))
    scored_ids = {id(c) for c, _, _ in scored}
    tail = [c for c in candidates if id(c) not in scored_ids]
    floor = head[-1].score
    return head + [Ranked(c, s) for c, s in zip(tail, tail_scores(floor, len(tail)), strict=True)]


def _scores(logits: list[float], first_stage: list[float], mode: ScoreMode) -> list[float]:
    if mode.name == "raw":
        return list(logits)
    if mode.name == "minmax":
        lo, hi = min(logits), max(logits)
        return [1.0 if hi == lo else (x - lo) / (hi - lo) for x in logits]
    probabilities = [mode.sigmoid(x) for x in logits]
    if mode.name == "blend":
        return [mode.blend_alpha * p + (1 - mode.blend_alpha) * f for p, f in zip(probabilities, first_stage,
                                                                                   strict=True)]
    return probabilities


TAIL_RATIO = 0.999   # each document past the window scores this much of the one before it


def tail_scores(floor: float, count: int) -> list[float]:
    """Strictly decreasing scores below `floor`: positive when the floor is, so (0, 1) modes stay in range.

    The i-th score depends on the floor and i only, never on how many follow: a window deepened for a later
    page (see `extend`) gives the documents already served the very scores they had.
    """
    if floor > 0:
        return [floor * TAIL_RATIO ** (i + 1) for i in range(count)]
    step = max(1e-3, abs(floor) * 1e-3)
    return [floor - step * (i + 1) for i in range(count)]


def extend(ranked: list[Ranked], deeper: Sequence[Candidate]) -> list[Ranked]:
    """`ranked` unchanged, then the documents of a deeper first stage it lacks, in that stage's order.

    A page past a cached window needs more candidates; the pages already served keep their order and scores.
    """
    seen = {(r.candidate.hit.get("_index"), r.candidate.hit.get("_id")) for r in ranked}
    more = [c for c in deeper if (c.hit.get("_index"), c.hit.get("_id")) not in seen]
    if not ranked:
        return [Ranked(c, c.score) for c in more]
    return ranked + [Ranked(c, s) for c, s in zip(more, tail_scores(ranked[-1].score, len(more)), strict=True)]


def render(first: FirstStageResult, ranked: list[Ranked], *, from_: int, size: int, source_spec: Any,
           total_as_int: bool, explain: bool, took_ms: int) -> dict[str, Any]:
    """The `_search` response: the page of the ranked list, totals and aggregations from the cluster."""
    page = ranked[from_:from_ + size]
    spec = _spec(source_spec)
    hits = [_hit(r, spec, explain) for r in page]
    hits_block: dict[str, Any] = {}
    if first.total is not None:
        total = first.total
        if total_as_int and isinstance(total, dict):
            total = total.get("value", 0)
        hits_block["total"] = total
    hits_block["max_score"] = ranked[0].score if ranked else None
    hits_block["hits"] = hits
    body: dict[str, Any] = {"took": took_ms, "timed_out": first.timed_out,
                            "_shards": first.shards or {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                            "hits": hits_block}
    if first.aggregations is not None:
        body["aggregations"] = first.aggregations
    return body


def _hit(ranked: Ranked, spec: Any, explain: bool) -> dict[str, Any]:
    hit = dict(ranked.candidate.hit)
    hit["_score"] = ranked.score
    if "_source" in hit:
        filtered = filter_source(hit["_source"], spec)
        if filtered is None:
            del hit["_source"]
        else:
            hit["_source"] = filtered
    if explain:
        hit["_rerank"] = {"first_stage_score": ranked.candidate.score, "first_stage_rank": ranked.candidate.rank,
                          "logit": ranked.logit, "passage": ranked.passage}
    return hit


def first_stage_source(client_spec: Any, text_fields: Sequence[str]) -> Any:
    """What stage 1 fetches: the client's `_source` plus the text the cross-encoder reads.

    The default spec stays the default (vector field included), so the hits match what the cluster returns."""
    spec = _spec(client_spec)
    if spec is True:
        return True
    if spec is False:
        return {"includes": list(text_fields)}
    includes, excludes = spec
    return {"includes": list(dict.fromkeys([*includes, *text_fields])) if includes else [],
            "excludes": [e for e in excludes if e not in text_fields]}


def _spec(value: Any) -> Any:
    """The plan's `_source` spec is already normalized (bool or (includes, excludes)); raw values are parsed."""
    if value is None:
        return True
    if isinstance(value, bool) or (isinstance(value, tuple) and len(value) == 2):
        return value
    return parse_source_spec(value)

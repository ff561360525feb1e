"""Hand-written reference formulas for hybrid fusion (design section 4), shared by the tests that check
localsearch's pipelines and the sidecar's client-side fusion against a hand computation."""

from __future__ import annotations

import math


def min_max(leg: dict[str, float]) -> dict[str, float]:
    lo, hi = min(leg.values()), max(leg.values())
    if hi == lo:
        return dict.fromkeys(leg, 1.0)
    return {d: (s - lo) / (hi - lo) if s != lo else 0.001 for d, s in leg.items()}


def l2(leg: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(s * s for s in leg.values()))
    return {d: s / norm for d, s in leg.items()}


def z_score(leg: dict[str, float]) -> dict[str, float]:
    values = list(leg.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return {d: (s - mean) / std if (s - mean) / std > 0 else 0.001 for d, s in leg.items()}


NORMALIZE = {"min_max": min_max, "l2": l2, "z_score": z_score}


def combine(normalized: list[dict[str, float]], technique: str, weights: list[float]) -> dict[str, float]:
    docs = set().union(*normalized)
    out = {}
    for d in docs:
        present = [(w, leg[d]) for w, leg in zip(weights, normalized, strict=True) if d in leg]
        if technique == "arithmetic_mean":  # a missing document scores 0 on that leg; its weight still counts
            out[d] = sum(w * leg.get(d, 0.0) for w, leg in zip(weights, normalized, strict=True)) / sum(weights)
        elif technique == "geometric_mean":
            out[d] = math.exp(sum(w * math.log(s) for w, s in present) / sum(w for w, _ in present))
        else:
            out[d] = sum(w for w, _ in present) / sum(w / s for w, s in present)
    return out


def rrf(legs: list[list[str]], rank_constant: int = 60) -> dict[str, float]:
    out: dict[str, float] = {}
    for leg in legs:
        for rank, doc_id in enumerate(leg, start=1):
            out[doc_id] = out.get(doc_id, 0.0) + 1 / (rank_constant + rank)
    return out

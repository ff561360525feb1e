"""A fusion as a search pipeline states it (``FusionConfig``), the pipeline that asks the cluster for it, and
the fusion itself, done here on the legs' hits (``fuse``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from searchcore.fusion.techniques import (
    DEFAULT_RANK_CONSTANT,
    NORMALIZATION_PROCESSOR,
    NORMALIZERS,
    check_combination,
    check_compatible,
    check_normalization,
    check_rank_constant,
    check_weights,
    check_weights_match,
    combine,
    normalize,
)

K = TypeVar("K", bound=Hashable)

PIPELINE_PREFIX = "rerank-sidecar-"
PIPELINE_DESCRIPTION = "rerank-sidecar hybrid fusion"


@dataclass(frozen=True)
class FusionConfig:
    """What a search pipeline (or the sidecar's settings) says about fusing the legs.

    Defaults are the normalization-processor's: min_max + arithmetic_mean, equal weights.
    ``score-ranker-processor`` is ``FusionConfig("rrf", "rrf", rank_constant=...)``.
    Invalid values raise ``IllegalArgument`` with OpenSearch's messages.
    """

    normalization: str = "min_max"
    combination: str = "arithmetic_mean"
    weights: tuple[float, ...] | None = None
    rank_constant: int = DEFAULT_RANK_CONSTANT

    def __post_init__(self) -> None:
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(self.weights))
        check_normalization(self.normalization)
        check_combination(self.combination)
        if self.weights is not None:
            check_weights(self.weights)
        normalizer = NORMALIZERS[self.normalization]
        if normalizer.uses_rank_constant:
            check_rank_constant(self.rank_constant)
        if self.combination != normalizer.own_combination:
            check_compatible(self.normalization, self.combination)


# ---- the search pipeline that asks the cluster for this fusion ----

def pipeline_name(config: FusionConfig) -> str:
    """``rerank-sidecar-<normalization>[-<combination>][-<rank constant>][-w<weights>]``; the combination is
    left out where it is the processor's own (``rerank-sidecar-rrf-60``)."""
    normalizer = NORMALIZERS[config.normalization]
    parts = [config.normalization]
    if config.combination != normalizer.own_combination:
        parts.append(config.combination)
    if normalizer.uses_rank_constant:
        parts.append(str(config.rank_constant))
    if config.weights:
        parts.append("w" + "_".join(f"{w:g}" for w in config.weights))
    return PIPELINE_PREFIX + "-".join(parts)


def pipeline_body(config: FusionConfig) -> dict[str, Any]:
    """The search pipeline body whose phase results processor fuses as ``config`` says."""
    normalizer = NORMALIZERS[config.normalization]
    combination: dict[str, Any] = {"technique": config.combination}
    if config.combination == normalizer.own_combination and normalizer.own_processor:
        # score-ranker-processor: the normalization is its own, the rank constant sits in the combination
        kind = normalizer.own_processor
        if normalizer.uses_rank_constant:
            combination["rank_constant"] = config.rank_constant
        processor: dict[str, Any] = {"combination": combination}
    else:
        kind = NORMALIZATION_PROCESSOR
        normalization: dict[str, Any] = {"technique": config.normalization}
        if normalizer.uses_rank_constant:
            normalization["parameters"] = {"rank_constant": config.rank_constant}
        processor = {"normalization": normalization, "combination": combination}
    if config.weights:
        combination["parameters"] = {"weights": list(config.weights)}
    return {"description": PIPELINE_DESCRIPTION, "phase_results_processors": [{kind: processor}]}


# ---- the whole step ----

def fuse(legs: Sequence[Sequence[tuple[K, float]]], config: FusionConfig, *,
         tie_key: Callable[[K], Any] | None = None) -> list[tuple[K, float]]:
    """Fuse sub-query result lists into one, best first.

    ``legs[j]`` is sub-query j's hits in rank order, best first, as (key, raw score); keys are any
    hashable document identity (e.g. ``(index, _id)``) and must not repeat within a leg. Every
    document found by any leg is returned with its combined score; ties keep first-appearance order
    unless ``tie_key`` is given (see the package docstring).
    """
    order: dict[K, int] = {}
    for leg in legs:
        seen: set[K] = set()
        for key, _ in leg:
            if key in seen:
                raise ValueError(f"document {key!r} appears twice in one leg")
            seen.add(key)
            order.setdefault(key, len(order))
    if not order:
        return []
    check_weights_match(config.weights, len(legs))
    matrix = np.zeros((len(order), len(legs)), dtype=np.float32)
    for j, leg in enumerate(legs):
        normalized = normalize([score for _, score in leg], config.normalization, config.rank_constant)
        for (key, _), value in zip(leg, normalized, strict=True):
            matrix[order[key], j] = value
    combined = combine(matrix, config.combination, config.weights)
    keys = list(order)
    if tie_key is None:
        ranked = sorted(range(len(keys)), key=lambda i: -combined[i])
    else:
        ranked = sorted(range(len(keys)), key=lambda i: (-combined[i], tie_key(keys[i])))
    return [(keys[i], as_printed(combined[i])) for i in ranked]


def as_printed(value: Any) -> float:
    """A float32 as the Python float of its shortest decimal form (what OpenSearch prints)."""
    return float(str(np.float32(value)))

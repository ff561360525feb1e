"""Hybrid score fusion (normalize each leg, then combine per document) exactly as neural-search does it.

Each public piece mirrors a class of the OpenSearch neural-search plugin
(``org.opensearch.neuralsearch.processor``), read from its source:

- ``normalize(..., "min_max")``  -> ``normalization.MinMaxScoreNormalizationTechnique`` /
  ``MinMaxScoreNormalizer`` (no lower/upper bounds): ``(s - min) / (max - min)``; a result of
  exactly 0 becomes 0.001; a leg whose min == max (one result, or all equal) scores 1.0.
- ``normalize(..., "l2")``       -> ``L2ScoreNormalizationTechnique`` / ``L2ScoreNormalizer``:
  ``s / sqrt(sum s^2)``, the sum of squares accumulated in float; a zero norm gives 0.0.
- ``normalize(..., "z_score")``  -> ``ZScoreNormalizationTechnique`` / ``ZScoreNormalizer``: mean and
  standard deviation from commons-math ``DescriptiveStatistics`` (the *sample* standard deviation,
  n - 1; 0 for one value). A score equal to the mean gets the leg's raw max score, a leg with
  std 0 gives its raw min score, otherwise ``(s - mean) / std`` with results <= 0 -> 0.001.
- ``normalize(..., "rrf")``      -> ``RRFNormalizationTechnique`` / ``RRFScoreNormalizer.scoreForRank``:
  ``1 / (rank_constant + rank)``, rank from 1, rounded HALF_UP to 10 decimals, then to float.
- ``combine(..., "arithmetic_mean")`` -> ``combination.ArithmeticMeanScoreCombinationTechnique``:
  ``sum(w * s) / sum(w)`` over legs with s >= 0; a document missing from a leg scores 0.0 there,
  so that leg's weight still counts.
- ``combine(..., "geometric_mean")``  -> ``GeometricMeanScoreCombinationTechnique``:
  ``exp(sum(w * ln s) / sum(w))`` over legs with s > 0 (missing legs skipped).
- ``combine(..., "harmonic_mean")``   -> ``HarmonicMeanScoreCombinationTechnique``:
  ``sum(w) / sum(w / s)`` over legs with s > 0 (missing legs skipped).
- ``combine(..., "rrf")``             -> ``RRFScoreCombinationTechnique``: ``sum(w * s)`` (not divided).
- ``check_weights`` / the weights-count check in ``fuse`` -> ``ScoreCombinationUtil``
  (``validateWeights``: each in [0, 1], float sum within 0.01 of 1; ``validateIfWeightsMatchScores``).
- technique names, compatibility and rank constant checks -> ``ScoreNormalizationFactory``,
  ``ScoreCombinationFactory``, ``RRFScoreNormalizer.validateRankConstant``.
- ``fuse`` -> ``combination.ScoreCombiner.combineShardScores``: one list of documents per sub-query,
  missing scores 0.0, combined, sorted by combined score descending.

Precision: OpenSearch computes in Java ``float`` (z_score statistics and the geometric mean's
logarithms in ``double``). This module does the same with numpy float32, operation for operation
and in the same order, so results match bit for bit (up to libm's last-ulp ``log``/``exp``). Scores
come back as Python floats holding the float32 value's shortest decimal form (0.001, not
0.0010000000474974513), which is what OpenSearch prints in JSON.

Scope: each leg is treated as one shard's list. On a multi-shard index OpenSearch normalizes
min_max / l2 / z_score over all shards' lists (same as here, given the merged leg) but ranks RRF
within each shard, so a merged leg can rank differently. Ties in the combined score: OpenSearch
orders them by the iteration order of a ``java.util.HashMap`` keyed by Lucene doc id (ascending doc
id within a small shard); here they keep the order in which documents first appear (leg 0 in rank
order, then new documents of leg 1, ...), or ascending ``tie_key(key)`` when one is given (pass a
document's ordinal in its index to get Lucene's order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from searchcore.errors import IllegalArgument

K = TypeVar("K", bound=Hashable)

NORMALIZATIONS = ("min_max", "l2", "z_score", "rrf")
COMBINATIONS = ("arithmetic_mean", "geometric_mean", "harmonic_mean", "rrf")
# ScoreNormalizationFactory.COMBINATION_TECHNIQUE_FOR_NORMALIZATION_METHODS: what a
# normalization-processor accepts. (Java prints a Set.of, whose order varies per JVM; this order is fixed.)
COMPATIBLE_COMBINATIONS = {
    "min_max": ("arithmetic_mean", "geometric_mean", "harmonic_mean"),
    "l2": ("arithmetic_mean", "geometric_mean", "harmonic_mean"),
    "rrf": ("arithmetic_mean", "geometric_mean", "harmonic_mean"),
    "z_score": ("arithmetic_mean",),
}
DEFAULT_RANK_CONSTANT = 60
MIN_RANK_CONSTANT, MAX_RANK_CONSTANT = 1, 10_000

_F32 = np.float32
_MIN_SCORE = _F32(0.001)  # min_max and z_score floor
_SINGLE_RESULT_SCORE = _F32(1.0)
_WEIGHTS_SUM_DELTA = float(_F32(0.01))  # DoubleMath.fuzzyEquals(1.0f, sum, 0.01f)


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
        if self.normalization == "rrf":
            check_rank_constant(self.rank_constant)
        # rrf + rrf is what score-ranker-processor builds; it is not in the normalization-processor table.
        if (self.normalization, self.combination) != ("rrf", "rrf"):
            check_compatible(self.normalization, self.combination)


# ---- validation (ScoreNormalizationFactory, ScoreCombinationFactory, ScoreCombinationUtil) ----

def check_normalization(technique: str) -> None:
    if technique not in NORMALIZATIONS:
        raise IllegalArgument("provided normalization technique is not supported")


def check_combination(technique: str) -> None:
    if technique not in COMBINATIONS:
        raise IllegalArgument("provided combination technique is not supported")


def check_compatible(normalization: str, combination: str) -> None:
    supported = COMPATIBLE_COMBINATIONS[normalization]
    if combination not in supported:
        raise IllegalArgument(
            f"provided combination technique {combination} is not supported for normalization "
            f"technique {normalization}. Supported techniques are: {', '.join(supported)}")


def check_weights(weights: Sequence[float]) -> None:
    """ScoreCombinationUtil.validateWeights: each in [0.0, 1.0], and the float sum within 0.01 of 1."""
    as_float = [_F32(w) for w in weights]
    shown = "[" + ", ".join(java_float_str(w) for w in as_float) + "]"
    if any(not (0.0 <= w <= 1.0) for w in as_float):
        raise IllegalArgument(f"all weights must be in range [0.0 ... 1.0], submitted weights: {shown}")
    total = _F32(0.0)
    for w in as_float:
        total = _F32(total + w)
    if abs(1.0 - float(total)) > _WEIGHTS_SUM_DELTA:
        raise IllegalArgument(
            f"sum of weights for combination must be equal to 1.0, submitted weights: {shown}")


def check_weights_match(weights: Sequence[float] | None, legs: int) -> None:
    """ScoreCombinationUtil.validateIfWeightsMatchScores (run when the first document is combined)."""
    if weights and len(weights) != legs:
        raise IllegalArgument(
            f"number of weights [{len(weights)}] must match number of sub-queries [{legs}] in hybrid query")


def check_rank_constant(rank_constant: int) -> None:
    if not (MIN_RANK_CONSTANT <= rank_constant <= MAX_RANK_CONSTANT):
        raise IllegalArgument(
            "rank constant must be in the interval between 1 and 10000, "
            f"submitted rank constant: {rank_constant}")


def java_float_str(value: Any) -> str:
    """``Float.toString`` of a float: shortest digits, ``1.0E-4`` style outside [1e-3, 1e7)."""
    f = _F32(value)
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "-0.0" if np.signbit(f) else "0.0"
    if 1e-3 <= abs(float(f)) < 1e7:
        return np.format_float_positional(f, unique=True, trim="0")
    text = np.format_float_scientific(f, unique=True, trim="0", exp_digits=1)
    return text.replace("e+", "E").replace("e", "E")


# ---- normalization (per leg) ----

def normalize(scores: Sequence[float], technique: str,
              rank_constant: int = DEFAULT_RANK_CONSTANT) -> np.ndarray:
    """One leg's scores (in rank order) normalized; returns float32."""
    raw = np.asarray(scores, dtype=np.float32)
    if raw.size == 0:
        return raw
    if technique == "min_max":
        return _min_max(raw)
    if technique == "l2":
        return _l2(raw)
    if technique == "z_score":
        return _z_score(raw)
    if technique == "rrf":
        return _rrf(raw.size, rank_constant)
    raise IllegalArgument("provided normalization technique is not supported")


def _min_max(raw: np.ndarray) -> np.ndarray:
    low, high = raw.min(), raw.max()
    if low == high:  # single result, or all equal: MinMaxScoreNormalizer's SINGLE_RESULT_SCORE
        return np.full(raw.shape, _SINGLE_RESULT_SCORE, dtype=np.float32)
    out = (raw - low) / (high - low)
    out[out == 0] = _MIN_SCORE
    return out


def _l2(raw: np.ndarray) -> np.ndarray:
    sum_of_squares = _F32(0.0)
    for s in raw:  # float accumulation in rank order, as L2ScoreNormalizer.NormAccumulator
        sum_of_squares = _F32(sum_of_squares + s * s)
    norm = _F32(math.sqrt(float(sum_of_squares)))
    if norm == 0:
        return np.zeros(raw.shape, dtype=np.float32)
    return raw / norm


def _z_score(raw: np.ndarray) -> np.ndarray:
    values = [float(s) for s in raw]
    mean, std = _commons_math_mean_and_std(values)
    mean32, std32 = _F32(mean), _F32(std)
    high, low = raw.max(), raw.min()
    out = np.empty(raw.shape, dtype=np.float32)
    for i, s in enumerate(raw):
        if s == mean32:
            out[i] = high
        elif std32 == 0:
            out[i] = low
        else:
            z = _F32((s - mean32) / std32)
            out[i] = _MIN_SCORE if z <= 0 else z
    return out


def _commons_math_mean_and_std(values: list[float]) -> tuple[float, float]:
    """commons-math Mean (two-pass corrected) and bias-corrected Variance, in double, in order."""
    n = len(values)
    total = 0.0
    for v in values:
        total += v
    xbar = total / n
    correction = 0.0
    for v in values:
        correction += v - xbar
    mean = xbar + correction / n
    if n == 1:
        return mean, 0.0
    accum = accum2 = 0.0
    for v in values:
        dev = v - mean
        accum += dev * dev
        accum2 += dev
    variance = (accum - accum2 * accum2 / n) / (n - 1.0)
    return mean, math.sqrt(variance)


def _rrf(count: int, rank_constant: int) -> np.ndarray:
    """RRFScoreNormalizer.scoreForRank: 1/(k + rank + 1) rounded HALF_UP to 10 decimals, as float."""
    out = np.empty(count, dtype=np.float32)
    for rank in range(count):
        denominator = rank_constant + rank + 1
        numerator = (2 * 10_000_000_000 + denominator) // (2 * denominator)
        out[rank] = _F32(numerator / 1e10)
    return out


# ---- combination (per document, over legs) ----

def combine(scores: np.ndarray, technique: str, weights: Sequence[float] | None = None) -> np.ndarray:
    """Combine a (documents x legs) float32 matrix of normalized scores; missing scores must be 0.0."""
    matrix = np.asarray(scores, dtype=np.float32)
    docs, legs = matrix.shape
    w = [_F32(weights[j]) if weights and j < len(weights) else _F32(1.0) for j in range(legs)]
    if technique == "arithmetic_mean":
        return _weighted_sum(matrix, w, divide=True)
    if technique == "rrf":
        return _weighted_sum(matrix, w, divide=False)
    if technique == "geometric_mean":
        return _geometric(matrix, w)
    if technique == "harmonic_mean":
        return _harmonic(matrix, w)
    raise IllegalArgument("provided combination technique is not supported")


def _weighted_sum(matrix: np.ndarray, w: list[np.float32], *, divide: bool) -> np.ndarray:
    total = np.zeros(matrix.shape[0], dtype=np.float32)
    sum_w = np.zeros(matrix.shape[0], dtype=np.float32)
    for j, weight in enumerate(w):  # leg by leg, so float sums keep Java's order
        counted = matrix[:, j] >= 0
        total = np.where(counted, total + matrix[:, j] * weight, total).astype(np.float32)
        sum_w = np.where(counted, sum_w + weight, sum_w).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = total / sum_w if divide else total
    return np.where(sum_w == 0, _F32(0.0), result).astype(np.float32)


def _geometric(matrix: np.ndarray, w: list[np.float32]) -> np.ndarray:
    ln_sum = np.zeros(matrix.shape[0], dtype=np.float32)
    sum_w = np.zeros(matrix.shape[0], dtype=np.float32)
    for j, weight in enumerate(w):
        present = matrix[:, j] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            # float += weight * Math.log(score): the product and sum in double, stored as float
            term = float(weight) * np.log(matrix[:, j].astype(np.float64))
        ln_sum = np.where(present, (ln_sum.astype(np.float64) + term).astype(np.float32), ln_sum)
        sum_w = np.where(present, sum_w + weight, sum_w).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_ln = (ln_sum / sum_w).astype(np.float32)
        result = np.exp(mean_ln.astype(np.float64)).astype(np.float32)
    return np.where(sum_w == 0, _F32(0.0), result).astype(np.float32)


def _harmonic(matrix: np.ndarray, w: list[np.float32]) -> np.ndarray:
    sum_w = np.zeros(matrix.shape[0], dtype=np.float32)
    sum_h = np.zeros(matrix.shape[0], dtype=np.float32)
    for j, weight in enumerate(w):
        present = matrix[:, j] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = (weight / matrix[:, j]).astype(np.float32)
        sum_w = np.where(present, sum_w + weight, sum_w).astype(np.float32)
        sum_h = np.where(present, sum_h + inverse, sum_h).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = (sum_w / sum_h).astype(np.float32)
    return np.where(sum_h > 0, result, _F32(0.0)).astype(np.float32)


# ---- the whole step ----

def fuse(legs: Sequence[Sequence[tuple[K, float]]], config: FusionConfig, *,
         tie_key: Callable[[K], Any] | None = None) -> list[tuple[K, float]]:
    """Fuse sub-query result lists into one, best first.

    ``legs[j]`` is sub-query j's hits in rank order, best first, as (key, raw score); keys are any
    hashable document identity (e.g. ``(index, _id)``) and must not repeat within a leg. Every
    document found by any leg is returned with its combined score; ties keep first-appearance order
    unless ``tie_key`` is given (see the module docstring).
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
    return float(str(_F32(value)))

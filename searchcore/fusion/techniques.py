"""The tables of normalization and combination techniques, their formulas and neural-search's checks on them.

A technique is added here and nowhere else: one function and one row in ``NORMALIZERS`` or ``COMBINERS``.
Everything that names techniques (the sidecar's settings and per-request overrides, relevance/'s list, the
search-pipeline body, localsearch's pipeline validation) reads these tables.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchcore.errors import IllegalArgument

NORMALIZATION_PROCESSOR = "normalization-processor"
SCORE_RANKER_PROCESSOR = "score-ranker-processor"
DEFAULT_RANK_CONSTANT = 60
MIN_RANK_CONSTANT, MAX_RANK_CONSTANT = 1, 10_000

_F32 = np.float32
_MIN_SCORE = _F32(0.001)  # min_max and z_score floor
_SINGLE_RESULT_SCORE = _F32(1.0)
_WEIGHTS_SUM_DELTA = float(_F32(0.01))  # DoubleMath.fuzzyEquals(1.0f, sum, 0.01f)


@dataclass(frozen=True)
class Normalizer:
    """One normalization technique (a neural-search ``ScoreNormalizationTechnique``) and what goes with it."""

    name: str
    normalize: Callable[[np.ndarray, int], np.ndarray]  # (a leg's raw float32 scores, rank constant) -> float32
    # ScoreNormalizationFactory.COMBINATION_TECHNIQUE_FOR_NORMALIZATION_METHODS: what a normalization-processor
    # accepts with it. (Java prints a Set.of, whose order varies per JVM; this order is fixed.)
    combinations: tuple[str, ...]
    # normalization.parameters a normalization-processor accepts for it (ScoreNormalizationUtil)
    parameters: tuple[str, ...] = ()
    # a processor of its own and the combination that processor defaults to, beyond `combinations`; a search
    # pipeline asks for every other pair with a normalization-processor
    own_processor: str | None = None
    own_combination: str | None = None

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every combination it can be fused with, the default first."""
        own = (self.own_combination,) if self.own_combination else ()
        return own + tuple(c for c in self.combinations if c not in own)

    @property
    def default_combination(self) -> str:
        return self.allowed[0]

    @property
    def uses_rank_constant(self) -> bool:
        return "rank_constant" in self.parameters


@dataclass(frozen=True)
class Combiner:
    """One combination technique (a neural-search ``ScoreCombinationTechnique``)."""

    name: str
    # (documents x legs float32 matrix, missing scores 0.0; one float32 weight per leg) -> float32 per document
    combine: Callable[[np.ndarray, list[np.float32]], np.ndarray]


# ---- normalization (per leg) ----

def _min_max(raw: np.ndarray, rank_constant: int) -> np.ndarray:
    low, high = raw.min(), raw.max()
    if low == high:  # single result, or all equal: MinMaxScoreNormalizer's SINGLE_RESULT_SCORE
        return np.full(raw.shape, _SINGLE_RESULT_SCORE, dtype=np.float32)
    out = (raw - low) / (high - low)
    out[out == 0] = _MIN_SCORE
    return out


def _l2(raw: np.ndarray, rank_constant: int) -> np.ndarray:
    sum_of_squares = _F32(0.0)
    for s in raw:  # float accumulation in rank order, as L2ScoreNormalizer.NormAccumulator
        sum_of_squares = _F32(sum_of_squares + s * s)
    norm = _F32(math.sqrt(float(sum_of_squares)))
    if norm == 0:
        return np.zeros(raw.shape, dtype=np.float32)
    return raw / norm


def _z_score(raw: np.ndarray, rank_constant: int) -> np.ndarray:
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


def _rrf(raw: np.ndarray, rank_constant: int) -> np.ndarray:
    """RRFScoreNormalizer.scoreForRank: 1/(k + rank + 1) rounded HALF_UP to 10 decimals, as float."""
    out = np.empty(raw.size, dtype=np.float32)
    for rank in range(raw.size):
        denominator = rank_constant + rank + 1
        numerator = (2 * 10_000_000_000 + denominator) // (2 * denominator)
        out[rank] = _F32(numerator / 1e10)
    return out


# ---- combination (per document, over legs) ----

def _arithmetic(matrix: np.ndarray, w: list[np.float32]) -> np.ndarray:
    return _weighted_sum(matrix, w, divide=True)


def _rrf_sum(matrix: np.ndarray, w: list[np.float32]) -> np.ndarray:
    return _weighted_sum(matrix, w, divide=False)


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


# ---- the tables ----

_MEANS = ("arithmetic_mean", "geometric_mean", "harmonic_mean")

NORMALIZERS: dict[str, Normalizer] = {n.name: n for n in (
    Normalizer("min_max", _min_max, _MEANS, parameters=("lower_bounds", "upper_bounds")),
    Normalizer("l2", _l2, _MEANS),
    Normalizer("z_score", _z_score, ("arithmetic_mean",)),
    # rrf + rrf (a plain weighted sum) is what score-ranker-processor builds by default; a
    # normalization-processor does not accept it. (score-ranker-processor accepts the means too, but
    # OpenSearch 3.6 fails every search with them: null_pointer_exception.)
    Normalizer("rrf", _rrf, _MEANS, parameters=("rank_constant",), own_processor=SCORE_RANKER_PROCESSOR,
               own_combination="rrf"),
)}
COMBINERS: dict[str, Combiner] = {c.name: c for c in (
    Combiner("arithmetic_mean", _arithmetic),
    Combiner("geometric_mean", _geometric),
    Combiner("harmonic_mean", _harmonic),
    Combiner("rrf", _rrf_sum),
)}

NORMALIZATIONS = tuple(NORMALIZERS)
COMBINATIONS = tuple(COMBINERS)
COMPATIBLE_COMBINATIONS = {name: n.combinations for name, n in NORMALIZERS.items()}
# every (normalization, combination) pair a search pipeline can ask for, each normalization's default first
TECHNIQUES: tuple[tuple[str, str], ...] = tuple((name, c) for name, n in NORMALIZERS.items() for c in n.allowed)


def default_combination(normalization: str) -> str:
    """What a normalization is fused with when nothing is said: its own processor's default."""
    check_normalization(normalization)
    return NORMALIZERS[normalization].default_combination


# ---- validation (ScoreNormalizationFactory, ScoreCombinationFactory, ScoreCombinationUtil) ----

def check_normalization(technique: str) -> None:
    if technique not in NORMALIZERS:
        raise IllegalArgument("provided normalization technique is not supported")


def check_combination(technique: str) -> None:
    if technique not in COMBINERS:
        raise IllegalArgument("provided combination technique is not supported")


def check_compatible(normalization: str, combination: str) -> None:
    """What a normalization-processor accepts (its own processor may accept more: ``check_technique``)."""
    supported = COMPATIBLE_COMBINATIONS[normalization]
    if combination not in supported:
        raise IllegalArgument(
            f"provided combination technique {combination} is not supported for normalization "
            f"technique {normalization}. Supported techniques are: {', '.join(supported)}")


def check_technique(normalization: str, combination: str) -> None:
    """A pair some search pipeline can ask for, checked in neural-search's order and words."""
    check_normalization(normalization)
    check_combination(combination)
    if combination != NORMALIZERS[normalization].own_combination:
        check_compatible(normalization, combination)


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


# ---- applying them ----

def normalize(scores: Sequence[float], technique: str,
              rank_constant: int = DEFAULT_RANK_CONSTANT) -> np.ndarray:
    """One leg's scores (in rank order) normalized; returns float32."""
    raw = np.asarray(scores, dtype=np.float32)
    check_normalization(technique)
    if raw.size == 0:
        return raw
    return NORMALIZERS[technique].normalize(raw, rank_constant)


def combine(scores: np.ndarray, technique: str, weights: Sequence[float] | None = None) -> np.ndarray:
    """Combine a (documents x legs) float32 matrix of normalized scores; missing scores must be 0.0."""
    matrix = np.asarray(scores, dtype=np.float32)
    check_combination(technique)
    legs = matrix.shape[1]
    w = [_F32(weights[j]) if weights and j < len(weights) else _F32(1.0) for j in range(legs)]
    return COMBINERS[technique].combine(matrix, w)

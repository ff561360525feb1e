"""`--calibrate`: fit the sigmoid score mode's temperature and bias on the judgments, measure calibration
error before and after, and write the values where the sidecar reads them.

The sidecar's sigmoid mode serves `sigmoid(logit / temperature + bias)` (`sidecar.respond.ScoreMode`);
the fit is a logistic regression of relevance on the logit with slope 1/temperature > 0 and that bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from relevance.datasets import Qrels
from sidecar.respond import ScoreMode

ECE_BINS = 10


@dataclass(frozen=True)
class Calibration:
    reranker: str
    temperature: float
    bias: float
    pairs: int
    positives: int
    ece_before: float
    ece_after: float
    ece_after_held_out: float | None    # fitted on half the queries, measured on the other half
    log_loss_before: float
    log_loss_after: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def labelled_logits(logits: dict[str, dict[str, float]], qrels: Qrels, relevance_level: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every reranked (query, document): its logit, 1 when judged relevant, else 0 (an unjudged document
    counts as not relevant, as trec_eval counts it), and its query's number (for held-out folds)."""
    xs, ys, groups = [], [], []
    for number, (qid, docs) in enumerate(sorted(logits.items())):
        judged = qrels.get(qid, {})
        for doc_id, logit in docs.items():
            xs.append(logit)
            ys.append(1.0 if judged.get(doc_id, 0) >= relevance_level else 0.0)
            groups.append(number)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), np.asarray(groups)


def probabilities(logits: np.ndarray, temperature: float, bias: float) -> np.ndarray:
    mode = ScoreMode("sigmoid", temperature=temperature, bias=bias)
    return np.asarray([mode.sigmoid(float(x)) for x in logits])


def fit(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Temperature and bias minimising the log loss (slope kept positive: a higher logit never means less)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    def loss(params: np.ndarray) -> float:
        z = logits * np.exp(params[0]) + params[1]
        return float(-np.mean(labels * log_expit(z) + (1 - labels) * log_expit(-z)))

    def gradient(params: np.ndarray) -> np.ndarray:
        slope = np.exp(params[0])
        residual = expit(logits * slope + params[1]) - labels
        return np.array([np.mean(residual * logits) * slope, np.mean(residual)])

    best = minimize(loss, np.zeros(2), jac=gradient, method="L-BFGS-B", bounds=[(-9, 9), (-50, 50)])
    return float(np.exp(-best.x[0])), float(best.x[1])


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over equal-width probability bins: Σ (bin share) · |mean predicted − fraction relevant|."""
    if len(probs) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(probs[inside].mean() - labels[inside].mean())
    return float(total)


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def calibrate(reranker: str, logits: dict[str, dict[str, float]], qrels: Qrels, relevance_level: int, *,
              temperature: float = 1.0, bias: float = 0.0) -> Calibration:
    """Fit on all reranked pairs; also report the error of a fit on even queries measured on odd ones."""
    xs, ys, groups = labelled_logits(logits, qrels, relevance_level)
    if len(xs) == 0 or ys.min() == ys.max():
        raise ValueError("calibration needs reranked documents judged relevant and not relevant; "
                         f"found {int(ys.sum())} relevant of {len(xs)}")
    before = probabilities(xs, temperature, bias)
    fitted_t, fitted_b = fit(xs, ys)
    after = probabilities(xs, fitted_t, fitted_b)
    held_out = None
    train, test = groups % 2 == 0, groups % 2 == 1
    if test.any() and len(set(ys[train])) == 2:
        half_t, half_b = fit(xs[train], ys[train])
        held_out = expected_calibration_error(probabilities(xs[test], half_t, half_b), ys[test])
    return Calibration(reranker, fitted_t, fitted_b, len(xs), int(ys.sum()),
                       expected_calibration_error(before, ys), expected_calibration_error(after, ys), held_out,
                       log_loss(before, ys), log_loss(after, ys))


def calibration_config(calibration: Calibration, profile: dict[str, Any] | None) -> dict[str, Any]:
    """A settings file for the sidecar: a profile for the evaluated index (or the defaults, when there is no
    index) that serves calibrated probabilities with this reranker."""
    values = {"reranker": calibration.reranker, "score_mode": "sigmoid",
              "sigmoid_temperature": round(calibration.temperature, 6), "sigmoid_bias": round(calibration.bias, 6)}
    if profile is None:
        return {"defaults": values}
    return {"profiles": [{**profile, **values}]}


def write_config(path: Path, config: dict[str, Any], merge_into: Path | None = None) -> Path:
    """Write `config`; with `merge_into`, update that settings file: a profile for the same index replaces
    the old one (others stay), defaults are updated key by key."""
    if merge_into is not None and merge_into.is_file():
        existing = yaml.safe_load(merge_into.read_text(encoding="utf-8")) or {}
        for profile in config.get("profiles", []):
            kept = [p for p in existing.get("profiles", []) or [] if p.get("index") != profile["index"]]
            existing["profiles"] = [profile, *kept]
        if "defaults" in config:
            existing["defaults"] = {**(existing.get("defaults") or {}), **config["defaults"]}
        config, path = existing, merge_into
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# sigmoid calibration written by `rerank-sidecar eval --calibrate`\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path

"""`--calibrate`: the fit recovers a known temperature and bias, lowers the calibration error, and the
written settings make the sidecar's sigmoid mode serve those probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from relevance.calibration import (
    Calibration,
    calibrate,
    calibration_config,
    expected_calibration_error,
    fit,
    probabilities,
    write_config,
)
from sidecar.respond import ScoreMode
from sidecar.settings import Settings


def synthetic(temperature: float, bias: float, count: int = 6000, seed: int = 7):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, count)
    labels = (rng.random(count) < 1 / (1 + np.exp(-(logits / temperature + bias)))).astype(float)
    return logits, labels


def test_fit_recovers_temperature_and_bias():
    logits, labels = synthetic(temperature=2.5, bias=-1.5)
    temperature, bias = fit(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.1)
    assert bias == pytest.approx(-1.5, abs=0.15)


def test_calibration_lowers_ece_and_uses_the_sidecar_formula():
    logits, labels = synthetic(temperature=3.0, bias=-2.0)
    qrels, run_logits = {}, {}
    for i, (x, y) in enumerate(zip(logits, labels, strict=True)):
        qid = f"q{i // 50}"
        run_logits.setdefault(qid, {})[f"d{i}"] = float(x)
        if y:
            qrels.setdefault(qid, {})[f"d{i}"] = 1
    result = calibrate("model", run_logits, qrels, relevance_level=1)
    assert result.pairs == len(logits) and result.positives == int(labels.sum())
    assert result.ece_before > 0.1 and result.ece_after < 0.02 and result.ece_after_held_out < 0.03
    assert result.log_loss_after < result.log_loss_before
    mode = ScoreMode("sigmoid", temperature=result.temperature, bias=result.bias)
    assert probabilities(np.array([1.7]), result.temperature, result.bias)[0] == pytest.approx(mode.sigmoid(1.7))


def test_ece_of_a_perfectly_calibrated_constant():
    labels = np.array([1.0] * 30 + [0.0] * 70)
    assert expected_calibration_error(np.full(100, 0.3), labels) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(100, 0.9), labels) == pytest.approx(0.6)


def test_needs_both_kinds_of_label():
    with pytest.raises(ValueError, match="relevant and not relevant"):
        calibrate("m", {"q": {"a": 1.0, "b": 2.0}}, {}, 1)


def test_written_config_loads_as_settings_and_merges(tmp_path):
    calibration = Calibration("ce-model", 2.0, -0.5, 10, 3, 0.3, 0.01, 0.02, 0.7, 0.4)
    profile = {"index": "docs", "text_fields": ["title", "body"], "vector_field": "embedding"}
    existing = tmp_path / "sidecar.yaml"
    existing.write_text("window: 50\nprofiles:\n- index: docs\n  window: 20\n- index: other*\n  window: 30\n")
    path = write_config(tmp_path / "calibration.yaml", calibration_config(calibration, profile), existing)
    assert path == existing
    settings = Settings.load(existing, env={})
    docs = settings.explicit_profile("docs")
    assert (docs.sigmoid_temperature, docs.sigmoid_bias, docs.reranker) == (2.0, -0.5, "ce-model")
    assert docs.text_fields == ("title", "body") and docs.window == 50  # the old docs profile is replaced
    assert settings.explicit_profile("other-1").window == 30 and settings.defaults.window == 50
    alone = write_config(tmp_path / "defaults.yaml", calibration_config(calibration, None))
    assert Settings.load(alone, env={}).defaults.sigmoid_temperature == 2.0

"""The torch scorer against CrossEncoder.predict, token-budget batching, and model loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from searchcore.models import ModelNotFound
from sidecar.rerank import load_scorer, plan_batches
from sidecar.rerank.loading import clear_loaded
from sidecar.rerank.torch_backend import TorchScorer
from tests.conftest import shared_model

QUERY = "how do python lists sort their items"
PASSAGES = [
    "",
    "Lists sort in place with list.sort().",
    "The sorted() builtin returns a new list; it is stable and accepts a key function. " * 3,
    "Tomatoes are a fruit.",
    "Timsort, the algorithm behind Python's sort, finds runs in the data and merges them. " * 12,
    "x",
]
REAL_MODEL = "minilm-l2-dl20-ce"


def identity():
    import torch

    return torch.nn.Identity()


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(tiny_cross_encoder), device="cpu")


@pytest.fixture(scope="module")
def scorer(cross_encoder) -> TorchScorer:
    return TorchScorer(cross_encoder, "tiny")


@pytest.fixture(scope="module")
def real_model_path() -> Path:
    return shared_model(REAL_MODEL)


def test_logits_equal_cross_encoder_predict_without_activation(scorer, cross_encoder):
    expected = cross_encoder.predict([(QUERY, p) for p in PASSAGES], activation_fn=identity())
    logits = scorer.score_pairs(QUERY, PASSAGES)
    assert logits.dtype == np.float32 and logits.shape == (len(PASSAGES),)
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)
    assert np.ptp(logits) > 0.05  # the fixture model tells inputs apart, so equality means something


def test_token_budget_batching_equals_one_pair_at_a_time(scorer):
    pairs = scorer.encode(QUERY, PASSAGES)
    alone = np.array([scorer.score_batch([pair])[0] for pair in pairs])
    original = scorer.batch_tokens
    try:
        for budget in (64, 300, 100_000):
            scorer.batch_tokens = budget
            np.testing.assert_allclose(scorer.score_pairs(QUERY, PASSAGES), alone, atol=1e-5, rtol=0)
    finally:
        scorer.batch_tokens = original


def test_pairs_are_truncated_to_the_model_length(scorer):
    pairs = scorer.encode(QUERY, ["word " * 2000])
    assert len(pairs[0]) == scorer.max_length == 512


def test_plan_batches_sorts_by_length_and_keeps_each_batch_within_the_budget():
    lengths = [5, 40, 12, 40, 7, 30, 3, 100]
    batches = plan_batches(lengths, max_tokens=80)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths, reverse=True)
        assert len(batch) == 1 or len(batch) * max(widths) <= 80
    assert batches[0] == [7]  # longer than the budget alone: a batch of its own
    assert plan_batches([], 80) == []


def test_empty_input_needs_no_model_call(scorer):
    assert scorer.score_pairs(QUERY, []).shape == (0,)
    assert scorer.score_batch([]).shape == (0,)


def test_load_scorer_is_cached_per_process(tiny_cross_encoder):
    clear_loaded()
    try:
        first = load_scorer(str(tiny_cross_encoder), device="cpu")
        assert isinstance(first, TorchScorer) and first.name == str(tiny_cross_encoder)
        assert load_scorer(str(tiny_cross_encoder), device="cpu") is first
        assert load_scorer(str(tiny_cross_encoder), device="cpu", max_length=128).max_length == 128
    finally:
        clear_loaded()


def test_load_scorer_finds_a_folder_under_the_models_dir(tiny_cross_encoder, tmp_path, monkeypatch):
    shutil.copytree(tiny_cross_encoder, tmp_path / "tiny-ce")
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path))
    clear_loaded()
    try:
        scorer = load_scorer("some-org/tiny-ce", device="cpu")
        assert scorer.name == "some-org/tiny-ce"
        assert scorer.score_pairs("q", ["p"]).shape == (1,)
    finally:
        clear_loaded()


def test_a_missing_model_says_which_and_how_to_supply_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path))
    clear_loaded()
    with pytest.raises(ModelNotFound) as caught:
        load_scorer("acme/no-such-cross-encoder", device="cpu")
    message = str(caught.value)
    assert "[acme/no-such-cross-encoder]" in message
    assert "RERANK_MODELS_DIR" in message and "path" in message


class _Reached(Exception):
    pass


@pytest.mark.parametrize(("allow", "offline", "reached"), [
    ("1", None, [("org/hub-only-ce", False)]),  # a user with a hub: the hub name, downloads on
    (None, None, []),                           # the default: not even tried
    ("1", "1", []),                             # HF_HUB_OFFLINE wins over the opt-in
])
def test_a_hub_name_is_loaded_from_the_hub_only_on_opt_in(monkeypatch, allow, offline, reached):
    import sentence_transformers

    calls = []

    def cross_encoder(location, **kwargs):
        calls.append((location, kwargs["local_files_only"]))
        raise _Reached

    monkeypatch.setattr(sentence_transformers, "CrossEncoder", cross_encoder)
    for var, value in (("RERANK_ALLOW_DOWNLOAD", allow), ("HF_HUB_OFFLINE", offline),
                       ("TRANSFORMERS_OFFLINE", offline)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    clear_loaded()
    with pytest.raises(ModelNotFound) as caught:
        load_scorer("org/hub-only-ce", backend="torch", device="cpu")
    assert calls == reached
    if not reached:
        assert "RERANK_ALLOW_DOWNLOAD=1" in str(caught.value)


def test_unknown_backend_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown rerank backend \[tpu\].*torch"):
        load_scorer("anything", backend="tpu")


def test_trained_model_logits_equal_predict(real_model_path):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(real_model_path), device="cpu")
    scorer = TorchScorer(model, REAL_MODEL)
    expected = model.predict([(QUERY, p) for p in PASSAGES], activation_fn=identity())
    np.testing.assert_allclose(scorer.score_pairs(QUERY, PASSAGES), expected, atol=1e-5, rtol=0)

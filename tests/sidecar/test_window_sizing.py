"""The default window fits the budget at the measured speed: the speed measurement, the fit, the warnings."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pytest

from sidecar.rerank.base import LOCAL, EncodedPair
from sidecar.rerank.speed import TYPICAL_PAIR_TOKENS, Speed, measure_speed, typical_pairs
from sidecar.settings import Limits, Profile, Settings
from sidecar.window_sizing import AUTO_MAX_WINDOW, UNMEASURED_WINDOW, WindowSizer, fit_window


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowModel:
    """A model that takes `seconds_per_pair` of a fake clock for each pair it scores."""

    name, backend, capabilities, max_length, batch_tokens = "slow", "custom", LOCAL, 512, 512

    def __init__(self, clock: Clock, seconds_per_pair: float) -> None:
        self.clock, self.seconds_per_pair = clock, seconds_per_pair
        self.lengths: list[int] = []

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        ids = tuple(range(101, 101 + self.max_length - 1)) + (102,)   # truncated at max_length, [SEP] last
        return [EncodedPair(query, p, ids, (0,) * len(ids)) for p in passages]

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        self.clock.now += self.seconds_per_pair * len(pairs)
        self.lengths += [len(p) for p in pairs]
        return np.zeros(len(pairs), dtype=np.float32)


def test_typical_pairs_have_the_typical_length_and_keep_the_closing_token():
    model = SlowModel(Clock(), 0.1)
    pairs = typical_pairs(model, 3)
    assert len(pairs) == 3 and {len(p) for p in pairs} == {TYPICAL_PAIR_TOKENS}
    assert pairs[0].input_ids[-1] == 102 and len(pairs[0].token_type_ids) == TYPICAL_PAIR_TOKENS
    model.max_length = 128   # a model with a shorter window: its own maximum
    assert {len(p) for p in typical_pairs(model, 2)} == {128}


@pytest.mark.parametrize("threads", [1, 2])
def test_measure_speed_counts_pairs_per_second_of_typical_pairs(threads):
    clock = Clock()
    model = SlowModel(clock, seconds_per_pair=0.125)   # 8 pairs/s
    speed = measure_speed(model, threads=threads, clock=clock, min_seconds=1.0)
    assert speed.pairs_per_s == pytest.approx(8.0)
    assert speed.pair_tokens == TYPICAL_PAIR_TOKENS and speed.seconds >= 1.0 and speed.threads == threads
    assert set(model.lengths) == {TYPICAL_PAIR_TOKENS} and len(model.lengths) == speed.pairs


def test_measure_speed_stops_after_max_pairs_on_a_fast_model():
    clock = Clock()
    speed = measure_speed(SlowModel(clock, 1e-6), clock=clock, min_seconds=10.0, max_pairs=64)
    assert 64 <= speed.pairs < 64 + 8 and speed.pairs_per_s == pytest.approx(1e6)


@pytest.mark.parametrize(("pairs_per_s", "budget_ms", "window"), [
    (10.0, 2000, 10),      # 12 fit with 60% headroom: rounded down to a multiple of 5
    (8.0, 2000, 9),        # below 10: as is
    (37.0, 2000, 40),      # 44.4 -> 40
    (1000.0, 2000, AUTO_MAX_WINDOW),
    (0.1, 2000, 1),        # never less than one document
    (10.0, 10000, 60),
    (float("inf"), 2000, AUTO_MAX_WINDOW),
])
def test_fit_window(pairs_per_s, budget_ms, window):
    assert fit_window(pairs_per_s, budget_ms) == window


def sizer_for(*profiles: Profile, defaults: Profile | None = None) -> WindowSizer:
    return WindowSizer(Settings(opensearch_url="http://127.0.0.1:9", defaults=defaults or Profile(reranker="ce"),
                                profiles=profiles, limits=Limits()))


def test_an_unset_window_is_sized_per_profile_and_a_configured_one_is_kept(caplog):
    products = Profile(pattern="products*", reranker="ce", window=50, budget_ms=1000)
    logs = Profile(pattern="logs*", reranker="fast-ce", budget_ms=500, max_window=30)
    sizer = sizer_for(products, logs)
    assert sizer.window(sizer.settings.defaults) == UNMEASURED_WINDOW   # nothing measured yet
    sizer.record("ce", Speed(10.0, 256, 20, 2.0, 2))
    sizer.record("fast-ce", Speed(1000.0, 256, 500, 0.5, 2))
    assert sizer.window(sizer.settings.defaults) == 10          # 10 pairs/s x 2 s x 0.6
    assert sizer.window(products) == 50                         # configured: kept, however slow
    assert sizer.window(logs) == 30                             # 300 would fit: the profile's max_window
    with caplog.at_level(logging.INFO, logger="sidecar.window_sizing"):
        sizer.announce()
    text = caplog.text
    assert "defaults: window 10 (auto" in text and "10.0 pairs/s measured at 256 tokens" in text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1   # products only: the defaults and logs fit their budgets
    assert "products*: window 50 does not fit budget_ms 1000" in warnings[0]
    assert "10.0 pairs/s" in warnings[0] and "about 5000 ms" in warnings[0]
    assert "(6 here)" in warnings[0] and "budget_ms to 8400 or more" in warnings[0]
    report = sizer.report()
    assert report["models"]["ce"]["pairs_per_s"] == 10.0
    assert report["windows"]["defaults"]["window"] == 10 and report["windows"]["defaults"]["chosen"].startswith("auto")
    assert report["windows"]["products*"] == {"window": 50, "budget_ms": 1000, "reranker": "ce",
                                              "chosen": "configured", "expected_ms": 5000}


def test_a_model_not_measured_says_why_and_keeps_the_former_default():
    sizer = sizer_for()
    sizer.skip("ce", "a remote backend: its speed is another machine's")
    assert sizer.window(sizer.settings.defaults) == UNMEASURED_WINDOW
    assert "remote backend" in sizer.report()["windows"]["defaults"]["chosen"]


def test_window_auto_in_the_settings_means_sized(monkeypatch):
    settings = Settings.from_dict({"defaults": {"window": 30}, "profiles": [{"index": "a*", "window": "auto"},
                                                                            {"index": "b*"}]})
    assert settings.defaults.window == 30
    assert settings.profiles[0].window is None and settings.profiles[1].window == 30   # inherited: configured
    assert Settings.from_dict({}).defaults.window is None
    assert Settings.load(env={"RERANK_WINDOW": "auto"}).defaults.window is None
    assert Settings.load(env={"RERANK_WINDOW": "40"}).defaults.window == 40

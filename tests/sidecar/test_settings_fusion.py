"""The fusion keys of a profile: every technique searchcore.fusion offers can be set, invalid ones are refused."""

from __future__ import annotations

import logging

import pytest

from searchcore.errors import IllegalArgument
from searchcore.fusion import TECHNIQUES, FusionConfig
from sidecar.settings import ConfigError, Profile, Settings


def defaults(**profile) -> Profile:
    return Settings.from_dict({"defaults": profile}).defaults


@pytest.mark.parametrize(("normalization", "combination"), TECHNIQUES)
def test_every_technique_can_be_configured_with_weights_and_rank_constant(normalization, combination):
    profile = defaults(fusion=normalization, fusion_combination=combination, fusion_weights=[0.3, 0.7],
                       fusion_rank_constant=20)
    assert profile.fusion_config() == FusionConfig(normalization, combination, (0.3, 0.7), 20)


@pytest.mark.parametrize(("data", "config"), [
    # a profile or top-level key that switches to rrf starts from rrf's own sum, as before
    ({"defaults": {"fusion_combination": "arithmetic_mean"}, "profiles": [{"index": "x", "fusion": "rrf"}]},
     FusionConfig("rrf", "rrf")),
    ({"defaults": {"fusion_combination": "arithmetic_mean"}, "fusion": "rrf"}, FusionConfig("rrf", "rrf")),
    # other switches keep the combination
    ({"defaults": {"fusion_combination": "harmonic_mean"}, "profiles": [{"index": "x", "fusion": "l2"}]},
     FusionConfig("l2", "harmonic_mean")),
    # keys given together are checked together
    ({"defaults": {"fusion_combination": "geometric_mean"}, "fusion": "z_score", "fusion_combination":
      "arithmetic_mean"}, FusionConfig("z_score", "arithmetic_mean")),
])
def test_a_profile_inherits_the_combination_as_a_request_does(data, config):
    settings = Settings.from_dict(data)
    assert (settings.profiles[0] if settings.profiles else settings.defaults).fusion_config() == config


def test_the_environment_and_top_level_keys_set_them_too():
    env = {"RERANK_FUSION": "l2", "RERANK_FUSION_COMBINATION": "harmonic_mean", "RERANK_FUSION_WEIGHTS": "0.4,0.6",
           "RERANK_FUSION_RANK_CONSTANT": "7"}
    assert Settings.load(env=env).defaults.fusion_config() == FusionConfig("l2", "harmonic_mean", (0.4, 0.6), 7)
    top = Settings.from_dict({"fusion": "rrf", "fusion_combination": "geometric_mean", "fusion_rank_constant": 5})
    assert top.defaults.fusion_config() == FusionConfig("rrf", "geometric_mean", rank_constant=5)


@pytest.mark.parametrize(("profile", "config"), [
    ({}, FusionConfig("min_max", "arithmetic_mean")),
    ({"fusion": "z_score"}, FusionConfig("z_score", "arithmetic_mean")),
    ({"fusion": "rrf"}, FusionConfig("rrf", "rrf")),   # score-ranker-processor, as before
    ({"fusion": "rrf", "fusion_weights": [0.2, 0.8]}, FusionConfig("rrf", "rrf", (0.2, 0.8))),
    ({"fusion_combination": "geometric_mean"}, FusionConfig("min_max", "geometric_mean")),
])
def test_existing_configurations_fuse_as_before(profile, config):
    assert defaults(**profile).fusion_config() == config


@pytest.mark.parametrize(("profile", "request_keys", "config"), [
    # a request's normalization keeps the profile's combination ...
    ({"fusion_combination": "geometric_mean"}, {"fusion": "l2"}, FusionConfig("l2", "geometric_mean")),
    ({"fusion": "rrf", "fusion_combination": "harmonic_mean"}, {"fusion": "min_max"},
     FusionConfig("min_max", "harmonic_mean")),
    # ... except when it switches to rrf, which has its own (as before)
    ({"fusion_combination": "arithmetic_mean"}, {"fusion": "rrf"}, FusionConfig("rrf", "rrf")),
    ({"fusion": "l2"}, {"fusion": "rrf", "fusion_combination": "geometric_mean", "rank_constant": 3},
     FusionConfig("rrf", "geometric_mean", rank_constant=3)),
    ({"fusion_weights": [0.5, 0.5]}, {"weights": (0.1, 0.9)}, FusionConfig(weights=(0.1, 0.9))),
    ({"fusion": "rrf"}, {"fusion": "z_score"}, FusionConfig("z_score")),
])
def test_request_overrides(profile, request_keys, config):
    keys = {"fusion": None, "combination": None, **request_keys}
    if "fusion_combination" in keys:
        keys["combination"] = keys.pop("fusion_combination")
    assert defaults(**profile).fusion_config(**keys) == config


def test_an_invalid_pair_in_a_request_answers_neural_searchs_words():
    with pytest.raises(IllegalArgument) as caught:
        defaults(fusion_combination="geometric_mean").fusion_config("z_score")
    assert caught.value.reason == ("provided combination technique geometric_mean is not supported for normalization "
                                   "technique z_score. Supported techniques are: arithmetic_mean")


@pytest.mark.parametrize(("profile", "message"), [
    ({"fusion": "cosine"}, "defaults.fusion must be one of ['min_max', 'l2', 'z_score', 'rrf'], got [cosine]"),
    ({"fusion_combination": "median"}, "defaults.fusion_combination must be one of ['arithmetic_mean', "
     "'geometric_mean', 'harmonic_mean', 'rrf'], got [median]"),
    ({"fusion": "z_score", "fusion_combination": "geometric_mean"}, "defaults.fusion_combination: provided "
     "combination technique geometric_mean is not supported for normalization technique z_score. Supported "
     "techniques are: arithmetic_mean"),
    ({"fusion_combination": "rrf"}, "defaults.fusion_combination: provided combination technique rrf is not "
     "supported for normalization technique min_max. Supported techniques are: arithmetic_mean, geometric_mean, "
     "harmonic_mean"),
    ({"fusion_weights": [0.7, 0.7]}, "defaults.fusion_weights: sum of weights for combination must be equal to "
     "1.0, submitted weights: [0.7, 0.7]"),
    ({"fusion_weights": [1.2, -0.2]}, "defaults.fusion_weights: all weights must be in range [0.0 ... 1.0], "
     "submitted weights: [1.2, -0.2]"),
    ({"fusion": "rrf", "fusion_rank_constant": 0}, "defaults.fusion_rank_constant: rank constant must be in the "
     "interval between 1 and 10000, submitted rank constant: 0"),
    ({"fusion_rank_constant": "ten"}, "defaults.fusion_rank_constant: invalid literal for int() with base 10: "
     "'ten' (got 'ten')"),
])
def test_invalid_values_are_refused_at_start_naming_the_key(profile, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_dict({"defaults": profile})
    assert str(caught.value) == message


def test_a_profile_is_checked_the_same_way():
    with pytest.raises(ConfigError, match=r"^profiles\[0\]\.fusion_combination: provided combination technique "):
        Settings.from_dict({"profiles": [{"index": "docs*", "fusion": "z_score", "fusion_combination": "harmonic_mean"}]})


def test_rrf_with_a_mean_says_it_is_no_longer_ignored(caplog):
    with caplog.at_level(logging.WARNING, logger="sidecar.settings"):
        profile = defaults(fusion="rrf", fusion_combination="arithmetic_mean")
    assert profile.fusion_config() == FusionConfig("rrf", "arithmetic_mean")
    assert "leave fusion_combination out for the rrf" in caplog.text

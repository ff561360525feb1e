"""One contract for every local rerank backend, and each backend's agreement with torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from sidecar.rerank import (
    BatchingScorer,
    load_scorer,
    passage_budget,
    rerank_documents,
    split_passages,
)
from sidecar.rerank.loading import clear_loaded
from sidecar.rerank.onnx_backend import OnnxScorer
from sidecar.rerank.onnx_export import exported_model
from tests.conftest import shared_data, shared_model

QUERY = "how do python lists sort their items"
PASSAGES = [
    "",
    "Lists sort in place with list.sort().",
    "The sorted() builtin returns a new list; it is stable and accepts a key function. " * 3,
    "Tomatoes are a fruit.",
    "Timsort, the algorithm behind Python's sort, finds runs in the data and merges them. " * 12,
    "x",
]
LOCAL_BACKENDS = ["torch", "onnx", "onnx-int8"]


@pytest.fixture(autouse=True)
def fresh_scorers():
    clear_loaded()
    yield
    clear_loaded()


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
def test_every_backend_keeps_the_scorer_contract(backend, tiny_cross_encoder):
    scorer = load_scorer(str(tiny_cross_encoder), backend=backend, device="cpu")
    assert scorer.backend == backend and scorer.max_length == 512
    logits = scorer.score_pairs(QUERY, PASSAGES)
    assert logits.dtype == np.float32 and logits.shape == (len(PASSAGES),) and np.isfinite(logits).all()
    np.testing.assert_array_equal(scorer.score_pairs(QUERY, PASSAGES), logits)  # deterministic
    if backend != "onnx-int8":  # dynamic int8 scales activations per batch: company shifts its logits a little
        pairs = scorer.encode(QUERY, PASSAGES)
        alone = np.array([scorer.score_batch([pair])[0] for pair in pairs])
        np.testing.assert_allclose(logits, alone, atol=1e-4, rtol=0)  # batching and padding change nothing
    assert scorer.score_batch([]).shape == (0,)
    assert load_scorer(str(tiny_cross_encoder), backend=backend, device="cpu") is scorer


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
def test_every_backend_reranks_documents_with_maxp(backend, tiny_cross_encoder):
    scorer = load_scorer(str(tiny_cross_encoder), backend=backend, device="cpu")
    long_text = "filler words about nothing in particular " * 300 + PASSAGES[1]
    result = rerank_documents(scorer, QUERY, [PASSAGES[1], long_text, ""], deadline=None, cache=None)
    assert result.status == "reranked" and all(logit is not None for logit in result.logits)
    passages = split_passages(scorer.tokenizer, long_text, passage_budget(scorer.tokenizer, QUERY, scorer.max_length))
    assert len(passages) > 1
    best = scorer.score_pairs(QUERY, [p.text for p in passages])
    if backend != "onnx-int8":
        assert result.logits[1] == pytest.approx(float(best.max()), abs=1e-4)
        assert result.passage_index[1] == int(best.argmax())


def test_onnx_fp32_equals_torch_within_1e_4(tiny_cross_encoder):
    torch_logits = load_scorer(str(tiny_cross_encoder), backend="torch", device="cpu").score_pairs(QUERY, PASSAGES)
    onnx_scorer = load_scorer(str(tiny_cross_encoder), backend="onnx", device="cpu")
    assert isinstance(onnx_scorer, OnnxScorer) and onnx_scorer.exported.fused
    np.testing.assert_allclose(onnx_scorer.score_pairs(QUERY, PASSAGES), torch_logits, atol=1e-4, rtol=0)
    assert np.ptp(torch_logits) > 0.05  # the model tells these apart: equality means something


def test_auto_picks_onnx_on_a_cpu(tiny_cross_encoder):
    assert load_scorer(str(tiny_cross_encoder), backend="auto", device="cpu").backend == "onnx"


def test_export_happens_once_and_is_reused(tiny_cross_encoder, tmp_path, monkeypatch):
    import sidecar.rerank.onnx_export as export

    first = exported_model(tiny_cross_encoder, int8=True, cache_dir=tmp_path)
    stamp = first.path.stat().st_mtime_ns
    monkeypatch.setattr(export, "_export", lambda *a: pytest.fail("exported again"))
    monkeypatch.setattr(export, "_quantize", lambda *a: pytest.fail("quantized again"))
    again = exported_model(tiny_cross_encoder, int8=True, cache_dir=tmp_path)
    assert again == first and again.path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.rglob("*.tmp"))  # atomic renames left nothing half-written


def test_an_onnx_file_shipped_with_the_model_is_used_as_is(tiny_cross_encoder, tmp_path):
    import shutil

    folder = tmp_path / "shipped"
    shutil.copytree(tiny_cross_encoder, folder)
    built = exported_model(folder, int8=False, cache_dir=tmp_path / "cache")
    (folder / "onnx").mkdir()
    shutil.copy(built.path, folder / "onnx" / "model.onnx")
    assert exported_model(folder, int8=False, cache_dir=tmp_path / "other").path == folder / "onnx" / "model.onnx"


@pytest.fixture
def ships_int8(tiny_cross_encoder, tmp_path):
    """A model folder that ships its own onnx/model_qint8_avx2.onnx (as sentence-transformers' export writes it)."""
    import shutil

    folder = tmp_path / "ships-int8"
    shutil.copytree(tiny_cross_encoder, folder)
    (folder / "onnx").mkdir()
    shutil.copy(exported_model(folder, int8=False, cache_dir=tmp_path / "fp32").path,
                folder / "onnx" / "model_qint8_avx2.onnx")
    return folder


def test_onnx_int8_applies_the_recipe_even_when_the_model_ships_an_int8_file(ships_int8, tmp_path):
    from sidecar.rerank.onnx_export import int8_excluded_nodes

    recipe = exported_model(ships_int8, int8=True, cache_dir=tmp_path / "cache")
    assert recipe.path.parent.parent == tmp_path / "cache" and recipe.path.name == "model-int8.onnx"
    scorer = load_scorer(str(ships_int8), backend="onnx-int8", device="cpu", cache_dir=str(tmp_path / "cache"))
    assert scorer.exported.path == recipe.path
    # the recipe's mark: the first layers and every FFN output projection stay fp32 MatMuls
    import onnx

    graph = onnx.load(str(recipe.path)).graph
    kept = set(int8_excluded_nodes(recipe.path.parent / "model.onnx"))
    assert kept and kept <= {node.name for node in graph.node if node.op_type in ("MatMul", "Attention", "Gemm")}
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in graph.node)


def test_onnx_int8_takes_the_shipped_file_only_when_asked(ships_int8, tiny_cross_encoder, tmp_path):
    from sidecar.rerank.registry import OptionError, get_backend

    backend = get_backend("onnx-int8")
    assert backend.validate({}) == {"quantization": "recipe"}
    options = backend.validate({"quantization": "shipped"}, "models.m")
    scorer = load_scorer(str(ships_int8), backend="onnx-int8", device="cpu", cache_dir=str(tmp_path / "c"), **options)
    assert scorer.exported.path == ships_int8 / "onnx" / "model_qint8_avx2.onnx"
    with pytest.raises(OptionError, match=r"models.m.quantization must be one of \['recipe', 'shipped'\]"):
        backend.validate({"quantization": "int4"}, "models.m")
    with pytest.raises(FileNotFoundError, match="quantization: shipped"):
        exported_model(tiny_cross_encoder, int8=True, cache_dir=tmp_path / "c", shipped_int8=True)


def test_changed_weights_get_a_new_export(tiny_cross_encoder, tmp_path):
    from tests.conftest import build_tiny_cross_encoder

    other = build_tiny_cross_encoder(tmp_path / "other-seed", seed=7)
    a = exported_model(tiny_cross_encoder, int8=False, cache_dir=tmp_path / "cache")
    b = exported_model(other, int8=False, cache_dir=tmp_path / "cache")
    assert a.path != b.path


# ---- agreement on real data --------------------------------------------------------------------

DL19_QUERIES = 12  # of the 43 judged ones, each with its whole BM25 top-100: one request's candidates


@pytest.fixture(scope="module")
def dl19_slice():
    import ir_measures

    data = shared_data("trec-dl-2019-2020-passage")
    qrels = list(ir_measures.read_trec_qrels(str(data / "qrels.dl19-passage.txt")))
    judged = {q.query_id for q in qrels}
    runs = [r for r in json.loads((data / "bm25.dl19.top100.json").read_text())
            if str(r["hits"][0]["qid"]) in judged]
    return qrels, [(str(r["hits"][0]["qid"]), r["query"], r["hits"]) for r in runs[:DL19_QUERIES]]


def _rerank_run(scorer, queries) -> dict[str, dict[str, float]]:
    return {qid: dict(zip([h["docid"] for h in hits],
                          map(float, scorer.score_pairs(query, [h["content"] for h in hits])), strict=True))
            for qid, query, hits in queries}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_int8_keeps_rankings_on_dl19(dl19_slice):
    """int8 against torch on the same pairs: per-query Spearman >= 0.99 and nDCG@10 within 0.005;
    fp32 ONNX equals torch within 1e-4 on every pair."""
    import ir_measures
    from ir_measures import nDCG

    model = str(shared_model("minilm-l6-distilled-ce"))
    qrels, queries = dl19_slice
    qrels = [q for q in qrels if q.query_id in {qid for qid, _query, _hits in queries}]
    import torch

    threads = torch.get_num_threads()
    try:  # as the sidecar runs them: single-threaded calls, one model thread per core
        runs = {backend: _rerank_run(BatchingScorer(load_scorer(model, backend=backend, device="cpu", threads=1),
                                                    workers=os.cpu_count() or 1), queries)
                for backend in ("torch", "onnx", "onnx-int8")}
    finally:
        torch.set_num_threads(threads)
    reference = runs["torch"]
    for qid, scores in runs["onnx"].items():
        np.testing.assert_allclose([scores[d] for d in reference[qid]], list(reference[qid].values()),
                                   atol=1e-4, rtol=0)
    rho = [spearmanr(list(reference[q].values()), [runs["onnx-int8"][q][d] for d in reference[q]]).statistic
           for q in reference]
    assert np.mean(rho) >= 0.99, f"int8 per-query Spearman {np.mean(rho):.4f}"
    ndcg = {b: ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10] for b, run in runs.items()}
    assert abs(ndcg["onnx-int8"] - ndcg["torch"]) <= 0.005, ndcg
    assert ndcg["torch"] > 0.3  # a real model on real data: the comparison is not between two noise runs


def test_remote_backend_needs_a_url():
    with pytest.raises(ValueError, match="no url"):
        load_scorer("some-model", backend="remote")


def test_remote_tokenizer_falls_back_to_minilms_offline():
    from sidecar.rerank.tei_backend import load_remote_scorer

    scorer = load_remote_scorer("acme/not-here", "acme/not-here", url="http://127.0.0.1:9")
    assert scorer.tokenizer("hello world")["input_ids"][0] == 101  # BERT's [CLS]: WordPiece uncased


def test_spec_from_settings_reaches_the_backend(tiny_cross_encoder, tmp_path: Path):
    from sidecar.settings import ConfigError, Settings

    settings = Settings.from_dict({"rerank_backend": "torch", "models": {
        "tiny": {"backend": "onnx-int8", "path": str(tiny_cross_encoder), "max_length": 128},
        "far": {"backend": "remote", "url": "http://gpu-box:8080", "tokenizer": "bert-base-uncased"}}})
    assert settings.model_spec("tiny").backend == "onnx-int8"
    assert settings.model_spec("unlisted").backend == "torch"
    assert settings.model_spec("far").options == {"url": "http://gpu-box:8080", "tokenizer": "bert-base-uncased",
                                                  "timeout_s": 10.0, "retries": 2, "max_client_batch": 32}
    with pytest.raises(ConfigError, match=r"models.far.url is required"):
        Settings.from_dict({"models": {"far": {"backend": "remote"}}})
    with pytest.raises(ConfigError, match=r"models.x.backend must be one of"):
        Settings.from_dict({"models": {"x": {"backend": "tpu"}}})
    with pytest.raises(ConfigError, match=r"rerank_backend must be one of"):
        Settings.from_dict({"rerank_backend": "gpu"})


@pytest.mark.parametrize(("entry", "message"), [
    ({"backend": "remote", "url": "http://x", "timeout_s": 0}, r"models.m.timeout_s must be positive"),
    ({"backend": "remote", "url": "http://x", "retries": -1}, r"models.m.retries must be >= 0"),
    ({"backend": "remote", "url": "http://x", "max_client_batch": "many"}, r"models.m.max_client_batch: expected"),
    ({"backend": "remote", "url": "http://x", "options": {"max_client_batch": 0}}, r"models.m.max_client_batch must"),
    ({"backend": "torch", "url": "http://x"}, r"models.m.url is not an option of backend torch"),
    ({"url": "http://x"}, r"models.m.url is not an option of backend auto"),
    ({"backend": "remote", "url": "http://x", "options": []}, r"models.m.options must be a mapping"),
])
def test_each_backend_validates_its_own_options(entry, message):
    from sidecar.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match=message):
        Settings.from_dict({"models": {"m": entry}})


def test_backends_come_from_the_registry_and_declare_what_they_can_do(tiny_cross_encoder):
    from sidecar.rerank import get_backend, register_backend
    from sidecar.rerank.registry import _backends
    from sidecar.settings import Settings, rerank_backends

    assert {"auto", "torch", "onnx", "onnx-int8", "remote"} <= set(rerank_backends())
    assert get_backend("remote").remote and not get_backend("torch").remote
    local = load_scorer(str(tiny_cross_encoder), backend="torch", device="cpu")
    assert not local.capabilities.batches_itself and local.capabilities.needs_tokenizer
    assert BatchingScorer(local).capabilities.batches_itself and BatchingScorer(local).backend == "torch"
    remote = load_scorer("acme/not-here", backend="remote", url="http://127.0.0.1:9")
    assert remote.capabilities.remote and remote.capabilities.batches_itself
    assert not remote.capabilities.needs_tokenizer
    try:  # a backend registered from outside is configurable at once
        register_backend("echo", lambda location, name, **options: local)
        assert Settings.from_dict({"models": {"e": {"backend": "echo"}}}).model_spec("e").backend == "echo"
    finally:
        _backends.pop("echo", None)

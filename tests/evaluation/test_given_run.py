"""Run-with-texts mode: `given` keeps trec_eval's order, each reranker row equals `CrossEncoder.predict`
on the same candidates, and the command writes the table, results.json, the CSVs and the charts."""

from __future__ import annotations

import csv
import json

import pytest

from relevance.datasets import load_dataset
from relevance.given_run import given_system, rerank_system
from relevance.measures import means, per_query
from sidecar.cli import main
from tests.conftest import shared_data


def predict_run(model_path, dataset, query_ids, limit=None):
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(model_path))
    run = {}
    for qid in query_ids:
        candidates = dataset.candidates[qid][:limit]
        logits = model.predict([(dataset.queries[qid], c.text) for c in candidates], batch_size=16,
                               activation_fn=torch.nn.Identity())
        run[qid] = {c.doc_id: float(v) for c, v in zip(candidates, logits, strict=True)}
    return run


def test_rerank_row_equals_cross_encoder_predict(given_run, tiny_cross_encoder):
    run_path, qrels_path = given_run
    dataset = load_dataset(run_path, qrels=qrels_path)
    ids = dataset.judged_queries()
    reranked = rerank_system(dataset, ids, str(tiny_cross_encoder))
    direct = predict_run(tiny_cross_encoder, dataset, ids)
    for qid in ids:
        assert reranked.logits[qid].keys() == direct[qid].keys()
        for doc_id, logit in direct[qid].items():
            assert reranked.logits[qid][doc_id] == pytest.approx(logit, abs=1e-4)
    ours = means(per_query(reranked.run, dataset.qrels, ids))["ndcg@10"]
    theirs = means(per_query(direct, dataset.qrels, ids))["ndcg@10"]
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert reranked.stages["rerank"] and all(s > 0 for s in reranked.stages["rerank"])


def test_given_is_scored_like_trec_eval_and_a_window_keeps_the_tail(given_run, tiny_cross_encoder):
    import ir_measures

    run_path, qrels_path = given_run
    dataset = load_dataset(run_path, qrels=qrels_path)
    ids = dataset.judged_queries()
    given = given_system(dataset, ids)
    plain = {q: {c.doc_id: c.score for c in dataset.candidates[q]} for q in ids}
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], dataset.qrels, plain)[ir_measures.nDCG @ 10]
    assert means(per_query(given.run, dataset.qrels, ids))["ndcg@10"] == pytest.approx(expected)
    # scores tie in pairs (d0, d1), (d2, d3), ...: trec_eval puts the larger document id first
    trec_order = [f"d{i + 1 - j}" for i in range(0, 20, 2) for j in (0, 1)]
    windowed = rerank_system(dataset, ids, str(tiny_cross_encoder), window=5)
    for qid in ids:
        order = sorted(windowed.run[qid], key=lambda d: -windowed.run[qid][d])
        assert set(order[:5]) == set(trec_order[:5])
        assert order[5:] == trec_order[5:]  # past the window: the run's order


def test_eval_command_on_a_given_run_writes_every_output(given_run, tiny_cross_encoder, tmp_path, capsys):
    run_path, qrels_path = given_run
    out = tmp_path / "out"
    code = main(["eval", str(run_path), "--qrels", str(qrels_path), "--reranker", str(tiny_cross_encoder),
                 "--out", str(out), "--calibrate"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "given" in printed and tiny_cross_encoder.name in printed and "calibration of" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["systems"]) == {"given", tiny_cross_encoder.name}
    row = results["systems"][tiny_cross_encoder.name]
    assert {"ndcg@10", "mrr@10", "recall@100", "map", "latency_ms"} <= set(row)
    assert row["latency_ms"]["rerank"]["p50"] > 0 and row["latency_ms"]["rerank"]["p99"] >= row["latency_ms"][
        "rerank"]["p50"]
    assert row["vs_baseline"]["baseline"] == "given"
    assert sum(row["vs_baseline"][k] for k in ("wins", "losses", "ties")) == results["queries"] == 6
    with (out / "results.csv").open() as handle:
        assert [r["system"] for r in csv.DictReader(handle)] == ["given", tiny_cross_encoder.name]
    for chart in ("quality_latency.png", "stage_latency.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sigmoid_temperature" in (out / "calibration.yaml").read_text()


def test_missing_judgments_is_a_clear_error(given_run, capsys):
    run_path, _ = given_run
    assert main(["eval", str(run_path)]) == 2
    assert "--qrels" in capsys.readouterr().err


def test_dl19_slice_given_and_rerank(tmp_path, tiny_cross_encoder):
    """The DL 2019 BM25 run: 3 queries, 30 candidates each, through the same code as the benchmark."""
    data = shared_data("trec-dl-2019-2020-passage")
    entries = json.loads((data / "bm25.dl19.top100.json").read_text())[:3]
    for entry in entries:
        entry["hits"] = entry["hits"][:30]
    sliced = tmp_path / "dl19-slice.json"
    sliced.write_text(json.dumps(entries))
    dataset = load_dataset(sliced, qrels=data / "qrels.dl19-passage.txt")
    ids = dataset.judged_queries()
    assert len(ids) == 3
    reranked = rerank_system(dataset, ids, str(tiny_cross_encoder))
    direct = predict_run(tiny_cross_encoder, dataset, ids)
    assert means(per_query(reranked.run, dataset.qrels, ids, 2))["ndcg@10"] == pytest.approx(
        means(per_query(direct, dataset.qrels, ids, 2))["ndcg@10"], abs=1e-9)


def test_a_reranker_that_cannot_load_stops_before_any_work(given_run, tmp_path, capsys):
    run_path, qrels_path = given_run
    assert main(["eval", str(run_path), "--qrels", str(qrels_path), "--reranker", "no-such-model",
                 "--out", str(tmp_path / "out")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

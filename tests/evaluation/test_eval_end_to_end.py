"""`rerank-sidecar eval` on a BEIR folder: ingest into localsearch (once), every system through the sidecar's
pipeline, the reranked order equal to what the served sidecar answers, calibration into a loadable config."""

from __future__ import annotations

import json

import pytest
import requests

from sidecar.cli import main
from sidecar.settings import Settings
from tests.conftest import SidecarServer
from tests.evaluation.conftest import JUDGED

SYSTEMS = {"bm25", "knn", "hybrid-min_max", "hybrid-l2", "hybrid-z_score", "hybrid-rrf"}


def trec_run(path):
    ranked: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, rank, _, _ = line.split()
        ranked.setdefault(qid, []).append(doc)
    return ranked


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eval_on_a_beir_folder_through_localsearch(beir_folder, tiny_cross_encoder, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)   # `make test` sets it for the reference node: not this test's
    data, out = tmp_path / "localsearch", tmp_path / "out"
    argv = ["eval", str(beir_folder), "--reranker", str(tiny_cross_encoder), "--windows", "3,8", "--data-dir",
            str(data), "--out", str(out), "--calibrate"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    label = tiny_cross_encoder.name
    assert set(results["systems"]) == SYSTEMS | {f"hybrid-min_max+{label}@3", f"hybrid-min_max+{label}@8"}
    assert results["ingested"] is True and results["queries"] == len(JUDGED)
    assert results["systems"]["bm25"]["ndcg@10"] > 0.5  # the lexical leg finds the judged documents
    for name, row in results["systems"].items():
        assert 0.0 <= row["ndcg@10"] <= 1.0 and row["latency_ms"]["total"]["p50"] > 0, name
    rerank = results["systems"][f"hybrid-min_max+{label}@8"]
    assert rerank["latency_ms"]["rerank"]["p50"] > 0 and rerank["rerank_status"] == {"reranked": len(JUDGED)}
    assert results["systems"]["knn"]["latency_ms"]["embed"]["p50"] > 0
    assert "bm25" in printed and "p (rand)" in printed
    # window 3 reranks the top 3 hybrid results only: below them the hybrid order stands
    hybrid, windowed = trec_run(out / "runs" / "hybrid-min_max.trec"), trec_run(out / "runs" / f"hybrid-min_max+{label}@3.trec")
    for qid in hybrid:
        assert set(windowed[qid][:3]) == set(hybrid[qid][:3]) and windowed[qid][3:] == hybrid[qid][3:]
    config = Settings.load(out / "calibration.yaml", env={})
    profile = config.explicit_profile(results["index"])
    assert profile is not None and profile.reranker == str(tiny_cross_encoder) and profile.score_mode == "sigmoid"
    assert profile.sigmoid_temperature == pytest.approx(results["calibration"]["fits"][label]["temperature"], rel=1e-4)

    assert main([*argv[:-1], "--fusions", "rrf", "--windows", "3"]) == 0  # the index matches: no second ingest
    again = json.loads((out / "results.json").read_text())
    assert again["ingested"] is False and again["index"] == results["index"]
    assert again["systems"]["bm25"]["ndcg@10"] == results["systems"]["bm25"]["ndcg@10"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eval_rerank_and_blend_orders_are_the_served_sidecars(localsearch_server, beir_folder, tiny_cross_encoder,
                                                              tmp_path):
    """Against a given cluster: the eval's rerank row ranks exactly as the sidecar under gunicorn answers, and
    each `--blend` row as the sidecar answers in `score_mode: blend` with that α (from the same logits)."""
    out = tmp_path / "out"
    assert main(["eval", str(beir_folder), "--opensearch", localsearch_server.url, "--reranker",
                 str(tiny_cross_encoder), "--windows", "8", "--fusions", "min_max", "--blend", "0.3,1",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["cluster"] == "given cluster"
    index, label = results["index"], tiny_cross_encoder.name
    rerank_row = f"hybrid-min_max+{label}@8"
    assert results["systems"][f"{rerank_row}+blend0.3"]["blend_alpha"] == 0.3
    expected = {("sigmoid", 0.5): trec_run(out / "runs" / f"{rerank_row}.trec"),
                ("blend", 0.3): trec_run(out / "runs" / f"{rerank_row}+blend0.3.trec")}
    # α = 1 is the sigmoid of the logits alone: the plain rerank order
    assert trec_run(out / "runs" / f"{rerank_row}+blend1.trec") == expected[("sigmoid", 0.5)]
    assert expected[("blend", 0.3)] != expected[("sigmoid", 0.5)]  # the blend moves something, or this proves little
    for (mode, alpha), ranked in expected.items():
        sidecar = SidecarServer(localsearch_server.url, tmp_path / f"sidecar-{mode}", reranker=str(tiny_cross_encoder),
                                config={"defaults": {"budget_ms": 600000, "score_mode": mode, "blend_alpha": alpha}})
        try:
            for qid, text, _ in JUDGED:
                body = {"size": 100, "_source": False, "ext": {"rerank": {"window": 8}},
                        "query": {"multi_match": {"query": text, "fields": ["title", "text"]}}}
                response = requests.post(f"{sidecar.url}/{index}/_search", json=body, timeout=120)
                assert response.headers["X-Rerank-Status"] == "reranked"
                assert [h["_id"] for h in response.json()["hits"]["hits"]] == ranked[qid], (mode, qid)
        finally:
            sidecar.stop()


def test_blend_needs_an_end_to_end_first_stage_and_alphas_within_0_1(tmp_path, capsys):
    assert main(["eval", "--topics", str(tmp_path / "t.tsv"), "--qrels", str(tmp_path / "q.txt"), "--index", "x",
                 "--blend", "1.5"]) == 2
    assert "within [0, 1]" in capsys.readouterr().err


def test_unknown_baseline_and_missing_index_are_clear_errors(beir_folder, tmp_path, capsys):
    assert main(["eval", "--topics", str(tmp_path / "none.tsv"), "--qrels", str(tmp_path / "none.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    topics, qrels = tmp_path / "t.tsv", tmp_path / "q.txt"
    topics.write_text("1\tquery\n")
    qrels.write_text("2 0 d 1\n")
    assert main(["eval", "--topics", str(topics), "--qrels", str(qrels), "--index", "x"]) == 2
    assert "same ids" in capsys.readouterr().err

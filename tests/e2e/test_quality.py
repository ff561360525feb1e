"""No quality lost in the plumbing: on TREC DL 2019, reranking the given BM25 top-100 through the sidecar gives
the nDCG@10 that `CrossEncoder.predict` gives on the same candidates."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.conftest import SidecarServer, shared_data, shared_model
from tests.e2e.conftest import ingest

MODEL = "minilm-l2-dl20-ce"  # the fast trained model: this checks plumbing, not model quality
# queries checked (of 43): enough to catch any plumbing loss while keeping the suite short; 43 for all
QUERIES = int(os.environ.get("RERANK_DL19_QUERIES", "12"))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sidecar_ndcg_equals_cross_encoder_predict_on_dl19(localsearch_server, tmp_path):
    import ir_measures
    from ir_measures import nDCG
    from sentence_transformers import CrossEncoder

    model_path = shared_model(MODEL)
    data = shared_data("trec-dl-2019-2020-passage")
    qrels = list(ir_measures.read_trec_qrels(str(data / "qrels.dl19-passage.txt")))
    judged = {q.query_id for q in qrels}
    runs = [r for r in json.loads((data / "bm25.dl19.top100.json").read_text())
            if str(r["hits"][0]["qid"]) in judged][:QUERIES]
    passages = {h["docid"]: h["content"] for run in runs for h in run["hits"]}
    corpus = tmp_path / "dl19.jsonl"
    corpus.write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in passages.items()))
    ingest(corpus, "dl19", localsearch_server.url)

    sidecar = SidecarServer(localsearch_server.url, tmp_path / "sidecar", reranker=str(model_path),
                            config={"defaults": {"window": 100, "max_window": 100, "budget_ms": 600000}})
    model = CrossEncoder(str(model_path))
    via_sidecar, via_predict = {}, {}
    try:
        for run in runs:
            qid = str(run["hits"][0]["qid"])
            if qid not in judged:
                continue
            ids = [h["docid"] for h in run["hits"]]
            body = {"size": 100, "_source": False, "ext": {"rerank": {"window": 100, "score_mode": "raw"}},
                    "query": {"bool": {"must": [{"match": {"text": run["query"]}}],
                                       "filter": [{"ids": {"values": ids}}]}}}
            response = requests.post(f"{sidecar.url}/dl19/_search", json=body, timeout=600)
            assert response.status_code == 200, response.text
            assert response.headers["X-Rerank-Status"] == "reranked"
            hits = response.json()["hits"]["hits"]
            assert {h["_id"] for h in hits} == set(ids)  # the same 100 candidates
            via_sidecar[qid] = {h["_id"]: h["_score"] for h in hits}
            logits = model.predict([(run["query"], passages[d]) for d in ids], batch_size=32,
                                   activation_fn=__import__("torch").nn.Identity())
            via_predict[qid] = {d: float(s) for d, s in zip(ids, logits, strict=True)}
    finally:
        sidecar.stop()

    qrels = [q for q in qrels if q.query_id in via_sidecar]
    ndcg_sidecar = ir_measures.calc_aggregate([nDCG @ 10], qrels, via_sidecar)[nDCG @ 10]
    ndcg_predict = ir_measures.calc_aggregate([nDCG @ 10], qrels, via_predict)[nDCG @ 10]
    assert len(via_sidecar) == len(runs) > 0
    assert ndcg_sidecar == pytest.approx(ndcg_predict, abs=1e-9)
    for qid, scores in via_sidecar.items():
        for doc_id, score in scores.items():
            assert score == pytest.approx(via_predict[qid][doc_id], abs=1e-4)

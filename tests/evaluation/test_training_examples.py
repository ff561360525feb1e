"""Training pairs: positives kept, hard negatives from the retrieved candidates, seeded, split by query."""

from __future__ import annotations

import json

import pytest

from relevance.datasets import DatasetError
from relevance.training.examples import (
    QueryJudgments,
    from_clicks,
    from_qrels,
    split,
    training_pairs,
)


def judged(qid: str, positives: list[str], negatives: list[str], candidates: list[str]) -> QueryJudgments:
    labels = {**{d: 1.0 for d in positives}, **{d: 0.0 for d in negatives}}
    texts = {d: f"text of {d}" for d in {*labels, *candidates}}
    return QueryJudgments(qid, f"query {qid}", labels, texts, candidates)


def test_hard_negatives_come_from_the_candidates_and_never_are_positives():
    j = judged("q", ["p1", "p2"], ["n1"], ["p1", "c1", "c2", "p2", "c3", "c4", "c5"])
    pairs = training_pairs([j], negatives=3, seed=1)
    positives = [p for p in pairs if p.label == 1.0]
    negatives = [p for p in pairs if p.label == 0.0]
    assert sorted(p.document for p in positives) == ["text of p1", "text of p2"]
    assert len(negatives) == 3
    assert {p.document for p in negatives} <= {f"text of {d}" for d in ("c1", "c2", "c3", "c4", "c5")}
    assert training_pairs([j], negatives=3, seed=1) == pairs
    assert training_pairs([j], negatives=3, seed=2) != pairs


def test_judged_negatives_fill_up_and_skip_top_is_honoured():
    j = judged("q", ["p"], ["n1", "n2"], ["c1", "c2", "p"])
    pairs = training_pairs([j], negatives=3, seed=0, skip_top=1)
    assert {p.document for p in pairs if p.label == 0.0} == {"text of c2", "text of n1", "text of n2"}


def test_split_is_by_query_and_seeded():
    items = [judged(f"q{i}", [f"p{i}"], [], []) for i in range(20)]
    train, validation = split(items, 0.25, seed=5)
    assert len(validation) == 5 and len(train) == 15
    assert not {j.qid for j in train} & {j.qid for j in validation}
    assert [j.qid for j in split(items, 0.25, seed=5)[1]] == [j.qid for j in validation]
    assert split(items, 0.0, seed=5)[1] == []


def test_qrels_and_clicks_become_labels(tmp_path):
    labelled = from_qrels({"1": "a", "2": "b"}, {"1": {"x": 2, "y": 1}, "3": {"z": 1}}, relevance_level=2)
    assert [(j.qid, j.labels) for j in labelled] == [("1", {"x": 1.0, "y": 0.0})]
    log = tmp_path / "clicks.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"query": "q one", "document": "clicked text", "label": 1},
        {"query": "q one", "document": "skipped text", "label": 0},
        {"query": "q two", "doc_id": "d7", "label": 0.5}]) + "\n")
    clicks = from_clicks(log)
    assert [j.query for j in clicks] == ["q one", "q two"]
    assert sorted(clicks[0].texts.values()) == ["clicked text", "skipped text"]
    assert clicks[1].labels == {"d7": 0.5} and clicks[1].texts == {}
    log.write_text('{"query": "q", "label": 3, "document": "x"}\n')
    with pytest.raises(DatasetError, match="between 0 and 1"):
        from_clicks(log)

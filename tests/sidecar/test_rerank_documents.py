"""Document reranking: MaxP, batching, the deadline, failing open, the cache, bad documents."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from sidecar.rerank import ScoreCache, passage_budget, rerank_documents, split_passages
from sidecar.rerank.torch_backend import TorchScorer
from tests.conftest import shared_model

QUERY = "what makes timsort fast on real data"
SHORT = [
    "Timsort finds natural runs and merges them, so partly sorted data sorts quickly.",
    "Bananas are rich in potassium.",
    "Merge sort splits the list in halves.",
    "The galloping mode of timsort skips ahead when one run keeps winning.",
    "A haiku has three lines.",
]
LONG = " ".join(f"Paragraph {i}: " + (
    "timsort gallops through long runs of already ordered data, merging runs cheaply. "
    if i == 23 else "the weather report mentions rain, wind and a cold front moving east. ")
    for i in range(60))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Instrumented:
    """A real scorer that counts model calls and can fail, return NaN, or take (fake) time."""

    def __init__(self, inner: TorchScorer, *, fail: bool = False, nan: bool = False,
                 clock: FakeClock | None = None, fail_encode_on: str | None = None) -> None:
        self.inner, self.fail, self.nan, self.clock = inner, fail, nan, clock
        self.fail_encode_on = fail_encode_on
        self.name, self.max_length, self.tokenizer = inner.name, inner.max_length, inner.tokenizer
        self.backend, self.capabilities = inner.backend, inner.capabilities
        self.batch_tokens = inner.batch_tokens
        self.calls = 0

    def encode(self, query, passages):
        if self.fail_encode_on and any(self.fail_encode_on in p for p in passages):
            raise RuntimeError("tokenizer broke")
        return self.inner.encode(query, passages)

    def score_batch(self, pairs):
        self.calls += 1
        if self.clock is not None:
            self.clock.now += 1.0
        if self.fail:
            raise RuntimeError("model exploded")
        logits = self.inner.score_batch(pairs)
        if self.nan:
            logits[-1] = math.nan
        return logits

    def score_pairs(self, query, passages):
        return self.inner.score_pairs(query, passages)


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(tiny_cross_encoder), device="cpu")


@pytest.fixture(scope="module")
def scorer(cross_encoder) -> TorchScorer:
    return TorchScorer(cross_encoder, "tiny")


def predict(cross_encoder, query: str, passages: list[str]) -> np.ndarray:
    import torch

    return cross_encoder.predict([(query, p) for p in passages], activation_fn=torch.nn.Identity())


def test_short_documents_get_their_pair_logits(scorer, cross_encoder):
    result = rerank_documents(scorer, QUERY, SHORT, deadline=None, cache=None)
    assert result.status == "reranked" and result.reranked
    np.testing.assert_allclose(result.logits, predict(cross_encoder, QUERY, SHORT), atol=1e-5)
    assert result.passage_index == [0] * len(SHORT)
    assert result.passage_span == [(0, len(text)) for text in SHORT]
    assert (result.scored, result.cache_hits, result.passages) == (len(SHORT), 0, len(SHORT))
    assert result.batches == len(result.batch_tokens) >= 1
    assert result.tokens <= sum(result.batch_tokens)


def test_long_document_scores_as_its_best_passage(scorer, cross_encoder):
    budget = passage_budget(scorer.tokenizer, QUERY, scorer.max_length)
    passages = [p.text for p in split_passages(scorer.tokenizer, LONG, budget)]
    assert len(passages) >= 3
    expected = predict(cross_encoder, QUERY, passages)
    result = rerank_documents(scorer, QUERY, [SHORT[0], LONG], deadline=None, cache=None)
    assert result.logits[1] == pytest.approx(float(expected.max()), abs=1e-5)
    assert result.passage_index[1] == int(expected.argmax())
    start, end = result.passage_span[1]
    assert LONG[start:end] == passages[result.passage_index[1]]
    assert result.passages == 1 + len(passages)


def test_token_budget_batching_gives_the_same_scores_as_one_pair_per_call(scorer):
    texts = [*SHORT, LONG]
    together = rerank_documents(scorer, QUERY, texts, deadline=None, cache=None)
    original = scorer.batch_tokens
    scorer.batch_tokens = 1  # every pair alone
    try:
        alone = rerank_documents(scorer, QUERY, texts, deadline=None, cache=None)
    finally:
        scorer.batch_tokens = original
    assert alone.batches == alone.passages > together.batches
    np.testing.assert_allclose(alone.logits, together.logits, atol=1e-5)
    assert alone.passage_index == together.passage_index


def test_deadline_already_passed_scores_nothing(scorer):
    instrumented = Instrumented(scorer)
    clock = FakeClock()
    result = rerank_documents(instrumented, QUERY, SHORT, deadline=clock() - 0.001, cache=None,
                              clock=clock)
    assert instrumented.calls == 0
    assert result.status == "skipped-timeout" and not result.reranked
    assert result.logits == [None] * len(SHORT) and result.scored == 0


def test_deadline_stops_before_a_call_that_would_pass_it_leaving_a_scored_prefix(scorer):
    clock = FakeClock()
    instrumented = Instrumented(scorer, clock=clock)  # each model call takes 1 s of fake time
    instrumented.batch_tokens = 1  # one pair per call
    result = rerank_documents(instrumented, QUERY, SHORT, deadline=3.5, cache=None,
                              wave_tokens=1, clock=clock)
    # calls at t=0, 1, 2; the fourth would end at 4 > 3.5 by the measured speed
    assert instrumented.calls == 3
    assert result.status == "partial" and result.reranked
    assert [logit is not None for logit in result.logits] == [True, True, True, False, False]
    assert result.scored == 3


def test_documents_past_the_budget_stay_unscored_even_when_cached(scorer):
    cache = ScoreCache()
    keys = [f"d{i}" for i in range(len(SHORT))]
    rerank_documents(scorer, QUERY, SHORT[4:], deadline=None, cache=cache, doc_keys=keys[4:])
    clock = FakeClock()
    instrumented = Instrumented(scorer, clock=clock)
    instrumented.batch_tokens = 1
    result = rerank_documents(instrumented, QUERY, SHORT, deadline=1.5, cache=cache, doc_keys=keys,
                              wave_tokens=1, clock=clock)
    # only the first document fits; the cached last one must not jump the unscored middle
    assert [logit is not None for logit in result.logits] == [True, False, False, False, False]
    assert result.status == "partial"


def test_model_error_fails_open_and_logs_no_document_text(scorer, caplog):
    instrumented = Instrumented(scorer, fail=True)
    with caplog.at_level(logging.INFO, logger="sidecar.rerank"):
        result = rerank_documents(instrumented, QUERY, SHORT, deadline=None, cache=ScoreCache())
    assert result.status == "skipped-error" and not result.reranked
    assert result.logits == [None] * len(SHORT)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert not any(text[:20] in logged for text in SHORT)


def test_non_finite_logits_fail_open_and_are_not_cached(scorer):
    cache = ScoreCache()
    result = rerank_documents(Instrumented(scorer, nan=True), QUERY, SHORT, deadline=None,
                              cache=cache)
    assert result.status == "skipped-nan"
    assert result.logits == [None] * len(SHORT)
    assert len(cache) == 0


def test_a_model_that_outputs_nan_fails_open(nan_cross_encoder):
    from sentence_transformers import CrossEncoder

    broken = TorchScorer(CrossEncoder(str(nan_cross_encoder), device="cpu"), "broken")
    result = rerank_documents(broken, QUERY, SHORT, deadline=None, cache=None)
    assert result.status == "skipped-nan" and result.logits == [None] * len(SHORT)


def test_cache_hits_skip_the_model(scorer):
    cache = ScoreCache()
    keys = [f"doc-{i}" for i in range(len(SHORT))]
    first_scorer = Instrumented(scorer)
    first = rerank_documents(first_scorer, QUERY, SHORT, deadline=None, cache=cache, doc_keys=keys)
    assert first_scorer.calls >= 1 and first.cache_hits == 0
    again = Instrumented(scorer)
    second = rerank_documents(again, QUERY, SHORT, deadline=None, cache=cache, doc_keys=keys)
    assert again.calls == 0
    assert second.cache_hits == len(SHORT) and second.scored == 0 and second.status == "reranked"
    assert second.logits == first.logits and second.passage_index == first.passage_index
    edited = [*SHORT[:-1], SHORT[-1] + " Edited."]
    third = Instrumented(scorer)
    result = rerank_documents(third, QUERY, edited, deadline=None, cache=cache, doc_keys=keys)
    assert third.calls == 1 and result.cache_hits == len(SHORT) - 1 and result.scored == 1


def test_empty_and_blank_documents_score_as_the_empty_pair(scorer, cross_encoder):
    result = rerank_documents(scorer, QUERY, ["", "  \n\t ", SHORT[0]], deadline=None, cache=None)
    assert result.status == "reranked"
    empty = float(predict(cross_encoder, QUERY, [""])[0])
    assert result.logits[0] == pytest.approx(empty, abs=1e-5)
    assert result.logits[1] == pytest.approx(empty, abs=1e-5)


def test_a_document_that_cannot_be_tokenized_does_not_fail_the_others(scorer, cross_encoder):
    texts = [SHORT[0], "this one has a BOOM inside", None, SHORT[1]]
    result = rerank_documents(Instrumented(scorer, fail_encode_on="BOOM"), QUERY, texts,
                              deadline=None, cache=ScoreCache())
    assert result.status == "partial"
    assert result.logits[1] is None and result.logits[2] is None
    expected = predict(cross_encoder, QUERY, [SHORT[0], SHORT[1]])
    np.testing.assert_allclose([result.logits[0], result.logits[3]], expected, atol=1e-5)


def test_passage_limit_per_request_leaves_the_rest_unscored(scorer):
    result = rerank_documents(scorer, QUERY, SHORT, deadline=None, cache=None, max_passages=3)
    assert [logit is not None for logit in result.logits] == [True, True, True, False, False]
    assert result.status == "partial"


def test_no_documents_and_mismatched_keys(scorer):
    assert rerank_documents(scorer, QUERY, [], deadline=None, cache=None).status == "reranked"
    with pytest.raises(ValueError, match="2 document keys for 1 texts"):
        rerank_documents(scorer, QUERY, ["a"], deadline=None, cache=None, doc_keys=["a", "b"])


def test_concurrent_requests_get_the_same_scores_as_serial_ones(scorer):
    texts = [*SHORT, LONG]
    expected = rerank_documents(scorer, QUERY, texts, deadline=None, cache=None).logits
    results: list[list[float | None]] = []

    def work() -> None:
        results.append(rerank_documents(scorer, QUERY, texts, deadline=None, cache=None).logits)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    for logits in results:
        np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_trained_model_maxp_equals_predict_over_passages():
    path = shared_model("minilm-l2-dl20-ce")
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(path), device="cpu")
    trained = TorchScorer(model, "minilm-l2-dl20-ce")
    budget = passage_budget(trained.tokenizer, QUERY, trained.max_length)
    passages = [p.text for p in split_passages(trained.tokenizer, LONG, budget)]
    expected = predict(model, QUERY, passages)
    result = rerank_documents(trained, QUERY, [LONG, *SHORT], deadline=None, cache=None)
    assert result.logits[0] == pytest.approx(float(expected.max()), abs=1e-5)
    assert result.passage_index[0] == int(expected.argmax())
    np.testing.assert_allclose(result.logits[1:], predict(model, QUERY, SHORT), atol=1e-5)

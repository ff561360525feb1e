"""Cross-request batching: concurrent requests share model calls, get their own logits, fail on their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from sidecar.rerank import BatchingScorer, DeadlineExceeded, EncodedPair, rerank_documents
from sidecar.rerank.torch_backend import TorchScorer

QUERIES = ["how do lists sort", "what is a tomato", "parse a date", "send an email"]
PASSAGES = ["Lists sort in place.", "Tomatoes are a fruit.", "strptime parses dates.", "smtplib sends mail.",
            "Nothing relevant here at all."]


class Recording:
    """Wraps a real scorer; records each model call's pairs, can hold calls until released, can fail."""

    def __init__(self, inner: TorchScorer) -> None:
        self.inner = inner
        self.name, self.max_length, self.tokenizer = inner.name, inner.max_length, inner.tokenizer
        self.backend, self.capabilities = inner.backend, inner.capabilities
        self.batch_tokens = inner.batch_tokens
        self.calls: list[list[EncodedPair]] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.fail_when = None

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        return self.inner.encode(query, passages)

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        self.gate.wait(30)
        self.calls.append(list(pairs))
        self.threads.add(threading.current_thread().name)
        if self.fail_when is not None and self.fail_when(pairs):
            raise RuntimeError("model failed")
        return self.inner.score_batch(pairs)


@pytest.fixture(scope="module")
def torch_scorer(tiny_cross_encoder) -> TorchScorer:
    from sentence_transformers import CrossEncoder

    return TorchScorer(CrossEncoder(str(tiny_cross_encoder), device="cpu"), "tiny")


def _concurrently(function, arguments) -> list:
    results: list = [None] * len(arguments)

    def run(i: int) -> None:
        try:
            results[i] = function(arguments[i])
        except Exception as exc:  # returned, so the test can look at it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_requests_share_model_calls_and_get_their_own_logits(torch_scorer):
    recording = Recording(torch_scorer)
    observed: list[tuple[int, int]] = []
    batcher = BatchingScorer(recording, gather_s=0.2, on_batch=lambda m, p, t, r: observed.append((p, r)))
    recording.gate.clear()  # hold the first call so the others queue up behind it
    pending = _concurrently_started(batcher, QUERIES)
    time.sleep(0.3)
    recording.gate.set()
    results = [future() for future in pending]
    for query, logits in zip(QUERIES, results, strict=True):
        np.testing.assert_allclose(logits, torch_scorer.score_pairs(query, PASSAGES), atol=1e-5, rtol=0)
    assert len(recording.calls) < len(QUERIES)  # some requests shared a call
    assert max(requests for _pairs, requests in observed) > 1
    assert sum(pairs for pairs, _requests in observed) == len(QUERIES) * len(PASSAGES)


def _concurrently_started(batcher: BatchingScorer, queries: list[str]):
    """Start one scoring thread per query; return a getter per thread for its result."""
    results: dict[int, object] = {}
    threads = []
    for i, query in enumerate(queries):
        def run(i: int = i, query: str = query) -> None:
            results[i] = batcher.score_pairs(query, PASSAGES)
        threads.append(threading.Thread(target=run))
        threads[-1].start()

    def getter(i: int):
        def get():
            threads[i].join(60)
            return results[i]
        return get

    return [getter(i) for i in range(len(queries))]


def test_one_request_is_cut_into_calls_that_several_model_threads_run(torch_scorer):
    recording = Recording(torch_scorer)
    recording.batch_tokens = 64  # a few pairs per model call
    batcher = BatchingScorer(recording, workers=2, gather_s=0.0)
    logits = batcher.score_pairs(QUERIES[0], PASSAGES * 20)
    np.testing.assert_allclose(logits, torch_scorer.score_pairs(QUERIES[0], PASSAGES * 20), atol=1e-5, rtol=0)
    assert len(recording.calls) > 2 and len(recording.threads) == 2
    assert all(len(call) * max(len(p) for p in call) <= 64 for call in recording.calls)


def test_a_full_batch_does_not_wait_for_the_gather_window(torch_scorer):
    batcher = BatchingScorer(torch_scorer, gather_s=30.0)
    pairs = torch_scorer.encode(QUERIES[0], PASSAGES * 40)
    batcher.call_tokens = len(pairs) * max(len(p) for p in pairs)  # exactly one full model call
    started = time.monotonic()
    batcher.score_batch(pairs)
    assert time.monotonic() - started < 10  # not the 30 s window


def test_a_lone_small_request_waits_at_most_the_gather_window(torch_scorer):
    batcher = BatchingScorer(torch_scorer, gather_s=0.5)
    started = time.monotonic()
    batcher.score_pairs(QUERIES[0], PASSAGES[:1])
    assert time.monotonic() - started < 5  # the window, not forever: a lone request is served


def test_a_failing_call_fails_only_the_requests_in_it_and_the_thread_lives_on(torch_scorer):
    recording = Recording(torch_scorer)
    recording.fail_when = lambda pairs: any(p.query == QUERIES[1] for p in pairs)
    batcher = BatchingScorer(recording, gather_s=0.0)
    assert isinstance(_concurrently(lambda q: batcher.score_pairs(q, PASSAGES), [QUERIES[1]])[0], RuntimeError)
    np.testing.assert_allclose(batcher.score_pairs(QUERIES[0], PASSAGES), torch_scorer.score_pairs(
        QUERIES[0], PASSAGES), atol=1e-5, rtol=0)


def test_work_whose_deadline_passed_in_the_queue_is_not_computed(torch_scorer):
    recording = Recording(torch_scorer)
    batcher = BatchingScorer(recording, gather_s=0.0)
    with pytest.raises(DeadlineExceeded):
        batcher.score_batch(torch_scorer.encode(QUERIES[0], PASSAGES), deadline=time.monotonic() - 1)
    assert recording.calls == []


def test_through_the_batcher_the_budget_still_leaves_a_scored_prefix(torch_scorer):
    recording = Recording(torch_scorer)
    clock = [0.0]
    batcher = BatchingScorer(recording, gather_s=0.0, clock=lambda: clock[0])

    def ten_seconds_per_call(pairs) -> bool:
        clock[0] += 10.0
        return False

    recording.fail_when = ten_seconds_per_call
    batcher.batch_tokens = 12  # one pair per call, two documents per wave
    result = rerank_documents(batcher, QUERIES[0], PASSAGES * 4, deadline=25.0, cache=None,
                              clock=lambda: clock[0])
    assert result.status == "partial"
    scored = [logit is not None for logit in result.logits]
    assert any(scored) and not all(scored)
    assert scored == sorted(scored, reverse=True)  # a scored prefix of the first-stage order


def test_a_request_whose_budget_runs_out_in_the_queue_fails_open_as_a_timeout(torch_scorer):
    recording = Recording(torch_scorer)
    batcher = BatchingScorer(recording, gather_s=0.0)
    recording.gate.clear()
    first = threading.Thread(target=lambda: batcher.score_pairs(QUERIES[0], PASSAGES))
    first.start()
    time.sleep(0.2)  # the first request's call is now held inside the model
    outcome = {}
    second = threading.Thread(target=lambda: outcome.update(result=rerank_documents(
        batcher, QUERIES[1], PASSAGES, deadline=time.monotonic() + 0.2, cache=None)))
    second.start()
    time.sleep(0.6)  # the second request's budget runs out while it waits
    recording.gate.set()
    second.join(30)
    first.join(30)
    assert outcome["result"].status == "skipped-timeout"
    assert all(pair.query != QUERIES[1] for call in recording.calls for pair in call)  # never computed

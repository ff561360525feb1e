"""Cross-request dynamic batching: concurrent requests' pairs share model calls, run by one thread per model.

Request threads submit their pairs and wait; the model thread takes what is pending (waiting at
most `gather_s` after the first submission for others to join, never once a model call's token
budget is full), length-sorts it into token-budget batches, calls the model and hands each
request its logits. One thread per model also means one model call at a time, so the inference
threads are never oversubscribed by gunicorn's request threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sidecar.rerank.base import BaseScorer, EncodedPair, Scorer, padded_tokens, plan_batches

log = logging.getLogger(__name__)

DEFAULT_GATHER_S = 0.002
# (model name, pairs, padded tokens, requests sharing the call) for each model call
BatchObserver = Callable[[str, int, int, int], None]


class DeadlineExceeded(Exception):
    """The request's deadline passed while its pairs waited for the model."""


@dataclass
class _Submission:
    pairs: Sequence[EncodedPair]
    deadline: float | None
    arrived: float
    logits: np.ndarray = field(init=False)
    remaining: int = field(init=False)
    tokens: int = field(init=False)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.logits = np.full(len(self.pairs), np.nan, dtype=np.float32)
        self.remaining = len(self.pairs)
        self.tokens = sum(len(pair) for pair in self.pairs)

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


class BatchingScorer(BaseScorer):
    """A local scorer whose `score_batch` calls, from any number of threads, are merged and serialized."""

    accepts_deadline = True

    def __init__(self, inner: Scorer, *, gather_s: float = DEFAULT_GATHER_S,
                 on_batch: BatchObserver | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner.name, inner.tokenizer, inner.max_length, inner.batch_tokens)
        self.inner = inner
        self.gather_s = gather_s
        self.on_batch = on_batch
        self.clock = clock
        self._pending: deque[_Submission] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        return self.inner.encode(query, passages)

    def score_batch(self, pairs: Sequence[EncodedPair], deadline: float | None = None) -> np.ndarray:
        """Logits for `pairs`, computed in the model thread, possibly beside other requests' pairs."""
        if not pairs:
            return np.empty(0, dtype=np.float32)
        submission = _Submission(list(pairs), deadline, self.clock())
        with self._wake:
            self._start()
            self._pending.append(submission)
            self._wake.notify()
        submission.done.wait()
        if submission.error is not None:
            raise submission.error
        return submission.logits

    # ---- the model thread ----------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, name=f"batcher-{self.name}", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while True:
            taken = self._gather()
            try:
                self._run(taken)
            except BaseException as exc:  # never leave a request waiting on a dead thread
                log.exception("batcher for %s failed", self.name)
                for submission in taken:
                    submission.fail(exc)

    def _gather(self) -> list[_Submission]:
        """Wait for work, let others join within the gather window, take up to one call's token budget."""
        with self._wake:
            while not self._pending:
                self._wake.wait()
            while sum(s.tokens for s in self._pending) < self.batch_tokens:
                left = self._pending[0].arrived + self.gather_s - self.clock()
                if left <= 0:
                    break
                self._wake.wait(left)
            taken = [self._pending.popleft()]
            tokens = taken[0].tokens
            while self._pending and tokens + self._pending[0].tokens <= self.batch_tokens:
                tokens += self._pending[0].tokens
                taken.append(self._pending.popleft())
            return taken

    def _run(self, taken: list[_Submission]) -> None:
        now = self.clock()
        live = []
        for submission in taken:
            if submission.deadline is not None and now >= submission.deadline:
                submission.fail(DeadlineExceeded())  # no model time for a request already out of time
            else:
                live.append(submission)
        slots = [(submission, k) for submission in live for k in range(len(submission.pairs))]
        lengths = [len(submission.pairs[k]) for submission, k in slots]
        for batch in plan_batches(lengths, self.inner.batch_tokens):
            pairs = [slots[i][0].pairs[slots[i][1]] for i in batch]
            owners = {id(slots[i][0]): slots[i][0] for i in batch}
            try:
                logits = np.asarray(self.inner.score_batch(pairs), dtype=np.float32).reshape(-1)
                if logits.shape[0] != len(pairs):
                    raise ValueError(f"{logits.shape[0]} logits for {len(pairs)} pairs")
            except Exception as exc:  # each request that shared the call fails open on its own
                for owner in owners.values():
                    owner.fail(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(self.name, len(pairs), padded_tokens(pairs), len(owners))
            for i, logit in zip(batch, logits, strict=True):
                submission, k = slots[i]
                submission.logits[k] = logit
                submission.remaining -= 1
                if submission.remaining == 0 and submission.error is None:
                    submission.done.set()

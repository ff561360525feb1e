"""Cross-request dynamic batching: requests' pairs are cut into model-sized chunks that model threads merge and run.

A request thread submits its pairs and waits. They are length-sorted and cut into chunks of at
most one model call's token budget; a pool of model threads takes chunks in arrival order, merges
chunks of concurrent requests into one call while they fit the budget (waiting at most `gather_s`
after a chunk arrived for others to join, never once the budget is full), runs the model and
hands each request its logits. On a CPU the calls are small (cache-sized) and each model thread
runs single-threaded, one per core: that beats one big call spread over the cores by intra-op
threads, and gunicorn's request threads never add inference threads of their own. On a GPU there
is one model thread and large calls, so concurrent requests share them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sidecar.rerank.base import BaseScorer, Capabilities, EncodedPair, Scorer, plan_batches

log = logging.getLogger(__name__)

DEFAULT_GATHER_S = 0.002
SUBMIT_TOKENS = 4096  # what a caller hands over at once: enough chunks to keep every model thread busy
# (model name, pairs, padded tokens, requests sharing the call) for each model call
BatchObserver = Callable[[str, int, int, int], None]


class DeadlineExceeded(Exception):
    """The request's deadline passed while its pairs waited for the model."""


@dataclass(eq=False)
class _Submission:
    pairs: Sequence[EncodedPair]
    deadline: float | None
    logits: np.ndarray = field(init=False)
    remaining: int = field(init=False)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.logits = np.full(len(self.pairs), np.nan, dtype=np.float32)
        self.remaining = len(self.pairs)

    def fail(self, error: BaseException) -> None:
        with self.lock:
            if not self.done.is_set():
                self.error = error
                self.done.set()

    def fill(self, rows: list[int], logits: np.ndarray) -> None:
        with self.lock:
            if self.done.is_set():
                return
            self.logits[rows] = logits
            self.remaining -= len(rows)
            if self.remaining == 0:
                self.done.set()


@dataclass(eq=False)
class _Chunk:
    submission: _Submission
    rows: list[int]          # which of the submission's pairs
    width: int               # its longest pair, in tokens
    arrived: float


class BatchingScorer(BaseScorer):
    """A local scorer whose `score_batch` calls, from any number of threads, are merged and run by a pool."""

    def __init__(self, inner: Scorer, *, workers: int = 1, gather_s: float = DEFAULT_GATHER_S,
                 on_batch: BatchObserver | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner.name, inner.tokenizer, inner.max_length, max(inner.batch_tokens, SUBMIT_TOKENS))
        self.inner = inner
        self.backend = inner.backend
        # hand it a whole wave: it cuts the calls itself, and drops what its deadline has passed
        self.capabilities = Capabilities(batches_itself=True, takes_deadline=True,
                                         needs_tokenizer=inner.capabilities.needs_tokenizer,
                                         remote=inner.capabilities.remote)
        self.call_tokens = inner.batch_tokens
        self.workers = max(1, workers)
        self.gather_s = gather_s
        self.on_batch = on_batch
        self.clock = clock
        self._pending: deque[_Chunk] = deque()
        self._pending_pairs = 0
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        return self.inner.encode(query, passages)

    def score_batch(self, pairs: Sequence[EncodedPair], deadline: float | None = None) -> np.ndarray:
        """Logits for `pairs`, computed by the model threads, possibly beside other requests' pairs."""
        if not pairs:
            return np.empty(0, dtype=np.float32)
        submission = _Submission(list(pairs), deadline)
        lengths = [len(pair) for pair in submission.pairs]
        now = self.clock()
        chunks = [_Chunk(submission, rows, max(lengths[i] for i in rows), now)
                  for rows in plan_batches(lengths, self.call_tokens)]
        with self._wake:
            self._start()
            self._pending.extend(chunks)
            self._pending_pairs += len(pairs)
            self._wake.notify_all()
        # a model slower than the request's budget (or hung) must not hold the request: at the
        # deadline it fails open, and the model threads skip whatever of it is still queued
        if not submission.done.wait(None if deadline is None else max(0.0, deadline - self.clock())):
            submission.fail(DeadlineExceeded())
        if submission.error is not None:
            raise submission.error
        return submission.logits

    # ---- the model threads ---------------------------------------------------------------------
    def _start(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._serve, name=f"model-{self.name}-{len(self._threads)}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self) -> None:
        while True:
            taken = self._take()
            try:
                self._run(taken)
            except BaseException as exc:  # never leave a request waiting on a dead thread
                log.exception("model thread for %s failed", self.name)
                for chunk in taken:
                    chunk.submission.fail(exc)

    def _take(self) -> list[_Chunk]:
        """The next call's chunks: the oldest, plus any that fit beside it, once the window allows."""
        with self._wake:
            while True:
                while not self._pending:
                    self._wake.wait()
                head = self._pending[0]
                if self._fits(head, self._pending_pairs):
                    left = head.arrived + self.gather_s - self.clock()
                    if left > 0:  # room for more and time to wait for it
                        self._wake.wait(left)
                        continue
                break
            taken = [self._pending.popleft()]
            pairs, width = len(taken[0].rows), taken[0].width
            while self._pending:
                candidate = self._pending[0]
                merged = max(width, candidate.width)
                if (pairs + len(candidate.rows)) * merged > self.call_tokens:
                    break
                taken.append(self._pending.popleft())
                pairs, width = pairs + len(candidate.rows), merged
            self._pending_pairs -= sum(len(chunk.rows) for chunk in taken)
            return taken

    def _fits(self, head: _Chunk, pending_pairs: int) -> bool:
        """Whether everything pending would still fit one call with the head chunk (so waiting may help)."""
        return pending_pairs * max(head.width, 1) < self.call_tokens

    def _run(self, taken: list[_Chunk]) -> None:
        now = self.clock()
        live = []
        for chunk in taken:
            submission = chunk.submission
            if submission.done.is_set():
                continue  # it failed already (an earlier chunk): no model time for the rest
            if submission.deadline is not None and now >= submission.deadline:
                submission.fail(DeadlineExceeded())
                continue
            live.append(chunk)
        if not live:
            return
        pairs = [chunk.submission.pairs[row] for chunk in live for row in chunk.rows]
        try:
            logits = np.asarray(self.inner.score_batch(pairs), dtype=np.float32).reshape(-1)
            if logits.shape[0] != len(pairs):
                raise ValueError(f"{logits.shape[0]} logits for {len(pairs)} pairs")
        except Exception as exc:  # each request that shared the call fails open on its own
            for chunk in live:
                chunk.submission.fail(exc)
            return
        if self.on_batch is not None:
            width = max(len(pair) for pair in pairs)
            self.on_batch(self.name, len(pairs), len(pairs) * width, len({id(c.submission) for c in live}))
        start = 0
        for chunk in live:
            chunk.submission.fill(chunk.rows, logits[start:start + len(chunk.rows)])
            start += len(chunk.rows)

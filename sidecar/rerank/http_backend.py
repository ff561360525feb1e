"""What backends that score over HTTP share: chunks per query, concurrent calls, retries within the deadline.

Passages are still split here, with the model's tokenizer (or a stand-in), so MaxP and the passage
limits work as locally; the server gets each query's passages in chunks of at most `max_batch`
texts, sent concurrently. Connection errors, 429 and 5xx answers are retried with backoff while
the request's deadline allows; anything else raises, and the caller fails open. A backend
subclasses `HttpScorer` with its endpoint, its request body and how to read its answer.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import urllib3
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from sidecar.rerank.base import BaseScorer, Capabilities, EncodedPair
from sidecar.rerank.batching import DeadlineExceeded
from sidecar.rerank.registry import Option, at_least, positive

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
REMOTE = Capabilities(batches_itself=True, takes_deadline=True, needs_tokenizer=False, remote=True)

# options every HTTP backend takes (a backend adds its own, and may rename `max_batch`)
HTTP_OPTIONS = {
    "url": Option(str, required=True),
    "tokenizer": Option(str),            # for passage splitting here (default: the model's own, else MiniLM's)
    "timeout_s": Option(float, 10.0, check=positive, rule="must be positive"),
    "retries": Option(int, 2, check=at_least(0), rule="must be >= 0"),
}


class RemoteError(RuntimeError):
    """The rerank server failed or answered something that is not a rerank answer."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class HttpScorer(BaseScorer):
    """A scorer whose model runs behind an HTTP endpoint; `request_body` and `read_scores` make the API."""

    capabilities = REMOTE

    def __init__(self, url: str, name: str, tokenizer: Any, max_length: int, *, timeout_s: float = 10.0,
                 retries: int = 2, max_batch: int = 32, headers: dict[str, str] | None = None) -> None:
        super().__init__(name, tokenizer, max_length, 1 << 30)
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_batch = max_batch
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._http = urllib3.PoolManager(maxsize=16, retries=False)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"remote-{name}")

    def request_body(self, query: str, texts: list[str]) -> bytes:
        raise NotImplementedError

    def read_scores(self, payload: bytes, count: int) -> np.ndarray:
        """The answer's scores (raw logits) in input order; raises RemoteError on anything else."""
        raise NotImplementedError

    def score_batch(self, pairs: Sequence[EncodedPair], deadline: float | None = None) -> np.ndarray:
        logits = np.full(len(pairs), np.nan, dtype=np.float32)
        by_query: dict[str, list[int]] = defaultdict(list)
        for i, pair in enumerate(pairs):
            by_query[pair.query].append(i)
        chunks = [(query, rows[k:k + self.max_batch]) for query, rows in by_query.items()
                  for k in range(0, len(rows), self.max_batch)]
        futures = [self._pool.submit(self._score_chunk, query, [pairs[i].passage for i in rows], deadline)
                   for query, rows in chunks]
        for (_query, rows), future in zip(chunks, futures, strict=True):
            logits[rows] = future.result()
        return logits

    def _score_chunk(self, query: str, texts: list[str], deadline: float | None) -> np.ndarray:
        retrying = Retrying(stop=stop_after_attempt(self.retries + 1), reraise=True,
                            wait=wait_exponential(multiplier=0.05, max=1.0),
                            retry=retry_if_exception(lambda exc: isinstance(exc, RemoteError) and exc.retriable))
        for attempt in retrying:
            with attempt:
                return self._post(query, texts, deadline)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _post(self, query: str, texts: list[str], deadline: float | None) -> np.ndarray:
        timeout = self.timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise DeadlineExceeded()
        try:
            response = self._http.request("POST", self.url, body=self.request_body(query, texts), headers=self.headers,
                                          timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise RemoteError(f"rerank server {self.url} unreachable: {type(exc).__name__}",
                              retriable=True) from exc
        if response.status != 200:
            raise RemoteError(f"rerank server {self.url} answered {response.status}: {response.data[:200]!r}",
                              retriable=response.status in RETRIED_STATUSES)
        return self.read_scores(response.data, len(texts))

    def __repr__(self) -> str:  # no headers: they may carry an API key
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r}, max_length={self.max_length})"


def scores_by_index(ranks: Any, count: int, score_key: str) -> np.ndarray:
    """`[{"index", score_key}]` in any order (a ranking) as one score per input, in input order (float64:
    a backend may still transform them, e.g. a probability near 1 into its logit)."""
    scores = np.full(count, np.nan, dtype=np.float64)
    seen = set()
    for rank in ranks:
        index = int(rank["index"])
        if not 0 <= index < count or index in seen:
            raise ValueError(f"index {index} out of range or repeated")
        seen.add(index)
        scores[index] = float(rank[score_key])
    if len(seen) != count:
        raise RemoteError(f"rerank answer has {len(seen)} scores for {count} texts")
    return scores


def remote_tokenizer(location: str, tokenizer: str | None, max_length: int | None) -> tuple[Any, int]:
    """The tokenizer passages are split with, and the tokens per pair (`max_length` or the tokenizer's)."""
    from sidecar.rerank.torch_backend import usable_max_length

    loaded = load_tokenizer(tokenizer or location)
    return loaded, max_length or usable_max_length(loaded, None)


def load_tokenizer(name: str) -> Any:
    """The model's tokenizer, or, offline with none known, MiniLM's (BERT uncased WordPiece: what
    the ms-marco MiniLM cross-encoders use), so passage splitting still counts tokens."""
    from transformers import AutoTokenizer

    from searchcore.models import ModelNotFound, load_with_fallback, resolve_model
    try:
        return load_with_fallback(name, AutoTokenizer.from_pretrained)
    except ModelNotFound:
        fallback = resolve_model("all-MiniLM-L6-v2")
        log.warning("no tokenizer for [%s]; splitting passages with %s's tokenizer", name, fallback)
        return AutoTokenizer.from_pretrained(fallback)

"""The `remote` backend: score pairs on any text-embeddings-inference-compatible `POST /rerank` server.

That is a TEI deployment on GPUs or another sidecar (which serves the same API). Passages are
still split here, with the model's tokenizer, so MaxP and the passage limits work as locally;
the server gets each query's passages in chunks of at most `max_client_batch` texts (TEI's own
default limit is 32), sent concurrently. Connection errors, 429 and 5xx answers are retried with
backoff while the request's deadline allows; anything else raises, and the caller fails open.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import urllib3
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from sidecar.rerank.base import BaseScorer, EncodedPair
from sidecar.rerank.batching import DeadlineExceeded

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class RemoteError(RuntimeError):
    """The rerank server failed or answered something that is not a TEI rerank answer."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class RemoteScorer(BaseScorer):
    backend = "remote"
    accepts_deadline = True
    batches_itself = True  # hand it a whole wave: it cuts the calls itself

    def __init__(self, url: str, name: str, tokenizer: Any, max_length: int, *, timeout_s: float = 10.0,
                 retries: int = 2, max_client_batch: int = 32, headers: dict[str, str] | None = None,
                 batch_tokens: int | None = None) -> None:
        super().__init__(name, tokenizer, max_length, batch_tokens or 1 << 30)
        self.url = url.rstrip("/") + "/rerank"
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_client_batch = max_client_batch
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._http = urllib3.PoolManager(maxsize=16, retries=False)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"remote-{name}")

    def score_batch(self, pairs: Sequence[EncodedPair], deadline: float | None = None) -> np.ndarray:
        logits = np.full(len(pairs), np.nan, dtype=np.float32)
        by_query: dict[str, list[int]] = defaultdict(list)
        for i, pair in enumerate(pairs):
            by_query[pair.query].append(i)
        chunks = [(query, rows[k:k + self.max_client_batch]) for query, rows in by_query.items()
                  for k in range(0, len(rows), self.max_client_batch)]
        futures = [self._pool.submit(self._score_chunk, query, [pairs[i].passage for i in rows], deadline)
                   for query, rows in chunks]
        for (_query, rows), future in zip(chunks, futures, strict=True):
            logits[rows] = future.result()
        return logits

    def _score_chunk(self, query: str, texts: list[str], deadline: float | None) -> np.ndarray:
        retrying = Retrying(stop=stop_after_attempt(self.retries + 1), reraise=True,
                            wait=wait_exponential(multiplier=0.05, max=1.0),
                            retry=retry_if_exception(lambda exc: getattr(exc, "retriable", False)))
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
        body = json.dumps({"query": query, "texts": texts, "raw_scores": True, "truncate": True}).encode()
        try:
            response = self._http.request("POST", self.url, body=body, headers=self.headers,
                                          timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise RemoteError(f"rerank server {self.url} unreachable: {type(exc).__name__}",
                              retriable=True) from exc
        if response.status != 200:
            raise RemoteError(f"rerank server {self.url} answered {response.status}: {response.data[:200]!r}",
                              retriable=response.status in RETRIED_STATUSES)
        return _scores(response.data, len(texts))


def _scores(payload: bytes, count: int) -> np.ndarray:
    """TEI's answer (`[{"index", "score"}]`, any order) as scores in input order."""
    try:
        ranks = json.loads(payload)
        scores = np.full(count, np.nan, dtype=np.float32)
        seen = set()
        for rank in ranks:
            index = int(rank["index"])
            if not 0 <= index < count or index in seen:
                raise ValueError(f"index {index} out of range or repeated")
            seen.add(index)
            scores[index] = float(rank["score"])
    except (ValueError, TypeError, KeyError) as exc:
        raise RemoteError(f"not a rerank answer: {exc}") from exc
    if len(seen) != count:
        raise RemoteError(f"rerank answer has {len(seen)} scores for {count} texts")
    return scores


def load_remote_scorer(location: str, name: str, *, url: str | None = None, tokenizer: str | None = None,
                       max_length: int | None = None, timeout_s: float = 10.0, retries: int = 2,
                       max_client_batch: int = 32, **_ignored: object) -> RemoteScorer:
    """A RemoteScorer for the server at `url`, splitting passages with `tokenizer` (default: the model's)."""
    if not url:
        raise ValueError(f"cross-encoder [{name}] has backend remote but no url")
    loaded = _load_tokenizer(tokenizer or location)
    from sidecar.rerank.torch_backend import usable_max_length
    length = max_length or usable_max_length(loaded, None)
    scorer = RemoteScorer(url, name, loaded, length, timeout_s=timeout_s, retries=retries,
                          max_client_batch=max_client_batch)
    log.info("cross-encoder %s served remotely by %s (max_length %d)", name, scorer.url, length)
    return scorer


def _load_tokenizer(name: str) -> Any:
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

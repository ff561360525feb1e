"""The `remote` backend: score pairs on any text-embeddings-inference-compatible `POST /rerank` server.

That is a TEI deployment on GPUs or another sidecar (which serves the same API). The server gets
each query's passages in chunks of at most `max_client_batch` texts (TEI's own default limit is
32), as raw scores; see http_backend for what all HTTP backends share.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from sidecar.rerank.http_backend import (
    HTTP_OPTIONS,
    HttpScorer,
    RemoteError,
    remote_tokenizer,
    scores_by_index,
)
from sidecar.rerank.registry import Option, at_least, register_backend

log = logging.getLogger(__name__)


class TeiScorer(HttpScorer):
    backend = "remote"

    def request_body(self, query: str, texts: list[str]) -> bytes:
        return json.dumps({"query": query, "texts": texts, "raw_scores": True, "truncate": True}).encode()

    def read_scores(self, payload: bytes, count: int) -> np.ndarray:
        """TEI's answer (`[{"index", "score"}]`, any order) as scores in input order."""
        try:
            return scores_by_index(json.loads(payload), count, "score").astype(np.float32)
        except (ValueError, TypeError, KeyError) as exc:
            raise RemoteError(f"not a rerank answer: {exc}") from exc


def load_remote_scorer(location: str, name: str, *, url: str | None = None, tokenizer: str | None = None,
                       max_length: int | None = None, timeout_s: float = 10.0, retries: int = 2,
                       max_client_batch: int = 32, **_ignored: object) -> TeiScorer:
    """A TeiScorer for the server at `url`, splitting passages with `tokenizer` (default: the model's)."""
    if not url:
        raise ValueError(f"cross-encoder [{name}] has backend remote but no url")
    loaded, length = remote_tokenizer(location, tokenizer, max_length)
    scorer = TeiScorer(url.rstrip("/") + "/rerank", name, loaded, length, timeout_s=timeout_s, retries=retries,
                       max_batch=max_client_batch)
    log.info("cross-encoder %s served remotely by %s (max_length %d)", name, scorer.url, length)
    return scorer


register_backend("remote", load_remote_scorer, remote=True, options={
    **HTTP_OPTIONS,
    "max_client_batch": Option(int, 32, check=at_least(1), rule="must be >= 1"),  # texts per call (TEI's limit)
})

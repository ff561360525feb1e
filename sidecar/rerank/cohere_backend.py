"""The `cohere` backend: score pairs on a Cohere/Jina-style `POST /v1/rerank` API (or another sidecar's).

Request `{"model", "query", "documents": [str...], "top_n"}` with `Authorization: Bearer <api_key>`;
answer `{"results": [{"index", "relevance_score"}], ...}`, sorted by score and possibly cut by
`top_n`, so scores are mapped back by index (each call asks for all of its documents). A
relevance score is a probability in [0, 1] on these APIs: it comes back as its logit, so the
sidecar's score modes see what a local cross-encoder gives (`scores: logit` takes them as they come).
"""

from __future__ import annotations

import json
import logging
from typing import Any

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

PATH = "/v1/rerank"
EPSILON = 1e-12  # a probability of exactly 0 or 1 has no finite logit (this caps it near +-27.6)


class CohereScorer(HttpScorer):
    backend = "cohere"

    def __init__(self, url: str, name: str, tokenizer: Any, max_length: int, *, model: str,
                 scores: str = "probability", **http: Any) -> None:
        super().__init__(url, name, tokenizer, max_length, **http)
        self.model = model
        self.scores = scores

    def request_body(self, query: str, texts: list[str]) -> bytes:
        return json.dumps({"model": self.model, "query": query, "documents": texts, "top_n": len(texts)}).encode()

    def read_scores(self, payload: bytes, count: int) -> np.ndarray:
        try:
            answer = json.loads(payload)
            scores = scores_by_index(answer["results"], count, "relevance_score")
        except (ValueError, TypeError, KeyError) as exc:
            raise RemoteError(f"not a /v1/rerank answer: {exc}") from exc
        if self.scores == "logit":
            return scores.astype(np.float32)
        if not np.all((scores >= 0.0) & (scores <= 1.0)):
            raise RemoteError("relevance_score outside [0, 1]: set `scores: logit` for a server that answers logits")
        clipped = np.clip(scores, EPSILON, 1.0 - EPSILON)
        return np.log(clipped / (1.0 - clipped)).astype(np.float32)


def load_cohere_scorer(location: str, name: str, *, url: str, api_key: str | None = None, model: str | None = None,
                       tokenizer: str | None = None, max_length: int | None = None, timeout_s: float = 10.0,
                       retries: int = 2, max_batch: int = 100, scores: str = "probability",
                       **_ignored: object) -> CohereScorer:
    """A CohereScorer for the API at `url` (its base: PATH is added), asking for `model` (default: the name)."""
    loaded, length = remote_tokenizer(location, tokenizer, max_length)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    scorer = CohereScorer(url.rstrip("/") + PATH, name, loaded, length, timeout_s=timeout_s, retries=retries,
                          max_batch=max_batch, headers=headers, model=model or location, scores=scores)
    log.info("cross-encoder %s served by %s as model %s (max_length %d%s)", name, scorer.url, scorer.model, length,
             ", with an API key" if api_key else "")
    return scorer


register_backend("cohere", load_cohere_scorer, remote=True, options={
    **HTTP_OPTIONS,
    "api_key": Option(str, secret=True),                   # sent as Authorization: Bearer <api_key>
    "model": Option(str),                                  # the API's model name (default: the entry's path or name)
    "max_batch": Option(int, 100, check=at_least(1), rule="must be >= 1"),  # documents per call
    "scores": Option(str, "probability", choices=("probability", "logit")),
})

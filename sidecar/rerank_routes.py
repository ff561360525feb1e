"""The model-serving routes: `POST /rerank`, compatible with text-embeddings-inference, for other sidecars and TEI clients.

Request `{"query", "texts", "raw_scores"?, "truncate"?, "return_text"?, "truncation_direction"?}`,
answer `[{"index", "score"(, "text")}]` sorted by score, best first, as TEI answers. Errors use
TEI's shape `{"error", "error_type"}` and statuses (413 Validation, 400 Empty, 422 malformed,
424 Backend, 503 Unhealthy), since TEI clients parse those. The model call goes through the
same per-process batcher as searches, so /rerank and search traffic share model calls.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from sidecar.rerank.passages import tokenizer_lock

log = logging.getLogger(__name__)

FIELDS = {"query", "texts", "raw_scores", "truncate", "return_text", "truncation_direction"}


class TeiError(Exception):
    def __init__(self, message: str, error_type: str, status: int) -> None:
        super().__init__(message)
        self.message, self.error_type, self.status = message, error_type, status


def register_rerank_routes(app: Flask) -> None:
    parts = app.extensions["rerank_sidecar"]

    @app.route("/rerank", methods=["POST"])
    def rerank() -> Response:
        g.route = "rerank"
        settings = parts["settings"]
        try:
            body = _parse(_body(settings.limits.max_body_bytes), settings.limits.max_body_bytes)
            texts = body["texts"]
            if len(texts) > settings.limits.max_passages_per_request:
                raise TeiError(f"batch size {len(texts)} > maximum allowed batch size "
                               f"{settings.limits.max_passages_per_request}", "Validation", 413)
            model = settings.rerank_endpoint_model or settings.defaults.reranker
            ranks = _rank(parts["models"], model, body)
        except TeiError as exc:
            return _answer({"error": exc.message, "error_type": exc.error_type}, exc.status)
        return _answer(ranks, 200)


def _body(limit: int) -> bytes:
    request.max_content_length = limit + 1   # a chunked body is cut off past the limit, not read whole first
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise TeiError(f"request body is larger than the limit of {limit} bytes", "Validation", 413) from None


def _parse(raw: bytes, limit: int) -> dict[str, Any]:
    if len(raw) > limit:
        raise TeiError(f"request body is larger than the limit of {limit} bytes", "Validation", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TeiError(f"Failed to parse the request body as JSON: {exc}", "Validation", 422) from None
    if not isinstance(body, dict):
        raise TeiError("the request body must be a JSON object", "Validation", 422)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise TeiError(f"unknown field `{unknown[0]}`, expected one of {sorted(FIELDS)}", "Validation", 422)
    if not isinstance(body.get("query"), str):
        raise TeiError("missing field `query` (a string)", "Validation", 422)
    texts = body.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TeiError("missing field `texts` (a list of strings)", "Validation", 422)
    if not texts:
        raise TeiError("`texts` cannot be empty", "Empty", 400)
    from sidecar.plan import (
        valid_text,  # lone surrogates (valid JSON escapes) would break the tokenizer
    )
    body["query"], body["texts"] = valid_text(body["query"]), [valid_text(t) for t in texts]
    for flag in ("raw_scores", "truncate", "return_text"):
        if not isinstance(body.get(flag, False), bool) and body.get(flag) is not None:
            raise TeiError(f"`{flag}` must be true or false", "Validation", 422)
    if body.get("truncation_direction", "Right") not in ("Right", "Left", "right", "left"):
        raise TeiError("`truncation_direction` must be Right or Left", "Validation", 422)
    return body


def _rank(models: Any, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    query, texts = body["query"], body["texts"]
    if not models.ready.is_set():
        raise TeiError("the model is still loading", "Unhealthy", 503)
    try:
        scorer = models.scorer(model)
    except Exception as exc:
        log.error("/rerank: model %s unavailable: %s", model, exc)
        raise TeiError(f"model [{model}] is unavailable", "Unhealthy", 503) from None
    if not body.get("truncate"):
        _refuse_long_inputs(scorer, query, texts)
    try:
        logits = scorer.score_pairs(query, texts)
    except Exception:
        log.exception("/rerank: model %s failed", model)
        raise TeiError("the model failed to score the texts", "Backend", 424) from None
    if not all(math.isfinite(float(x)) for x in logits):
        raise TeiError("the model returned non-finite scores", "Backend", 424)
    raw = bool(body.get("raw_scores"))
    ranks = [{"index": i, "score": float(x) if raw else _sigmoid(float(x))} for i, x in enumerate(logits)]
    if body.get("return_text"):
        for rank in ranks:
            rank["text"] = texts[rank["index"]]
    ranks.sort(key=lambda rank: -rank["score"])
    return ranks


def _refuse_long_inputs(scorer: Any, query: str, texts: list[str]) -> None:
    """As TEI without `truncate`: a pair longer than the model takes is an error, not silently cut."""
    with tokenizer_lock(scorer.tokenizer):
        encoded = scorer.tokenizer([query] * len(texts), texts, truncation=False)["input_ids"]
    for ids in encoded:
        if len(ids) > scorer.max_length:
            raise TeiError(f"Input validation error: `inputs` must have less than {scorer.max_length} tokens. "
                           f"Given: {len(ids)}", "Validation", 413)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _answer(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")

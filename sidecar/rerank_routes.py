"""The model-serving routes: this process's cross-encoder for other sidecars, TEI clients and Cohere/Jina clients.

`POST /rerank` is text-embeddings-inference's API: request `{"query", "texts", "raw_scores"?,
"truncate"?, "return_text"?, "truncation_direction"?}`, answer `[{"index", "score"(, "text")}]`
sorted by score, best first, as TEI answers. Its errors use TEI's shape `{"error", "error_type"}`
and statuses (413 Validation, 400 Empty, 422 malformed, 424 Backend, 503 Unhealthy), since TEI
clients parse those.

`POST /v1/rerank` is the Cohere/Jina-style API: request `{"query", "documents": [str...],
"top_n"?, "model"?, "return_documents"?}`, answer `{"model", "results": [{"index",
"relevance_score"(, "document": {"text"})}]}` sorted by score and cut to `top_n`; the score is the
logit's sigmoid (a probability, as those APIs give), written in at most 18 characters so that
OpenSearch's ml-commons can read it (`rerank-sidecar connect`). Documents longer than the model takes are
truncated. Its errors are OpenSearch's error body, as everywhere else on the sidecar.

Both go through the same auth and limits as searches, and their model calls through the same
per-process batcher, so they share model calls with search traffic.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from searchcore.bodies import parse_json_body
from searchcore.errors import IllegalArgument, SearchError
from sidecar.plan import valid_text
from sidecar.rerank.passages import tokenizer_lock
from sidecar.routes import raise_body_too_large
from sidecar.services import services_of

log = logging.getLogger(__name__)

FIELDS = {"query", "texts", "raw_scores", "truncate", "return_text", "truncation_direction"}
MODEL_PATHS = ("/rerank", "/v1/rerank")   # answered here, never forwarded: auth takes a bearer API key on them
V1_FIELDS = {"query", "documents", "top_n", "model", "return_documents"}
# how /v1/rerank answers what the shared steps raise in TEI's terms
V1_ERRORS = {"Unhealthy": (503, "model_unavailable_exception"), "Backend": (500, "model_exception")}


class TeiError(Exception):
    """A model-serving request failed: TEI's error type and status (/v1/rerank renders it OpenSearch's way)."""

    def __init__(self, message: str, error_type: str, status: int) -> None:
        super().__init__(message)
        self.message, self.error_type, self.status = message, error_type, status


def register_rerank_routes(app: Flask) -> None:
    services = services_of(app)

    @app.route("/rerank", methods=["POST"])
    def rerank() -> Response:
        g.route = "rerank"
        settings = services.settings
        try:
            body = _parse(_body(settings.limits.max_body_bytes), settings.limits.max_body_bytes)
            texts = body["texts"]
            if len(texts) > settings.limits.max_passages_per_request:
                raise TeiError(f"batch size {len(texts)} > maximum allowed batch size "
                               f"{settings.limits.max_passages_per_request}", "Validation", 413)
            model = settings.rerank_endpoint_model or settings.defaults.reranker
            ranks = _rank(services.models, model, body)
        except TeiError as exc:
            return _answer({"error": exc.message, "error_type": exc.error_type}, exc.status)
        return _answer(ranks, 200)

    @app.route("/v1/rerank", methods=["POST"])
    def rerank_v1() -> Response:
        g.route = "v1_rerank"
        settings = services.settings
        model = settings.rerank_endpoint_model or settings.defaults.reranker
        try:
            body = _parse_v1(_body_v1(settings.limits.max_body_bytes), settings.limits.max_passages_per_request)
            logits = _logits(services.models, model, body["query"], body["documents"], truncate=True)
        except TeiError as exc:
            status, error_type = V1_ERRORS.get(exc.error_type, (exc.status, "illegal_argument_exception"))
            error = SearchError(exc.message, status=status, error_type=error_type)
            return _answer(error.body(), error.status)
        except SearchError as exc:
            return _answer(exc.body(), exc.status)
        results = sorted(({"index": i, "relevance_score": short_json_float(_sigmoid(float(x)))}
                          for i, x in enumerate(logits)),
                         key=lambda result: -result["relevance_score"])[:body.get("top_n") or len(logits)]
        if body.get("return_documents"):
            for result in results:
                result["document"] = {"text": body["documents"][result["index"]]}
        return _answer({"model": model, "results": results}, 200)


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
    texts = body["texts"]
    logits = _logits(models, model, body["query"], texts, truncate=bool(body.get("truncate")))
    raw = bool(body.get("raw_scores"))
    ranks = [{"index": i, "score": float(x) if raw else _sigmoid(float(x))} for i, x in enumerate(logits)]
    if body.get("return_text"):
        for rank in ranks:
            rank["text"] = texts[rank["index"]]
    ranks.sort(key=lambda rank: -rank["score"])
    return ranks


def _logits(models: Any, model: str, query: str, texts: list[str], *, truncate: bool) -> Any:
    """One logit per text, from the model behind this process's batcher; TeiError when it cannot."""
    if not models.ready.is_set():
        raise TeiError("the model is still loading", "Unhealthy", 503)
    try:
        scorer = models.scorer(model)
    except Exception as exc:
        log.error("/rerank: model %s unavailable: %s", model, exc)
        raise TeiError(f"model [{model}] is unavailable", "Unhealthy", 503) from None
    if not truncate:
        _refuse_long_inputs(scorer, query, texts)
    try:
        logits = scorer.score_pairs(query, texts)
    except Exception:
        log.exception("/rerank: model %s failed", model)
        raise TeiError("the model failed to score the texts", "Backend", 424) from None
    if not all(math.isfinite(float(x)) for x in logits):
        raise TeiError("the model returned non-finite scores", "Backend", 424)
    return logits


def _body_v1(limit: int) -> bytes:
    """The body within the sidecar's limit, or the 413 a search would get."""
    if request.content_length is not None and request.content_length > limit:
        raise_body_too_large(limit)
    request.max_content_length = limit + 1   # a chunked body is cut off past the limit, not read whole first
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise_body_too_large(limit)
    if len(raw) > limit:
        raise_body_too_large(limit)
    return raw


def _parse_v1(raw: bytes, max_documents: int) -> dict[str, Any]:
    """A /v1/rerank request, checked; IllegalArgument (400) naming the field otherwise."""
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise IllegalArgument("the request body must be a JSON object")
    unknown = sorted(set(body) - V1_FIELDS)
    if unknown:
        raise IllegalArgument(f"unknown field [{unknown[0]}]; expected one of {sorted(V1_FIELDS)}")
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        raise IllegalArgument("[query] is required: a non-empty string")
    documents = body.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise IllegalArgument("[documents] is required: a list of strings")
    if not documents:
        raise IllegalArgument("[documents] cannot be empty")
    if len(documents) > max_documents:
        raise IllegalArgument(f"[documents] holds {len(documents)} documents; the limit is {max_documents} "
                              "(limits.max_passages_per_request)")
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise IllegalArgument(f"[top_n] must be a positive integer, got [{json.dumps(top_n)}]")
    if not isinstance(body.get("model", ""), str):
        raise IllegalArgument("[model] must be a string")
    if not isinstance(body.get("return_documents", False), bool):
        raise IllegalArgument("[return_documents] must be true or false")
    # lone surrogates (valid JSON escapes) would break the tokenizer
    body["query"], body["documents"] = valid_text(body["query"]), [valid_text(d) for d in documents]
    return body


def _refuse_long_inputs(scorer: Any, query: str, texts: list[str]) -> None:
    """As TEI without `truncate`: a pair longer than the model takes is an error, not silently cut."""
    with tokenizer_lock(scorer.tokenizer):
        encoded = scorer.tokenizer([query] * len(texts), texts, truncation=False)["input_ids"]
    for ids in encoded:
        if len(ids) > scorer.max_length:
            raise TeiError(f"Input validation error: `inputs` must have less than {scorer.max_length} tokens. "
                           f"Given: {len(ids)}", "Validation", 413)


# ml-commons reads a connector's answer with json-smart, which turns a number written with more than 18 characters
# into a BigDecimal, and its Cohere post-process casts every relevance_score to Double: one long score fails the
# whole rerank (ClassCastException). Python writes up to 17 significant digits ("0.48253420504407630" is 19), so
# /v1/rerank writes each score in at most 18 characters (docs/plugin-style.md).
JSON_SMART_MAX_DOUBLE_CHARS = 18


def short_json_float(x: float) -> float:
    """`x` with the fewest digits dropped for its JSON text to fit in 18 characters (16 significant digits
    for a probability from 0.1 up: far below what a score can mean)."""
    digits = 17
    value = x
    while len(repr(value)) > JSON_SMART_MAX_DOUBLE_CHARS and digits > 1:
        digits -= 1
        value = float(f"{x:.{digits}g}")
    return value


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _answer(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")

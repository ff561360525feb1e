"""Thin views: searches go to the pipeline, `/-/*` and `/metrics` answer here, everything else is proxied."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from searchcore.bodies import json_bytes
from searchcore.errors import IllegalArgument, SearchError
from sidecar.elastic_compat import (
    add_product_header,
    answer_content_type,
    refused_by_the_node,
    upstream_report,
)
from sidecar.logs import log_request, request_id
from sidecar.metrics import render_metrics
from sidecar.pipeline import Outcome, error_outcome
from sidecar.services import SidecarServices, services_of

log = logging.getLogger(__name__)
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
JSON_TYPE = "application/json; charset=UTF-8"


def register_routes(app: Flask) -> None:
    services = services_of(app)

    @app.before_request
    def _start() -> Response | None:
        g.started = time.monotonic()
        g.request_id = request_id(request.headers)
        g.route, g.metrics_index, g.rerank_status, g.stages = "passthrough", "_none", None, {}
        if not request.path.startswith("/-/") and request.path != "/metrics":
            services.metrics.in_flight.inc()
            g.counted = True
            if refused_by_the_node(request.headers, services.flavour):
                g.rerank_status = "passthrough"
                return _forward_request(None)   # the node's own refusal, as the client would get it there
        return None

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.request_id
        if "X-Opaque-Id" not in response.headers:   # as OpenSearch does (a passed-through answer has it)
            response.headers["X-Opaque-Id"] = g.request_id
        if g.rerank_status:
            response.headers["X-Rerank-Status"] = g.rerank_status
        if getattr(g, "cache_status", None):   # the shared cache did not answer: computed without it
            response.headers["X-Rerank-Cache"] = g.cache_status
        add_product_header(response, services.flavour)
        if getattr(g, "counted", False):
            services.metrics.in_flight.dec()
            g.counted = False
            services.metrics.requests.labels(g.route, g.metrics_index, str(response.status_code)).inc()
            elapsed = time.monotonic() - g.started
            if g.route in ("search", "msearch"):
                services.metrics.stage_seconds.labels("total").observe(elapsed)
            log_request(log, {"request_id": g.request_id, "method": request.method, "path": request.path,
                              "status": response.status_code, "route": g.route, "index": g.metrics_index,
                              "rerank": g.rerank_status or "-", "took_ms": round(elapsed * 1000, 3),
                              "stages_ms": {k: round(v * 1000, 3) for k, v in g.stages.items()}})
        return response

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        if getattr(g, "counted", False):  # the response never went out
            services.metrics.in_flight.dec()
            g.counted = False

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        """werkzeug's own errors (413, 405...) in OpenSearch's format, never HTML."""
        error_type = {413: "content_too_long_exception", 405: "method_not_allowed"}.get(exc.code or 500, "exception")
        return _json(SearchError(exc.description or exc.name, status=exc.code or 500, error_type=error_type).body(),
                     exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("request_id=%s unhandled error", getattr(g, "request_id", "-"))
        error = SearchError("internal error in the sidecar", status=500)
        return _json(error.body(), 500)

    @app.route("/-/healthy", methods=["GET", "HEAD"])
    def healthy() -> Response:
        return _json({"status": "ok"})

    @app.route("/-/ready", methods=["GET", "HEAD"])
    def ready() -> Response:
        models = services.models
        problems = dict(models.errors)
        if not models.ready.is_set():
            problems["models"] = "still loading"
        if not services.upstream.ping():
            problems["upstream"] = "the cluster does not answer"
        # an index the sidecar cannot rerank is passed through (fail-open) and named here, but it does not take
        # the pod out of service: one bad index must not make every replica unready
        indices = {k: v for k, v in services.profiles.problems.items()}
        status = 200 if not problems else 503
        answer = {"ready": not problems, "problems": problems, "index_problems": indices,
                  "upstream": upstream_report(services.flavour)}
        sizing = getattr(models, "sizing", None)
        if sizing is not None:   # the measured cross-encoder speeds and the window each profile reranks
            answer["rerank"] = sizing.report()
        return _json(answer, status)

    @app.route("/metrics", methods=["GET"])
    def metrics() -> Response:
        services.metrics.upstream_up.set(1 if services.upstream.ping() else 0)
        payload, content_type = render_metrics()
        return Response(payload, content_type=content_type)

    @app.route("/<index>/_search", methods=["GET", "POST"])
    def search(index: str) -> Response:
        g.route = "search"
        try:
            raw = _search_body(services)
        except SearchError as exc:
            return _outcome(error_outcome(exc))
        return _outcome(services.pipeline.answer(index, raw, request.args, _upstream_headers(request.headers),
                                                 g.request_id))

    @app.route("/_msearch", methods=["GET", "POST"])
    @app.route("/<index>/_msearch", methods=["GET", "POST"])
    def msearch(index: str | None = None) -> Response:
        g.route = "msearch"
        try:
            return _msearch(services, index)
        except SearchError as exc:
            g.rerank_status = "error"
            return _json(exc.body(), exc.status)

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS)
    @app.route("/<path:path>", methods=ALL_METHODS)
    def passthrough(path: str) -> Response:
        return _forward_request(None)


def _search_body(services: SidecarServices) -> bytes:
    limit = services.settings.limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise_body_too_large(limit)
    request.max_content_length = limit + 1   # a chunked body is cut off past the limit too, not read whole first
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise_body_too_large(limit)
    except Exception as exc:   # the server could not read the body: bad chunked framing, a client gone
        raise IllegalArgument(f"the request body could not be read: {type(exc).__name__}") from None
    if len(data) > limit:
        raise_body_too_large(limit)
    return data


def raise_body_too_large(limit: int) -> None:
    raise SearchError(f"request body is larger than the sidecar's limit of [{limit}] bytes", status=413,
                      error_type="content_too_long_exception")


def _outcome(outcome: Outcome) -> Response:
    g.metrics_index = outcome.metrics_index
    g.rerank_status = outcome.rerank_status
    g.cache_status = outcome.cache
    g.stages = outcome.stages
    if outcome.forward:
        return _forward_request(outcome.forward_body)
    return _json(outcome.body, outcome.status)


def _forward_request(body: bytes | None) -> Response:
    from sidecar.proxy import forward
    return forward(services_of().upstream, request, body=body, extra_headers=_opaque_id())


def _opaque_id() -> dict[str, str]:
    """OpenSearch logs X-Opaque-Id: a slow request can be followed across the sidecar and the cluster."""
    return {} if "X-Opaque-Id" in request.headers else {"X-Opaque-Id": g.request_id}


def _upstream_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers for the sidecar's own upstream calls (credentials unchanged, hop-by-hop dropped)."""
    from sidecar.proxy import forwardable_headers
    from sidecar.window_cache import SIDECAR_CALLER_ENVIRON, CallerHeaders
    out = CallerHeaders({k: v for k, v in forwardable_headers(headers).items() if k.lower() != "content-type"},
                        sidecar_caller=request.environ.get(SIDECAR_CALLER_ENVIRON, ""))
    out.update(_opaque_id())
    return out


def _msearch(services: SidecarServices, index: str | None) -> Response:
    answer = services.pipeline.msearch(index, _search_body(services), request.args, _upstream_headers(request.headers),
                                       g.request_id)
    g.rerank_status = ",".join(answer.statuses)
    g.cache_status = services.pipeline.shared_cache_status()
    if answer.forward:
        return _forward_request(None)
    g.stages.update(answer.stages)
    return _json(answer.body)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json_bytes(body), status=status, content_type=answer_content_type(request.headers, JSON_TYPE))

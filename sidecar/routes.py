"""Thin views: searches go to the pipeline, `/-/*` and `/metrics` answer here, everything else is proxied."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from searchcore.bodies import parse_ndjson_pairs
from searchcore.errors import IllegalArgument, SearchError
from sidecar.logs import log_request, request_id
from sidecar.metrics import count_search_outcome, render_metrics
from sidecar.pipeline import Outcome, error_outcome

log = logging.getLogger(__name__)
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
JSON_TYPE = "application/json; charset=UTF-8"


def register_routes(app: Flask) -> None:
    parts = app.extensions["rerank_sidecar"]

    @app.before_request
    def _start() -> None:
        g.started = time.monotonic()
        g.request_id = request_id(request.headers)
        g.route, g.label, g.rerank_status, g.stages = "passthrough", "_none", None, {}
        if not request.path.startswith("/-/") and request.path != "/metrics":
            parts["metrics"].in_flight.inc()
            g.counted = True

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.request_id
        if "X-Opaque-Id" not in response.headers:   # as OpenSearch does (a passed-through answer has it)
            response.headers["X-Opaque-Id"] = g.request_id
        if g.rerank_status:
            response.headers["X-Rerank-Status"] = g.rerank_status
        if getattr(g, "counted", False):
            parts["metrics"].in_flight.dec()
            g.counted = False
            parts["metrics"].requests.labels(g.route, g.label, str(response.status_code)).inc()
            elapsed = time.monotonic() - g.started
            if g.route in ("search", "msearch"):
                parts["metrics"].stage_seconds.labels("total").observe(elapsed)
            log_request(log, {"request_id": g.request_id, "method": request.method, "path": request.path,
                              "status": response.status_code, "route": g.route, "index": g.label,
                              "rerank": g.rerank_status or "-", "took_ms": round(elapsed * 1000, 3),
                              "stages_ms": {k: round(v * 1000, 3) for k, v in g.stages.items()}})
        return response

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        if getattr(g, "counted", False):  # the response never went out
            parts["metrics"].in_flight.dec()
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
        models = parts["models"]
        problems = dict(models.errors)
        if not models.ready.is_set():
            problems["models"] = "still loading"
        if not parts["upstream"].ping():
            problems["upstream"] = "the cluster does not answer"
        # an index the sidecar cannot rerank is passed through (fail-open) and named here, but it does not take
        # the pod out of service: one bad index must not make every replica unready
        indices = {k: v for k, v in parts["profiles"].problems.items()}
        status = 200 if not problems else 503
        return _json({"ready": not problems, "problems": problems, "index_problems": indices}, status)

    @app.route("/metrics", methods=["GET"])
    def metrics() -> Response:
        parts["metrics"].upstream_up.set(1 if parts["upstream"].ping() else 0)
        payload, content_type = render_metrics()
        return Response(payload, content_type=content_type)

    @app.route("/<index>/_search", methods=["GET", "POST"])
    def search(index: str) -> Response:
        g.route = "search"
        try:
            raw = _search_body(parts)
        except SearchError as exc:
            return _outcome(error_outcome(exc))
        return _outcome(_run_search(parts, index, raw, request.args, _upstream_headers(request.headers), g.request_id))

    @app.route("/_msearch", methods=["GET", "POST"])
    @app.route("/<index>/_msearch", methods=["GET", "POST"])
    def msearch(index: str | None = None) -> Response:
        g.route = "msearch"
        try:
            return _msearch(parts, index)
        except SearchError as exc:
            g.rerank_status = "error"
            return _json(exc.body(), exc.status)

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS)
    @app.route("/<path:path>", methods=ALL_METHODS)
    def passthrough(path: str) -> Response:
        return _forward_request(None)


def _search_body(parts: dict[str, Any]) -> bytes:
    limit = parts["settings"].limits.max_body_bytes
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


def _run_search(parts: dict[str, Any], index: str, raw: bytes, params: Mapping[str, str],
                upstream_headers: Mapping[str, str], request_id: str) -> Outcome:
    """One search through the pipeline; runs in _msearch's threads too, so it reads no request context."""
    try:
        outcome = parts["pipeline"].search(index, raw, dict(params), upstream_headers)
    except SearchError as exc:
        outcome = error_outcome(exc)
    except Exception:  # never a trace: log it, answer OpenSearch-style
        log.exception("request_id=%s search failed", request_id)
        outcome = error_outcome(SearchError("internal error in the sidecar", status=500))
    for stage, seconds in outcome.stages.items():
        if stage != "total":
            parts["metrics"].stage_seconds.labels(stage).observe(seconds)
    count_search_outcome(parts["metrics"], outcome.rerank_status)
    return outcome


def _outcome(outcome: Outcome) -> Response:
    g.label = outcome.label
    g.rerank_status = outcome.rerank_status
    g.stages = outcome.stages
    if outcome.forward:
        return _forward_request(outcome.forward_body)
    return _json(outcome.body, outcome.status)


def _forward_request(body: bytes | None) -> Response:
    from flask import current_app

    from sidecar.proxy import forward
    parts = current_app.extensions["rerank_sidecar"]
    return forward(parts["upstream"], request, body=body, extra_headers=_opaque_id())


def _opaque_id() -> dict[str, str]:
    """OpenSearch logs X-Opaque-Id: a slow request can be followed across the sidecar and the cluster."""
    return {} if "X-Opaque-Id" in request.headers else {"X-Opaque-Id": g.request_id}


def _upstream_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers for the sidecar's own upstream calls (credentials unchanged, hop-by-hop dropped)."""
    from sidecar.proxy import forwardable_headers
    out = {k: v for k, v in forwardable_headers(headers).items() if k.lower() != "content-type"}
    out.update(_opaque_id())
    return out


# ---- _msearch -------------------------------------------------------------------------------

def _msearch(parts: dict[str, Any], index: str | None) -> Response:
    started = time.monotonic()
    items = parse_msearch(_search_body(parts), parts["settings"].limits.max_msearch_items)
    shared = {k: v for k, v in request.args.items()}
    headers = _upstream_headers(request.headers)
    request_id = g.request_id
    results: list[dict[str, Any] | None] = [None] * len(items)
    passthrough: list[int] = []
    forward_bodies: dict[int, Any] = {}

    def run(i: int) -> tuple[int, Outcome]:
        header, body = items[i]
        target = header.get("index", index)
        if isinstance(target, list):
            target = ",".join(target)
        if not target:
            return i, Outcome(forward=True)
        params = {**shared, **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in header.items()
                               if k != "index"}}
        return i, _run_search(parts, target, json.dumps(body).encode(), params, headers, request_id)

    statuses = ["passthrough"] * len(items)
    with ThreadPoolExecutor(max_workers=parts["settings"].msearch_concurrency) as pool:
        for i, outcome in pool.map(run, range(len(items))):
            statuses[i] = outcome.rerank_status
            for stage, seconds in outcome.stages.items():   # the request's log line: summed over items
                if stage != "total":
                    g.stages[stage] = g.stages.get(stage, 0.0) + seconds
            if outcome.forward:
                passthrough.append(i)
                forward_bodies[i] = json.loads(outcome.forward_body) if outcome.forward_body else items[i][1]
            else:
                item = outcome.body if isinstance(outcome.body, dict) else {}
                item = {**item, "status": outcome.status}
                results[i] = item
    if passthrough:
        answered = _forward_msearch(parts, index, [(items[i][0], forward_bodies[i]) for i in passthrough], shared,
                                    headers)
        for i, item in zip(passthrough, answered, strict=True):
            results[i] = item
    g.rerank_status = ",".join(statuses)
    return _json({"took": int((time.monotonic() - started) * 1000), "responses": results})


def parse_msearch(raw: bytes, max_items: int) -> list[tuple[dict[str, Any], Any]]:
    items = parse_ndjson_pairs(raw)
    if len(items) > max_items:
        raise IllegalArgument(f"msearch has {len(items)} searches, more than the sidecar's limit of [{max_items}]")
    return items


def _forward_msearch(parts: dict[str, Any], index: str | None, items: list[tuple[dict[str, Any], Any]],
                     params: Mapping[str, str], headers: Mapping[str, str]) -> list[dict[str, Any]]:
    from urllib.parse import urlencode

    from sidecar.retrieve import index_path
    payload = "".join(json.dumps(h) + "\n" + json.dumps(b) + "\n" for h, b in items).encode()
    path = (index_path(index) if index else "") + "/_msearch"
    if params:
        path += "?" + urlencode(dict(params))
    upstream_headers = {**headers, "Content-Type": "application/x-ndjson"}
    status, answer = parts["upstream"].json("POST", path, payload, upstream_headers)
    if status >= 300 or not isinstance(answer, dict) or len(answer.get("responses", [])) != len(items):
        error = answer if isinstance(answer, dict) and "error" in answer else {
            "error": {"root_cause": [], "type": "upstream_exception", "reason": "unexpected _msearch answer"},
            "status": status}
        return [error for _ in items]
    return answer["responses"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_TYPE)

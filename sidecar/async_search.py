"""Elasticsearch's async search, as Kibana's Discover sends it: a reranked submission is answered complete by the
sidecar in the async-search envelope (and kept under an id when asked); everything else goes to the cluster.

`POST /{index}/_async_search` runs through the same pipeline as `_search` (the planner decides), with the
async-only parameters set aside. Not reranked: the request goes to the cluster as sent. The sidecar waits for
its answer whatever `wait_for_completion_timeout` says, so its answers are never partial or running.
`GET`/`DELETE /_async_search/{id}` and `GET /_async_search/status/{id}` answer ids the sidecar made (they decode
to `ID_PREFIX`); any other id is the cluster's.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Flask, Response, g, request

from searchcore.errors import SearchError
from sidecar.async_results import AsyncResultStore, KeptResult, now_ms
from sidecar.routes import _forward_request, _search_body, _upstream_headers
from sidecar.routes import _json as _plain_json
from sidecar.services import services_of
from sidecar.window_cache import caller_identity

ID_PREFIX = b"rerank-sidecar:"
# the submit's own parameters: how long to wait and whether and how long to keep the result
ASYNC_PARAMS = ("wait_for_completion_timeout", "keep_on_completion", "keep_alive")
# execution tuning `_search` takes too; the answer is the same without them (Kibana sends the first two always)
TUNING_PARAMS = ("batched_reduce_size", "ccs_minimize_roundtrips", "max_concurrent_shard_requests",
                 "pre_filter_shard_size")
DEFAULT_KEEP_ALIVE_MS = 5 * 24 * 3600 * 1000   # Elasticsearch's default keep_alive: 5d
# body keys only Elasticsearch reads, which Kibana sends: async search is Elasticsearch's API, so the cluster reads
# them (stage 1 sends them on); on `_search` they pass through until the sidecar knows which cluster it fronts
ELASTICSEARCH_BODY_KEYS = frozenset({"runtime_mappings"})
_TIME_UNITS_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TIME_VALUE = re.compile(r"(\d+)(nanos|micros|ms|s|m|h|d)")
_BOOLEANS = {"true": True, "": True, "false": False}
# Elasticsearch's clients (elasticsearch-js's transport, which Kibana uses, and elasticsearch-py) refuse a 2xx
# answer without it; only they call this Elasticsearch-only API, so the sidecar's own answers here carry it
PRODUCT_HEADER = ("X-Elastic-Product", "Elasticsearch")


def register_async_search_routes(app: Flask, store: AsyncResultStore | None = None) -> None:
    store = store or AsyncResultStore.from_environment()

    @app.route("/<index>/_async_search", methods=["POST"])
    def async_search_submit(index: str) -> Response:
        return _submit(index, store)

    @app.route("/_async_search/<async_id>", methods=["GET", "DELETE"])
    def async_search_result(async_id: str) -> Response:
        if not is_sidecar_id(async_id):
            return _forward_request(None)
        g.route = "async_search"
        if request.method == "DELETE":
            kept = _kept(store, async_id)
            if isinstance(kept, Response):
                return kept
            store.delete(async_id)
            return _json({"acknowledged": True})
        return _read(store, async_id, lambda kept: envelope(kept, async_id))

    @app.route("/_async_search/status/<async_id>", methods=["GET"])
    def async_search_status(async_id: str) -> Response:
        if not is_sidecar_id(async_id):
            return _forward_request(None)
        g.route = "async_search"
        return _read(store, async_id, lambda kept: status_body(kept, async_id))


def _submit(index: str, store: AsyncResultStore) -> Response:
    params = request.args.to_dict()
    options = submit_options(params)
    if options is None:   # parameters the sidecar cannot read as the cluster would: the cluster answers
        return _forward_request(None)
    keep, keep_alive_ms = options
    g.route = "async_search"
    started = now_ms()
    try:
        raw = _search_body(services_of())
    except SearchError as exc:
        g.rerank_status = "error"
        return _json(exc.body(), exc.status)
    search_params = {k: v for k, v in params.items() if k not in ASYNC_PARAMS and k not in TUNING_PARAMS}
    outcome = services_of().pipeline.answer(index, raw, search_params, _upstream_headers(request.headers),
                                            g.request_id, ELASTICSEARCH_BODY_KEYS)
    g.metrics_index, g.rerank_status, g.stages = outcome.metrics_index, outcome.rerank_status, outcome.stages
    if outcome.forward:
        return _forward_request(outcome.forward_body)
    if outcome.status >= 300:   # as a search that fails at once: the error, not an envelope
        return _json(outcome.body, outcome.status)
    kept = KeptResult(caller_identity(_upstream_headers(request.headers)), started, now_ms(), started + keep_alive_ms,
                      outcome.status, outcome.body)
    async_id = None
    if keep:
        async_id = new_id()
        store.put(async_id, kept)
    return _json(envelope(kept, async_id))


def submit_options(params: Mapping[str, str]) -> tuple[bool, int] | None:
    """(keep_on_completion, keep_alive in ms), or None when a value is not one the cluster would take as given."""
    keep = _BOOLEANS.get(params.get("keep_on_completion", "false"))
    keep_alive = parse_time_ms(params["keep_alive"]) if "keep_alive" in params else DEFAULT_KEEP_ALIVE_MS
    wait = params.get("wait_for_completion_timeout")
    if keep is None or keep_alive is None or keep_alive < 1000 or (wait is not None and parse_time_ms(wait) is None):
        return None
    for name in TUNING_PARAMS:
        value = params.get(name)
        if value is not None and not (value.isdigit() or value in _BOOLEANS):
            return None
    return keep, keep_alive


def parse_time_ms(text: str) -> int | None:
    """An Elasticsearch time value (`100ms`, `1m`, `5d`) in milliseconds; None when it is not one."""
    match = _TIME_VALUE.fullmatch(text.strip())
    if not match:
        return None
    return int(int(match.group(1)) * _TIME_UNITS_MS[match.group(2)])


def new_id() -> str:
    """Base64url like the cluster's ids (Kibana passes them on as they are), recognisably the sidecar's."""
    return base64.urlsafe_b64encode(ID_PREFIX + secrets.token_bytes(18)).decode().rstrip("=")


def is_sidecar_id(async_id: str) -> bool:
    try:
        decoded = base64.urlsafe_b64decode(async_id + "=" * (-len(async_id) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.startswith(ID_PREFIX)


def envelope(kept: KeptResult, async_id: str | None) -> dict[str, Any]:
    """Elasticsearch's AsyncSearchResponse for a completed search; `id` only when the result is kept."""
    body: dict[str, Any] = {"id": async_id} if async_id else {}
    body.update({"is_partial": False, "is_running": False, "start_time_in_millis": kept.start_ms,
                 "expiration_time_in_millis": kept.expiration_ms, "completion_time_in_millis": kept.completion_ms,
                 "response": kept.response})
    return body


def status_body(kept: KeptResult, async_id: str) -> dict[str, Any]:
    """Elasticsearch's AsyncStatusResponse for a completed search."""
    body: dict[str, Any] = {"id": async_id, "is_running": False, "is_partial": False,
                            "start_time_in_millis": kept.start_ms, "expiration_time_in_millis": kept.expiration_ms,
                            "completion_time_in_millis": kept.completion_ms}
    shards = kept.response.get("_shards")
    if isinstance(shards, dict):
        body["_shards"] = shards
    body["completion_status"] = kept.status
    return body


def _json(body: Any, status: int = 200) -> Response:
    response = _plain_json(body, status)
    response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]
    return response


def _read(store: AsyncResultStore, async_id: str, render: Any) -> Response:
    """GET a kept result or its status; `keep_alive` extends it from now, as the cluster does."""
    kept = _kept(store, async_id)
    if isinstance(kept, Response):
        return kept
    if "keep_alive" in request.args:
        keep_alive = parse_time_ms(request.args["keep_alive"])
        if keep_alive is None:
            error = SearchError(f"failed to parse setting [keep_alive] with value [{request.args['keep_alive']}] "
                                "as a time value: unit is missing or unrecognized", status=400,
                                error_type="illegal_argument_exception")
            return _json(error.body(), 400)
        kept = replace(kept, expiration_ms=now_ms() + keep_alive)
        store.put(async_id, kept)
    return _json(render(kept))


def _kept(store: AsyncResultStore, async_id: str) -> KeptResult | Response:
    """The caller's own kept result, or the cluster's 404 for an id it does not know (expired, deleted, another
    caller's: an id never shows what another caller searched)."""
    kept = store.get(async_id)
    if kept is None or kept.caller != caller_identity(_upstream_headers(request.headers)):
        error = SearchError(async_id, status=404, error_type="resource_not_found_exception")
        return _json(error.body(), 404)
    return kept

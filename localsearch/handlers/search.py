"""Search endpoints: `_search`, `_msearch`, `_count` and scrolls."""

from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Request

from localsearch import execute
from localsearch.failures import XContentParseError
from localsearch.handlers.api import Api, malformed_request_is_400
from localsearch.search import parse_request
from searchcore.bodies import parse_ndjson_pairs
from searchcore.errors import ParsingError, SearchError


def search(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    params = api.params(request)
    body = api.json(request)
    with malformed_request_is_400("search request"):
        req = parse_request(body, params)
        targets = api.targets(request, index)
        if req.scroll is not None:
            found = execute.collect(api.engine, targets, req, 0)
            return 200, api.engine.scrolls.open(targets, req, found.hits, found.total, found.max_score)
        return 200, execute.search(api.engine, targets, req)


def msearch(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    started = time.monotonic()
    shared = api.params(request)
    items: list[tuple[str | None, Any]] = []
    # every item's body is parsed first, as OpenSearch's REST layer does: one that does not parse fails
    # the whole request; what goes wrong later is that item's own error
    for header, body in parse_ndjson_pairs(api.raw(request)):
        params = {**{k: v for k, v in shared.items() if k in ("rest_total_hits_as_int", "search_pipeline")},
                  **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in header.items()
                     if k not in ("index",)}}
        target = header.get("index", index)
        try:
            with malformed_request_is_400("search request"):
                items.append((",".join(target) if isinstance(target, list) else target,
                              parse_request(body, params)))
        except (ParsingError, XContentParseError):
            raise
        except SearchError as exc:
            items.append((None, exc))
    responses = [_msearch_item(api, target, req) for target, req in items]
    return 200, {"took": int((time.monotonic() - started) * 1000), "responses": responses}


def _msearch_item(api: Api, target: str | None, req: Any) -> dict[str, Any]:
    if isinstance(req, SearchError):
        return req.body()
    try:
        with malformed_request_is_400("search request"):
            targets = api.engine.resolve(target, ignore_unavailable=req.ignore_unavailable)
            item = execute.search(api.engine, targets, req)
    except SearchError as exc:
        return exc.body()
    item["status"] = 200
    return item


def count(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    body = api.json(request, malformed="count")
    with malformed_request_is_400("count request"):
        return 200, execute.count(api.engine, api.targets(request, index), body, api.params(request))


def scroll(api: Api, request: Request, scroll_id: str | None = None) -> tuple[int, Any]:
    body = api.json(request, malformed="scroll") or {}
    params = api.params(request)
    scroll_id = body.get("scroll_id") or params.get("scroll_id") or scroll_id
    if not scroll_id:
        raise SearchError("Validation Failed: 1: scrollId is missing;", status=400,
                          error_type="action_request_validation_exception")
    return 200, api.engine.scrolls.next(scroll_id, body.get("scroll") or params.get("scroll"))


def clear_scroll(api: Api, request: Request, scroll_id: str | None = None) -> tuple[int, Any]:
    body = api.json(request, malformed="scroll") or {}
    ids = body.get("scroll_id") or (scroll_id.split(",") if scroll_id else None)
    if isinstance(ids, str):
        ids = [ids]
    result = api.engine.scrolls.clear(ids)
    return (200 if result["num_freed"] or ids is None else 404), result

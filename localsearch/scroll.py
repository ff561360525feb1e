"""Scroll contexts: a search's ordered hits kept for a keep-alive, paged by `_search/scroll`."""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from localsearch.failures import SearchPhaseFailure
from localsearch.hits import Collected, Hit, SearchRequest, render
from localsearch.index import parse_interval
from searchcore.errors import IllegalArgument, SearchContextMissing, SearchError

MAX_KEEP_ALIVE = 24 * 3600.0
MAX_OPEN_CONTEXTS = 500  # OpenSearch's search.max_open_scroll_context
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")  # what open() issues: 24 random bytes, URL-safe base64


@dataclass
class ScrollContext:
    hits: list[Hit]
    total: int
    request: SearchRequest
    targets: list[Any]
    position: int
    expires: float


class ScrollContexts:
    def __init__(self) -> None:
        self._contexts: dict[str, ScrollContext] = {}
        self._lock = threading.Lock()

    def open(self, targets: list[Any], req: SearchRequest, hits: list[Hit], total: int,
             max_score: float | None) -> dict[str, Any]:
        keep_alive = keep_alive_seconds(req.scroll)
        with self._lock:
            self._expire()
            if len(self._contexts) >= MAX_OPEN_CONTEXTS:
                raise IllegalArgument(f"Trying to create too many scroll contexts. Must be less than or equal to: "
                                      f"[{MAX_OPEN_CONTEXTS}]. This limit can be set by changing the "
                                      "[search.max_open_scroll_context] setting.")
            scroll_id = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
            self._contexts[scroll_id] = ScrollContext(hits, total, req, list(targets), 0, time.monotonic() + keep_alive)
        return self._page(scroll_id, max_score)

    def next(self, scroll_id: str, keep_alive: str | None) -> dict[str, Any]:
        with self._lock:
            self._expire()
            context = self._contexts.get(scroll_id)
            if context is None:
                raise context_missing(scroll_id)
            if keep_alive:
                context.expires = time.monotonic() + keep_alive_seconds(keep_alive)
        return self._page(scroll_id, None)

    def _page(self, scroll_id: str, max_score: float | None) -> dict[str, Any]:
        context = self._contexts[scroll_id]
        req = context.request
        start = context.position if context.position else req.from_
        page = context.hits[start:start + req.size]
        context.position = start + len(page)
        if max_score is None:
            max_score = max((h.score for h in context.hits), default=None)
        response = render(context.targets, req, page, Collected(context.hits, context.total, max_score))
        response["_scroll_id"] = scroll_id
        return response

    def clear(self, scroll_ids: list[str] | None) -> dict[str, Any]:
        with self._lock:
            if scroll_ids is None or "_all" in scroll_ids:
                freed = len(self._contexts)
                self._contexts.clear()
            else:
                freed = sum(self._contexts.pop(s, None) is not None for s in scroll_ids)
        return {"succeeded": True, "num_freed": freed}

    def _expire(self) -> None:
        now = time.monotonic()
        for scroll_id in [s for s, c in self._contexts.items() if c.expires < now]:
            del self._contexts[scroll_id]


def context_missing(scroll_id: str) -> SearchError:
    """An id this engine could have issued but does not hold (expired or cleared): 404, as a failed phase;
    anything else is not a scroll id at all: 400."""
    if not _ID_SHAPE.fullmatch(scroll_id):
        return IllegalArgument("Cannot parse scroll id")
    missing = SearchContextMissing(f"No search context found for id [{scroll_id}]")
    cause = {"type": missing.error_type, "reason": missing.reason}
    return SearchPhaseFailure("all shards failed", root_causes=[cause],
                              failed_shards=[{"shard": -1, "index": None, "reason": cause}], caused_by=cause,
                              status=404)


def keep_alive_seconds(value: str | None) -> float:
    try:
        seconds = parse_interval(str(value or "1m"))
    except ValueError as exc:
        raise IllegalArgument(f"failed to parse setting [scroll] with value [{value}] as a time value") from exc
    if seconds is None or seconds <= 0:
        raise IllegalArgument(f"[scroll] keep alive must be positive, got [{value}]")
    if seconds > MAX_KEEP_ALIVE:
        raise IllegalArgument(f"Keep alive for request ({value}) is too large. It must be less than (1d). This limit "
                              "can be set by changing the [search.max_keep_alive] cluster level setting.")
    return seconds

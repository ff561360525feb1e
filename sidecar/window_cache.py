"""A short-lived cache of reranked windows, so paging through results costs no new inference.

Keys include the caller's credentials (hashed) and every part of the request that decides the window,
so one caller's hits are never served to another.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from sidecar.respond import Ranked
from sidecar.retrieve import FirstStageResult

AUTH_HEADERS = ("authorization", "cookie", "x-api-key", "securitytenant", "x-forwarded-user", "x-proxy-user",
                "x-proxy-roles")


SIDECAR_CALLER_ENVIRON = "rerank_sidecar.caller"   # WSGI environ key: the sidecar auth's digest of the caller


class CallerHeaders(dict):
    """A request's headers for the sidecar's upstream calls, plus who the sidecar's own auth let in: its
    credentials (X-Api-Key, or Authorization for basic users) are removed from the headers, so without this every
    caller the sidecar authenticated would look alike. The attribute never travels upstream."""

    def __init__(self, headers: Mapping[str, str], sidecar_caller: str = "") -> None:
        super().__init__(headers)
        self.sidecar_caller = sidecar_caller


def caller_identity(headers: Mapping[str, str]) -> str:
    """A digest of whatever authenticates the caller (never stored in clear)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    material = "\n".join(f"{k}={lowered.get(k, '')}" for k in AUTH_HEADERS)
    material += f"\nsidecar={getattr(headers, 'sidecar_caller', '')}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class WindowKey:
    """Everything that decides a reranked window, and nothing that only picks a page of it.

    The depth is left out on purpose: a later page that reaches past the window deepens the same ranking.
    """

    index: str
    query_text: str
    lexical_query: Any
    filters: Any
    window: int
    overrides: Any          # the request's ext.rerank overrides (window, fusion, score mode, budget, retrieval)
    aggregations: Any
    hit_options: Any        # highlight, stored_fields...: they shape the hits the window holds
    forwarded_params: Any   # query-string parameters stage 1 forwards
    lexical_only: bool
    caller: str             # caller_identity(): one caller's hits are never served to another
    profile: Any

    @cached_property
    def digest(self) -> str:   # once per request: the cache looks the window up, then stores it
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CachedWindow:
    first: FirstStageResult
    ranked: list[Ranked]
    status: str      # reranked, partial, skipped-<reason>: every page of this window says the same
    depth: int       # first-stage candidates fetched; a page past them deepens the window
    generation: str = ""   # with a shared cache: which shared version this full copy is (shared_cache/windows.py)


class WindowCache:
    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: WindowKey) -> Any | None:
        digest = key.digest
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return value

    def put(self, key: WindowKey, value: Any) -> None:
        if self.max_entries <= 0 or self.ttl_s <= 0:
            return
        now, digest = time.monotonic(), key.digest
        with self._lock:
            self._entries[digest] = (now + self.ttl_s, value)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            # expired windows go as new ones come, not only when asked for again (from the least
            # recently used end, up to the first live one: cheap, and the bulk of what expired)
            while self._entries:
                oldest = next(iter(self._entries.values()))
                if oldest[0] >= now:
                    break
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

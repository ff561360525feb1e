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
from typing import Any

AUTH_HEADERS = ("authorization", "cookie", "x-api-key", "securitytenant", "x-forwarded-user", "x-proxy-user",
                "x-proxy-roles")


def caller_identity(headers: Mapping[str, str]) -> str:
    """A digest of whatever authenticates the caller (never stored in clear)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    material = "\n".join(f"{k}={lowered.get(k, '')}" for k in AUTH_HEADERS)
    return hashlib.sha256(material.encode()).hexdigest()


def window_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class WindowCache:
    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        if self.max_entries <= 0 or self.ttl_s <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._entries[key] = (now + self.ttl_s, value)
            self._entries.move_to_end(key)
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

"""The window each profile reranks: the configured one, or the largest its time budget holds at the measured speed.

At warm-up the model service measures every cross-encoder it loads (`sidecar.rerank.speed`). A profile whose
`window` is not set (none in `defaults` nor in the profile, or `window: auto`) then reranks

    window = floor(pairs/s x budget_ms / 1000 x HEADROOM), rounded down to a multiple of 5 from 10 up,
             at least 1, at most AUTO_MAX_WINDOW and the profile's max_window

so a single client's searches are reranked whole within the budget, with room for a busier machine. Several
gunicorn workers measure each on its own; the rounding keeps their windows alike. A model not measured (a
remote backend: its speed is another machine's, and a hosted API bills each call; a model that did not load;
any model before warm-up has measured it) gets UNMEASURED_WINDOW, the former fixed default. A configured
window the budget cannot hold at the measured speed is logged as a warning with the numbers. A request's
`ext.rerank.window` is the caller's choice and is not resized.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from sidecar.rerank.speed import Speed

log = logging.getLogger(__name__)

HEADROOM = 0.6           # the share of the budget a window is sized to fill
AUTO_MAX_WINDOW = 100    # more rarely pays on any machine (docs/sidecar.md: choosing window and budget)
UNMEASURED_WINDOW = 100  # the former fixed default


def fit_window(pairs_per_s: float, budget_ms: float, *, headroom: float = HEADROOM,
               most: int = AUTO_MAX_WINDOW) -> int:
    """The largest window of typical documents the budget holds with headroom (see the module docstring)."""
    fits = pairs_per_s * budget_ms / 1000.0 * headroom
    if not math.isfinite(fits):
        return most
    window = int(fits)
    if window >= 10:
        window -= window % 5
    return max(1, min(window, most))


def profile_name(profile: Any) -> str:
    """`defaults` for the defaults (and the contract indices that use them), else the profile's index pattern."""
    return "defaults" if profile.pattern in ("*", "_contract") else profile.pattern


class WindowSizer:
    """The measured speeds of this process's cross-encoders and the windows they give each profile."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.speeds: dict[str, Speed] = {}
        self.unmeasured: dict[str, str] = {}   # model -> why it was not measured
        self._lock = threading.Lock()

    def record(self, model: str, speed: Speed) -> None:
        with self._lock:
            self.speeds[model] = speed
            self.unmeasured.pop(model, None)

    def skip(self, model: str, reason: str) -> None:
        with self._lock:
            self.unmeasured[model] = reason

    def window(self, profile: Any) -> int:
        """What a search on `profile` reranks unless the request says otherwise."""
        return profile.window if profile.window is not None else self.auto_window(profile)

    def auto_window(self, profile: Any) -> int:
        most = min(AUTO_MAX_WINDOW, profile.max_window, self.settings.limits.max_window)
        speed = self.speeds.get(profile.reranker)
        if speed is None:
            return min(UNMEASURED_WINDOW, most)
        return fit_window(speed.pairs_per_s, profile.budget_ms, most=most)

    def profiles(self) -> list[Any]:
        return [self.settings.defaults, *self.settings.profiles]

    def choice(self, profile: Any) -> dict[str, Any]:
        """One profile's window, where it comes from and the numbers behind it (for /-/ready and the log)."""
        speed = self.speeds.get(profile.reranker)
        entry: dict[str, Any] = {"window": self.window(profile), "budget_ms": profile.budget_ms,
                                 "reranker": profile.reranker}
        if profile.window is not None:
            entry["chosen"] = "configured"
        elif speed is not None:
            entry["chosen"] = f"auto: fits {HEADROOM:.0%} of the budget"
        else:
            reason = self.unmeasured.get(profile.reranker, "not loaded yet")
            entry["chosen"] = f"auto: not measured ({reason})"
        if speed is not None:
            entry["expected_ms"] = round(speed.seconds_for(entry["window"]) * 1000.0)
        return entry

    def report(self) -> dict[str, Any]:
        return {"models": {name: speed.as_dict() for name, speed in self.speeds.items()},
                "unmeasured": dict(self.unmeasured),
                "windows": {profile_name(p): self.choice(p) for p in self.profiles()}}

    def announce(self, metrics: Any = None) -> None:
        """After warm-up: one line per profile saying what it chose, and a warning per window too big."""
        for profile in self.profiles():
            name, entry = profile_name(profile), self.choice(profile)
            speed = self.speeds.get(profile.reranker)
            measured = (f"{speed.pairs_per_s:.1f} pairs/s measured at {speed.pair_tokens} tokens a pair"
                        if speed else "speed not measured")
            log.info("%s: window %d (%s; budget_ms %g; reranker %s, %s)", name, entry["window"], entry["chosen"],
                     profile.budget_ms, profile.reranker, measured)
            if metrics is not None:
                metrics.window.labels(name).set(entry["window"])
            if speed is not None:   # a configured window, or a budget too small for even one document
                self._warn_if_too_big(name, profile, speed, entry["window"])

    def _warn_if_too_big(self, name: str, profile: Any, speed: Speed, window: int) -> None:
        needed_ms = speed.seconds_for(window) * 1000.0
        if needed_ms <= profile.budget_ms:
            return
        fitting = self.auto_window(profile)
        budget_for = math.ceil(needed_ms / HEADROOM / 100.0) * 100
        log.warning("%s: window %d does not fit budget_ms %g: the cross-encoder %s reranks %.1f pairs/s on this "
                    "machine (%d-token pairs), so %d documents take about %.0f ms and searches will come back "
                    "partial or skipped-timeout. Leave window unset to size it (%d here), or set budget_ms to "
                    "%d or more", name, window, profile.budget_ms, profile.reranker, speed.pairs_per_s,
                    speed.pair_tokens, window, needed_ms, fitting, budget_for)

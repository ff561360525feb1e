"""Progress display: a tqdm bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import IO

log = logging.getLogger(__name__)


class Progress:
    """Counts processed records; shows documents/s and ETA the way the output device suits."""

    def __init__(self, total: int | None, *, initial: int = 0, interval: float = 10.0,
                 stream: IO[str] | None = None, tty: bool | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.done = initial
        self.failed = 0
        self.interval = interval
        self.enabled = enabled
        self._start = time.monotonic()
        self._start_done = initial
        self._last_log = self._start
        use_tty = self.stream.isatty() if tty is None else tty
        self._bar = None
        if enabled and use_tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="doc", file=self.stream,
                             dynamic_ncols=True, smoothing=0.1, desc="ingest")

    def update(self, processed: int, failed: int = 0) -> None:
        self.done += processed
        self.failed += failed
        if self._bar is not None:
            self._bar.update(processed)
            if failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.monotonic()
        if self.enabled and now - self._last_log >= self.interval:
            self._last_log = now
            log.info("%s", self.line(now))

    def rate(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self._start
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        rate = self.rate(now)
        parts = [f"{self.done}" + (f"/{self.total}" if self.total else "") + " records"]
        if self.total:
            parts.append(f"{100.0 * self.done / self.total:.0f}%")
        parts.append(f"{rate:.0f} docs/s")
        if self.total and rate > 0:
            parts.append(f"ETA {max(self.total - self.done, 0) / rate:.0f}s")
        parts.append(f"failed {self.failed}")
        return "progress: " + ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

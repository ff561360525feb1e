"""Progress: a bar on a terminal, log lines with rate and ETA otherwise."""

from __future__ import annotations

import io
import logging

from ingest.progress import Progress


def test_plain_log_lines_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="ingest.progress")
    progress = Progress(total=100, interval=0.0, stream=io.StringIO(), tty=False)
    progress.update(40, failed=2)
    progress.close()
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("progress: 40/100 records, 40%, ")
    assert "docs/s" in message and "ETA" in message and message.endswith("failed 2")


def test_a_bar_on_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="ingest.progress")
    stream = io.StringIO()
    progress = Progress(total=10, initial=4, stream=stream, tty=True)
    progress.update(6)
    progress.close()
    assert "10/10" in stream.getvalue() and "doc/s" in stream.getvalue()
    assert caplog.records == []

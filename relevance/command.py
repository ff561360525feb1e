"""What `eval` and `train-reranker` do alike around their work: SIGTERM unwinds, known errors are one line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C while the command runs, so the localsearch it started is stopped too."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(name: str, work: Callable[[], int]) -> int:
    """`work()`'s exit status; a user's mistake or a cluster's refusal prints one line (status 2), never a trace."""
    from relevance.cluster_setup import StackError
    from relevance.datasets import DatasetError
    from searchcore.errors import SearchError
    from searchcore.models import ModelNotFound
    from sidecar.settings import ConfigError

    try:
        with stop_on_sigterm():
            return work()
    except (DatasetError, StackError, ConfigError, ModelNotFound, ValueError, OSError) as exc:
        print(f"rerank-sidecar {name}: error: {exc}", file=sys.stderr)
        return 2
    except SearchError as exc:
        print(f"rerank-sidecar {name}: error: {exc.reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rerank-sidecar {name}: interrupted", file=sys.stderr)
        return 130

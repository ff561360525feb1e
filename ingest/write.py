"""Bulk writes: documents and vectors to `_bulk`, retrying what the cluster may accept later."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ingest.clients import (
    API_ERRORS,
    CONNECTION_ERRORS,
    describe_connection_error,
    status_of,
    streaming_bulk,
)
from ingest.documents import Document

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
VECTOR_DECIMALS = 7


class ClusterUnavailable(RuntimeError):
    """The cluster kept failing (connection errors, 429/5xx) past the retry budget."""


class WriteRefused(RuntimeError):
    """The cluster refused a whole bulk request for a reason retrying cannot fix (401, 403...)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how patiently a bulk request is retried."""

    max_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


@dataclass
class WriteOutcome:
    """What happened to one group of documents: how many were written, which failed and why."""

    written: int = 0
    failures: list[tuple[Document, str]] = field(default_factory=list)
    retries: int = 0


class _ItemsToRetry(Exception):
    """Some items got a retryable status; raised to make tenacity back off and try again."""


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (_ItemsToRetry, *CONNECTION_ERRORS)):
        return True
    return isinstance(exc, API_ERRORS) and status_of(exc) in RETRYABLE_STATUSES


def _reason(info: dict[str, Any]) -> str:
    error = info.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" (caused by {cause.get('type', 'error')}: {cause['reason']})"
    else:
        text = str(error)
    return f"status {info.get('status')}: {text}"


class BulkWriter:
    """Writes documents with their vectors into one index through the client library's `streaming_bulk`.

    Ids are stable, so re-sending a document that may already be written is harmless: that is
    what makes retrying a whole request, and resuming a run, safe.
    """

    def __init__(self, client: Any, index: str, *, vector_field: str = "embedding",
                 retry: RetryPolicy | None = None, chunk_size: int = 500,
                 max_chunk_bytes: int = 50 * 1024 * 1024, request_timeout: float = 120.0) -> None:
        self.client = client
        self.index = index
        self.vector_field = vector_field
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.request_timeout = request_timeout

    def actions(self, docs: Sequence[Document], vectors: np.ndarray) -> list[dict[str, Any]]:
        # Seven decimals keep every float32 component to within 5e-8 (cosine error < 1e-6)
        # and halve the request's JSON against the 17 digits of a float64 repr.
        rows = vectors.astype(np.float64).round(VECTOR_DECIMALS).tolist()
        return [{"_op_type": "index", "_index": self.index, "_id": doc.id,
                 "_source": {**doc.source, self.vector_field: row}}
                for doc, row in zip(docs, rows, strict=True)]

    def write(self, docs: Sequence[Document], vectors: np.ndarray) -> WriteOutcome:
        """Write all `docs`; returns per-document failures. Raises ClusterUnavailable or
        WriteRefused when the request as a whole cannot get through."""
        outcome = WriteOutcome()
        actions = self.actions(docs, vectors)
        pending = list(range(len(docs)))
        last_reason: dict[int, str] = {}
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=wait_exponential_jitter(multiplier=self.retry.initial_backoff,
                                         max=self.retry.max_backoff,
                                         jitter=self.retry.initial_backoff),
            retry=retry_if_exception(_is_retryable), reraise=True,
            before_sleep=lambda state: self._log_retry(state, outcome))
        try:
            for attempt in retrying:
                with attempt:
                    pending = self._send(actions, pending, outcome, last_reason, docs)
                    if pending:
                        raise _ItemsToRetry(f"{len(pending)} documents got a retryable status")
        except _ItemsToRetry:
            for i in pending:
                outcome.failures.append(
                    (docs[i], f"{last_reason[i]} (gave up after {self.retry.max_attempts} "
                              "attempts)"))
        except CONNECTION_ERRORS as exc:
            raise ClusterUnavailable(f"cannot reach the cluster: {describe_connection_error(exc)}") from exc
        except API_ERRORS as exc:
            if status_of(exc) in RETRYABLE_STATUSES:
                raise ClusterUnavailable(f"the cluster keeps answering {exc.status_code}: "
                                         f"{exc.error}") from exc
            raise WriteRefused(f"the cluster refused the bulk request: {exc.status_code} "
                               f"{exc.error}") from exc
        return outcome

    def _send(self, actions: list[dict[str, Any]], pending: list[int], outcome: WriteOutcome,
              last_reason: dict[int, str], docs: Sequence[Document]) -> list[int]:
        results = streaming_bulk(
            self.client, [actions[i] for i in pending],
            chunk_size=max(min(len(pending), self.chunk_size), 1),
            max_chunk_bytes=self.max_chunk_bytes, raise_on_error=False,
            raise_on_exception=True, max_retries=0, yield_ok=True,
            request_timeout=self.request_timeout)
        # Outcomes count only once the whole attempt got through: when a later chunk raises,
        # every pending document is sent again.
        written, failed, retry_next = 0, [], []
        for i, (ok, item) in zip(pending, results, strict=True):
            info = next(iter(item.values()))
            if ok:
                written += 1
            elif info.get("status") in RETRYABLE_STATUSES:
                last_reason[i] = _reason(info)
                retry_next.append(i)
            else:
                failed.append((docs[i], _reason(info)))
        outcome.written += written
        outcome.failures.extend(failed)
        return retry_next

    def _log_retry(self, state: Any, outcome: WriteOutcome) -> None:
        outcome.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("bulk write to %s: %s; retrying in %.1fs (attempt %d of %d)",
                    self.index, exc, wait, state.attempt_number + 1, self.retry.max_attempts)

"""Document-level reranking: passages, MaxP, cache, token batches and the time budget, failing open."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sidecar.rerank.base import EncodedPair, Scorer, padded_tokens, plan_batches
from sidecar.rerank.batching import DeadlineExceeded
from sidecar.rerank.cache import CachedScore, CacheKey, ScoreCache
from sidecar.rerank.passages import Passage, passage_budget, split_passages

log = logging.getLogger(__name__)

RERANKED, PARTIAL = "reranked", "partial"
SKIPPED_TIMEOUT, SKIPPED_ERROR, SKIPPED_NAN = "skipped-timeout", "skipped-error", "skipped-nan"


@dataclass
class RerankResult:
    """Per-document logits in the input order; `None` where a document was not scored.

    Scored documents always form a prefix of the input (first-stage) order, apart from documents
    that failed on their own: the caller sorts that prefix by logit and keeps the rest in
    first-stage order below it. Any `skipped-*` status means no logits at all (fail open).
    """

    logits: list[float | None]
    passage_index: list[int | None]              # which passage gave the max (MaxP), for explain
    passage_span: list[tuple[int, int] | None]   # its characters in the document text
    status: str                                  # reranked | partial | skipped-<timeout|error|nan>
    scored: int = 0                              # documents scored by the model in this call
    cache_hits: int = 0
    batches: int = 0                             # model calls
    tokens: int = 0                              # real (unpadded) tokens sent to the model
    passages: int = 0                            # pairs sent to the model
    batch_tokens: list[int] = field(default_factory=list)  # padded tokens of each model call

    @property
    def reranked(self) -> bool:
        return self.status in (RERANKED, PARTIAL)


class _Abort(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class _Document:
    position: int
    passages: list[Passage]
    pairs: list[EncodedPair]
    logits: list[float] = field(default_factory=list)
    unscored: int = 0
    key: CacheKey | None = None


class _Job:
    """One call's state: which documents are done, the counters, the model-speed estimate."""

    def __init__(self, scorer: Scorer, count: int, deadline: float | None,
                 clock: Callable[[], float], cache: ScoreCache | None) -> None:
        self.scorer, self.deadline, self.clock, self.cache = scorer, deadline, clock, cache
        self.result = RerankResult([None] * count, [None] * count, [None] * count, RERANKED)
        self.done = [False] * count
        self.failed = 0
        self.seconds = 0.0   # time in model calls, for the speed estimate
        self.spent = 0       # padded tokens those calls processed
        self.found: list[CachedScore | None] = [None] * count   # the cache's answers, asked for all at once
        self.new_scores: list[tuple[CacheKey, CachedScore]] = []   # stored together when the call ends

    def finish(self, position: int, cached: CachedScore) -> None:
        self.result.logits[position] = cached.logit
        self.result.passage_index[position] = cached.passage_index
        self.result.passage_span[position] = cached.passage_span
        self.done[position] = True

    def would_pass_deadline(self, cost: int) -> bool:
        if self.deadline is None:
            return False
        now = self.clock()
        estimate = self.seconds / self.spent * cost if self.spent else 0.0
        return now >= self.deadline or now + estimate > self.deadline

    def run_wave(self, wave: list[_Document]) -> None:
        """Score every pair of `wave`, length-sorted in token-budget batches; finish documents."""
        slots = [(document, k) for document in wave for k in range(len(document.pairs))]
        for document in wave:
            document.logits = [math.nan] * len(document.pairs)
            document.unscored = len(document.pairs)
        lengths = [len(document.pairs[k]) for document, k in slots]
        if self.scorer.capabilities.batches_itself:  # a batcher cuts and spreads it over its model threads
            batches = [list(range(len(slots)))] if slots else []
        else:
            batches = plan_batches(lengths, self.scorer.batch_tokens)
        for batch in batches:
            pairs = [slots[i][0].pairs[slots[i][1]] for i in batch]
            if self.would_pass_deadline(padded_tokens(pairs)):
                raise _Abort(SKIPPED_TIMEOUT)
            for i, logit in zip(batch, self._call_model(pairs), strict=True):
                document, k = slots[i]
                document.logits[k] = float(logit)
                document.unscored -= 1
                if document.unscored == 0:
                    self._finish_scored(document)

    def _call_model(self, pairs: list[EncodedPair]) -> np.ndarray:
        started = self.clock()
        try:
            if self.scorer.capabilities.takes_deadline:  # a batcher can drop work already late
                raw = self.scorer.score_batch(pairs, deadline=self.deadline)
            else:
                raw = self.scorer.score_batch(pairs)
            logits = np.asarray(raw, dtype=np.float32).reshape(-1)
            if logits.shape[0] != len(pairs):
                raise ValueError(f"{logits.shape[0]} logits for {len(pairs)} pairs")
        except DeadlineExceeded:
            raise _Abort(SKIPPED_TIMEOUT) from None
        except Exception:
            log.error("cross-encoder %s failed on a batch of %d pairs; reranking skipped",
                      self.scorer.name, len(pairs), exc_info=True)
            raise _Abort(SKIPPED_ERROR) from None
        self.seconds += self.clock() - started
        self.spent += padded_tokens(pairs)
        result = self.result
        result.batches += 1
        result.passages += len(pairs)
        result.tokens += sum(len(pair) for pair in pairs)
        result.batch_tokens.append(padded_tokens(pairs))
        if not np.isfinite(logits).all():
            log.warning("cross-encoder %s returned %d non-finite logits; reranking skipped",
                        self.scorer.name, int((~np.isfinite(logits)).sum()))
            raise _Abort(SKIPPED_NAN)
        return logits

    def _finish_scored(self, document: _Document) -> None:
        best = int(np.argmax(document.logits))  # MaxP: the document is as relevant as its best passage
        passage = document.passages[best]
        cached = CachedScore(document.logits[best], best, (passage.start, passage.end))
        self.finish(document.position, cached)
        self.result.scored += 1
        if self.cache is not None and document.key is not None:
            self.new_scores.append((document.key, cached))


def rerank_documents(scorer: Scorer, query: str, texts: Sequence[str], *, deadline: float | None,
                     cache: ScoreCache | None, doc_keys: Sequence[str] | None = None,
                     max_passages: int = 2000, max_passages_per_doc: int = 16,
                     wave_tokens: int | None = None,
                     clock: Callable[[], float] = time.monotonic) -> RerankResult:
    """Cross-encoder logits for `texts` (first-stage order, best first) against `query`.

    Documents longer than the model's window are split into passages and score as their best
    passage (MaxP). Work proceeds in first-stage order in waves of about `wave_tokens` tokens
    (all at once without a deadline); inside a wave pairs are length-sorted and batched by the
    scorer's token budget. Before each model call the `deadline` (a `clock()` value) is checked
    against the measured speed: when the call would pass it, the rest stays unscored (partial).
    At most `max_passages` pairs per call and `max_passages_per_doc` per document. A document
    that fails to tokenize is left unscored; a model error or a non-finite logit fails open
    (`skipped-error`, `skipped-nan`: no logits). Empty documents are scored as the empty pair.
    """
    if doc_keys is not None and len(doc_keys) != len(texts):
        raise ValueError(f"{len(doc_keys)} document keys for {len(texts)} texts")
    job = _Job(scorer, len(texts), deadline, clock, cache)
    per_doc = max(1, min(max_passages_per_doc, max_passages))
    model_key = f"{scorer.name}|{scorer.max_length}|{per_doc}"
    keys = _cache_keys(cache, model_key, query, texts, doc_keys)
    if cache is not None:   # one question for the whole window: a shared cache answers in one round trip
        asked = [i for i, key in enumerate(keys) if key is not None]
        for i, found in zip(asked, cache.get_many([keys[i] for i in asked]), strict=True):
            job.found[i] = found
    try:
        return _rerank(job, scorer, query, texts, keys, per_doc, max_passages, wave_tokens, deadline, clock)
    finally:
        if cache is not None and job.new_scores:
            cache.put_many(job.new_scores)


def _cache_keys(cache: ScoreCache | None, model_key: str, query: str, texts: Sequence[str],
                doc_keys: Sequence[str] | None) -> list[CacheKey | None]:
    if cache is None:
        return [None] * len(texts)
    return [ScoreCache.key(model_key, query, doc_keys[i] if doc_keys else "", text) if isinstance(text, str)
            else None for i, text in enumerate(texts)]


def _rerank(job: _Job, scorer: Scorer, query: str, texts: Sequence[str], keys: list[CacheKey | None],
            per_doc: int, max_passages: int, wave_tokens: int | None, deadline: float | None,
            clock: Callable[[], float]) -> RerankResult:
    wave_limit = wave_tokens or (2 * scorer.batch_tokens if deadline is not None else math.inf)
    try:
        budget = passage_budget(scorer.tokenizer, query, scorer.max_length)
        passages_left = max_passages
        wave: list[_Document] = []
        wave_size = 0
        for position, text in enumerate(texts):
            key = keys[position]
            cached = job.found[position]
            if cached is not None:
                job.finish(position, cached)
                job.result.cache_hits += 1
                continue
            if job.done[position]:
                continue
            if deadline is not None and clock() >= deadline:
                break  # out of time: do not even tokenize the rest
            document = _prepare(scorer, query, text, budget, per_doc, position)
            if document is None:
                job.done[position] = True
                job.failed += 1
                continue
            if len(document.pairs) > passages_left:
                break  # the per-request passage limit: the rest is left as with a budget
            passages_left -= len(document.pairs)
            document.key = key
            wave.append(document)
            wave_size += sum(len(pair) for pair in document.pairs)
            if wave_size >= wave_limit:
                job.run_wave(wave)
                wave, wave_size = [], 0
        job.run_wave(wave)
    except _Abort as abort:
        if abort.status != SKIPPED_TIMEOUT:
            return _skipped(job.result, abort.status)
    except Exception:  # the query itself could not be tokenized
        log.error("reranking with %s failed before scoring", scorer.name, exc_info=True)
        return _skipped(job.result, SKIPPED_ERROR)
    return _settle(job)


def _prepare(scorer: Scorer, query: str, text: str, budget: int, per_doc: int,
             position: int) -> _Document | None:
    """Passages and encoded pairs of one document, or None when it cannot be tokenized."""
    try:
        if not isinstance(text, str):
            raise TypeError(f"document text is {type(text).__name__}, not str")
        passages = split_passages(scorer.tokenizer, text, budget, max_passages=per_doc)
        return _Document(position, passages, scorer.encode(query, [p.text for p in passages]))
    except Exception as exc:  # one bad document never fails the others; no text in the log
        log.warning("document %d not reranked by %s: %s", position, scorer.name,
                    type(exc).__name__)
        log.debug("document %d tokenization error", position, exc_info=True)
        return None


def _settle(job: _Job) -> RerankResult:
    """Keep the scored prefix of the first-stage order; decide the status."""
    result = job.result
    prefix = next((i for i, done in enumerate(job.done) if not done), len(job.done))
    for i in range(prefix, len(job.done)):  # past the budget: first-stage order, even if cached
        result.logits[i] = result.passage_index[i] = result.passage_span[i] = None
    has_scores = any(logit is not None for logit in result.logits)
    if prefix == len(job.done):
        result.status = RERANKED if not job.failed else (PARTIAL if has_scores else SKIPPED_ERROR)
    else:
        result.status = PARTIAL if has_scores else SKIPPED_TIMEOUT
    return result


def _skipped(result: RerankResult, status: str) -> RerankResult:
    count = len(result.logits)
    result.logits, result.passage_index, result.passage_span = [None] * count, [None] * count, [None] * count
    result.status = status
    return result

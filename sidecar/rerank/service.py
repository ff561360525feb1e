"""The model service of one process: bi-encoders and cross-encoders loaded once, embedding and reranking for searches."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from sidecar.settings import Settings
from sidecar.window_sizing import WindowSizer

log = logging.getLogger(__name__)
BI_ENCODER_RETRY_S = 30.0   # a bi-encoder that failed to load is tried again after this long, not per search


class BiEncoderUnavailable(RuntimeError):
    """The bi-encoder failed to load a moment ago: searches embed nothing until it is tried again."""


class ModelService:
    """Bi-encoders and cross-encoders of this process, loaded once; warm-up makes readiness true.

    A cross-encoder is loaded with the backend and options its `models` entry names, and put
    behind this process's batcher unless it batches itself (a remote server does). Warm-up measures each
    cross-encoder's speed, from which `sizing` chooses the windows of profiles that set none.
    """

    def __init__(self, settings: Settings, metrics: Any, scorer_loader: Any = None, shared_store: Any = None) -> None:
        from sidecar.rerank import ScoreCache
        from sidecar.shared_cache.tiers import EmbeddingCache, TieredScoreCache
        self.settings = settings
        self.metrics = metrics
        prefix = settings.cache_key_prefix
        # shared_store (sidecar.shared_cache): scores and query vectors one replica computed serve every replica
        self.score_cache = ScoreCache(settings.score_cache_entries) if shared_store is None else TieredScoreCache(
            settings.score_cache_entries, shared_store, prefix=prefix, ttl_s=settings.score_cache_ttl_s,
            metrics=metrics)
        self._embeddings = EmbeddingCache(settings.embedding_cache_entries, shared_store, prefix=prefix,
                                          ttl_s=settings.embedding_cache_ttl_s, metrics=metrics)
        self._scorer_loader = scorer_loader
        self._scorers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.errors: dict[str, str] = {}
        self.sizing = WindowSizer(settings)
        self._bi_encoder_failures: dict[str, tuple[float, str]] = {}   # name -> (when, why)

    def scorer(self, name: str) -> Any:
        """The cross-encoder `name` as configured (backend, device...), behind this process's batcher."""
        from sidecar.instrument import InstrumentedScorer  # model calls feed the batch metrics
        if self._scorer_loader is not None:
            return InstrumentedScorer(self._scorer_loader(name), self.metrics)
        with self._lock:
            scorer = self._scorers.get(name)
        if scorer is not None:
            return scorer
        from searchcore.models import default_device
        from sidecar.rerank import BatchingScorer, load_scorer
        spec = self.settings.model_spec(name)
        options = dict(spec.options)
        if self.settings.onnx_cache_dir:  # for the backends that export ONNX files; the others ignore it
            options["cache_dir"] = self.settings.onnx_cache_dir
        device = spec.device or default_device()
        on_cpu = not device.startswith("cuda")
        cores = self.settings.inference_threads or os.cpu_count() or 1
        # on a CPU: one single-threaded model thread per core; on a GPU: one thread feeding it
        loaded = InstrumentedScorer(load_scorer(spec.path or name, backend=spec.backend or "auto", device=device,
                                                max_length=spec.max_length, threads=1 if on_cpu else None,
                                                **options), self.metrics)
        if not loaded.capabilities.batches_itself:  # a remote server batches on its own
            loaded = BatchingScorer(loaded, workers=cores if on_cpu else 1,
                                    gather_s=self.settings.batch_wait_ms / 1000.0, on_batch=self._observe_batch)
        with self._lock:
            scorer = self._scorers.setdefault(name, loaded)
        self.metrics.model_info.labels("reranker", name, scorer.backend).set(1)
        return scorer

    def _observe_batch(self, model: str, _pairs: int, _tokens: int, requests: int) -> None:
        """Pairs and tokens per call come from InstrumentedScorer; the batcher adds how many requests shared it."""
        self.metrics.batch_requests.labels(model).observe(requests)

    def bi_encoder(self, name: str) -> Any:
        """The bi-encoder `name`; after a failed load, BiEncoderUnavailable until BI_ENCODER_RETRY_S have passed."""
        from searchcore.models import load_bi_encoder
        failed = self._bi_encoder_failures.get(name)
        if failed is not None and time.monotonic() - failed[0] < BI_ENCODER_RETRY_S:
            raise BiEncoderUnavailable(failed[1])
        try:
            model = load_bi_encoder(name)
        except Exception as exc:
            self._bi_encoder_failures[name] = (time.monotonic(), f"{type(exc).__name__}: {exc}")
            raise
        self._bi_encoder_failures.pop(name, None)
        self.metrics.model_info.labels("bi_encoder", name, "torch").set(1)
        return model

    def embed(self, name: str, text: str, normalize: bool, caller: str = "") -> list[float]:
        """The query's vector; `caller` (window_cache.caller_identity) scopes the cache entry to one caller."""
        def compute() -> list[float]:
            vector = self.bi_encoder(name).encode(text, normalize_embeddings=normalize, convert_to_numpy=True,
                                                 show_progress_bar=False)
            return [float(x) for x in vector]

        return self._embeddings.get_or_compute(name, text, normalize, caller, self._lock, compute)

    def rerank(self, model: str, query: str, texts: list[str], keys: list[str], deadline: float) -> Any:
        from sidecar.rerank import RerankResult, ScoreCache, rerank_documents
        try:
            scorer = self.scorer(model)
        except Exception as exc:  # fail-open: the model cannot be loaded
            log.error("reranker %s unavailable: %s", model, exc)
            nothing: list[Any] = [None] * len(texts)
            return RerankResult(list(nothing), list(nothing), list(nothing), "skipped-model-unavailable")
        result = rerank_documents(scorer, query, texts, deadline=deadline, cache=self.score_cache, doc_keys=keys,
                                  max_passages=self.settings.limits.max_passages_per_request)
        self.metrics.cache.labels("score", "hit").inc(result.cache_hits)
        self.metrics.cache.labels("score", "miss").inc(result.scored)
        if self.score_cache.__class__ is ScoreCache:   # the tiered cache counts its memory tier itself
            self.metrics.cache_backend.labels("score", "memory", "hit").inc(result.cache_hits)
            self.metrics.cache_backend.labels("score", "memory", "miss").inc(result.scored)
        return result

    def warm_up(self, names: list[str], bi_encoders: list[str]) -> None:
        """Load (and run once) every model known at start, measure the cross-encoders' speed and say which
        windows that gives; readiness waits for this."""
        for name in dict.fromkeys(names):
            try:
                scorer = self.scorer(name)
                model = _unobserved(scorer)  # warm-up calls are not traffic: no metrics
                for count, words in ((1, 8), (16, 120)):  # a short and a typical batch shape
                    model.score_pairs("warm up the model", ["the first request is not slow " * (words // 6)] * count)
            except Exception as exc:
                self.errors[f"reranker {name}"] = f"{type(exc).__name__}: {exc}"
                self.sizing.skip(name, "it did not load")
                log.error("cannot load reranker %s: %s", name, exc)
                continue
            self._measure(name, scorer, model)
        self.sizing.announce(self.metrics)
        for name in dict.fromkeys(bi_encoders):
            try:
                self.bi_encoder(name).encode("warm up", show_progress_bar=False)
            except Exception as exc:
                self.errors[f"bi-encoder {name}"] = f"{type(exc).__name__}: {exc}"
                log.error("cannot load bi-encoder %s: %s", name, exc)
        self.ready.set()

    def _measure(self, name: str, scorer: Any, model: Any) -> None:
        """Pairs per second of `model` as this process runs it (all its model threads), for the window sizing."""
        from sidecar.rerank import BatchingScorer
        from sidecar.rerank.speed import measure_speed
        if model.capabilities.remote:
            self.sizing.skip(name, "a remote backend: its speed is another machine's")
            return
        threads = scorer.workers if isinstance(scorer, BatchingScorer) else 1
        try:
            speed = measure_speed(model, threads=threads)
        except Exception as exc:  # the model ran for warm-up; a failure here only leaves the window unsized
            self.sizing.skip(name, f"measuring failed: {type(exc).__name__}")
            log.warning("cross-encoder %s: measuring its speed failed: %s", name, exc)
            return
        self.sizing.record(name, speed)
        self.metrics.model_speed.labels(name).set(speed.pairs_per_s)
        log.info("cross-encoder %s: %.1f pairs/s on this machine (%d-token pairs, %d model threads, %d pairs in "
                 "%.2f s)", name, speed.pairs_per_s, speed.pair_tokens, speed.threads, speed.pairs, speed.seconds)


def _unobserved(scorer: Any) -> Any:
    """The model itself, under the batcher and the metrics wrapper."""
    from sidecar.instrument import InstrumentedScorer
    from sidecar.rerank import BatchingScorer
    if isinstance(scorer, BatchingScorer):
        scorer = scorer.inner
    return scorer.wrapped if isinstance(scorer, InstrumentedScorer) else scorer

"""The one module that orchestrates an evaluation: judgments -> index -> systems -> measures -> outputs."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relevance.blend import blended
from relevance.cluster_setup import ClusterOptions
from relevance.datasets import Dataset, load_dataset
from relevance.measures import PRIMARY, compare, means, per_query
from relevance.systems import SystemRun, SystemSpec, model_label
from searchcore.fusion import NORMALIZATIONS

log = logging.getLogger(__name__)
FUSIONS = NORMALIZATIONS   # hybrid systems compared by default: each normalization with its default combination
DEFAULT_WINDOWS = (10, 20, 50, 100, 200)


@dataclass
class EvalOptions:
    dataset: str | None
    qrels: str | None = None
    topics: str | None = None
    split: str = "test"
    rerankers: list[str] = field(default_factory=list)
    windows: list[int] | None = None          # None: the defaults (end to end) or the whole list (given run)
    fusions: list[str] = field(default_factory=lambda: list(FUSIONS))
    rerank_fusion: str = "min_max"
    baseline: str | None = None
    out: Path = Path("eval-results")
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    relevance_level: int = 1
    max_queries: int | None = None
    seed: int = 0
    backend: str = "torch"
    calibrate: bool = False
    config: Path | None = None
    threads: int | None = None
    blends: list[float] = field(default_factory=list)  # α of score_mode blend, scored from each rerank system's logits


@dataclass
class Evaluation:
    results: dict[str, Any]
    per_query: dict[str, np.ndarray]
    query_ids: list[str]
    runs: list[SystemRun]


def choose_queries(dataset: Dataset, limit: int | None, seed: int) -> list[str]:
    """Every judged query, or a seeded sample of `limit` of them (kept in query-id order)."""
    judged = dataset.judged_queries()
    if dataset.is_run:
        judged = [q for q in judged if dataset.candidates.get(q)]
    if limit is None or limit >= len(judged):
        return judged
    chosen = set(random.Random(seed).sample(judged, limit))
    return [q for q in judged if q in chosen]


def evaluate(options: EvalOptions) -> Evaluation:
    dataset = load_dataset(options.dataset, qrels=options.qrels, topics=options.topics, split=options.split)
    if options.dataset is None and options.cluster.index:
        dataset.name = options.cluster.index  # judgments for an existing index: name the results after it
    query_ids = choose_queries(dataset, options.max_queries, options.seed)
    if options.blends and dataset.is_run:
        raise ValueError("--blend needs the hybrid first stage (end to end): a given run's scores are not "
                         "normalized to [0, 1]")
    if not query_ids:
        raise ValueError("no query has both a text and a judgment: check that --topics and --qrels use the same ids")
    queries = {q: dataset.queries[q] for q in query_ids}
    from sidecar.rerank import load_scorer
    for model in options.rerankers:  # fail before any work when a model cannot be loaded
        load_scorer(model, backend=options.backend)
    context: dict[str, Any] = {}
    if dataset.is_run:
        runs = _given_run_systems(dataset, query_ids, options)
    else:
        runs = _end_to_end_systems(dataset, queries, options, context)
    runs += [blended(r, alpha) for r in list(runs) if r.spec.kind == "rerank" for alpha in options.blends]
    baseline = options.baseline or runs[0].spec.name
    names = [r.spec.name for r in runs]
    if baseline not in names:
        raise ValueError(f"--baseline [{baseline}] is not one of the systems: {names}")
    values = {r.spec.name: per_query(r.run, dataset.qrels, query_ids, options.relevance_level) for r in runs}
    from relevance.report import system_entry
    systems = {}
    for r in runs:
        name = r.spec.name
        versus = None if name == baseline else compare(values[name][PRIMARY], values[baseline][PRIMARY], baseline,
                                                       seed=options.seed)
        systems[name] = system_entry(r, means(values[name]), versus)
    results: dict[str, Any] = {"dataset": dataset.name, "queries": len(query_ids),
                               "relevance_level": options.relevance_level, "baseline": baseline,
                               "mode": "given-run" if dataset.is_run else "end-to-end", **context,
                               "systems": systems}
    if options.calibrate:
        results["calibration"] = _calibrate(runs, dataset, options, context)
    return Evaluation(results, {n: v[PRIMARY] for n, v in values.items()}, query_ids, runs)


def _given_run_systems(dataset: Dataset, query_ids: list[str], options: EvalOptions) -> list[SystemRun]:
    from relevance.given_run import given_system, rerank_system
    runs = [given_system(dataset, query_ids)]
    windows: list[int | None] = list(options.windows) if options.windows else [None]
    total = 1 + len(options.rerankers) * len(windows)
    for model in options.rerankers:
        for window in windows:
            runs.append(rerank_system(dataset, query_ids, model, window=window, backend=options.backend,
                                      position=f"[{len(runs) + 1}/{total}] "))
    return runs


def _end_to_end_systems(dataset: Dataset, queries: dict[str, str], options: EvalOptions,
                        context: dict[str, Any]) -> list[SystemRun]:
    from relevance.cluster_setup import opened_index, sidecar_settings, upstream_for
    from relevance.systems import PipelineRunner, plan_systems

    windows = list(options.windows or DEFAULT_WINDOWS)
    with opened_index(options.cluster, dataset.corpus, options.out / ".ingest-state") as (stack, index, ingested):
        context.update({"index": index, "ingested": ingested,
                        "cluster": "localsearch (started by eval)" if stack.process else "given cluster"})
        settings = sidecar_settings(stack, reranker=(options.rerankers or ["unused"])[0], windows=windows,
                                    backend=options.backend)
        upstream = upstream_for(stack)
        try:
            runner = PipelineRunner(settings, upstream, index, stack.headers)
            specs = plan_systems(list(options.fusions), list(options.rerankers), windows, options.rerank_fusion)
            runs = []
            for number, spec in enumerate(specs, start=1):
                runs.append(runner.run(spec, queries, position=f"[{number}/{len(specs)}] "))
                log.info("%s done (%d queries)", spec.name, len(queries))
            context["profile"] = _profile_of(runner)
            return runs
        finally:
            upstream.close()


def _profile_of(runner: Any) -> dict[str, Any]:
    """The resolved profile's fields a calibrated profile must repeat (text and vector fields)."""
    from sidecar.profile_resolver import ProfileResolver
    resolved = ProfileResolver(runner.settings, runner.upstream).resolve(runner.index, runner.headers)
    profile = resolved.profile
    return {"index": runner.index, "text_fields": list(profile.text_fields), "vector_field": profile.vector_field}


def _calibrate(runs: list[SystemRun], dataset: Dataset, options: EvalOptions, context: dict[str, Any]
               ) -> dict[str, Any]:
    """One fit per reranker, on its largest window's logits; the first reranker's goes into the config."""
    from relevance.calibration import calibrate, calibration_config, write_config
    fitted = {}
    for model in options.rerankers:
        candidates = [r for r in runs if r.spec.kind == "rerank" and r.spec.reranker == model and r.logits]
        if not candidates:
            continue
        largest = max(candidates, key=lambda r: r.spec.window or 10**9)
        fitted[model] = calibrate(model, largest.logits, dataset.qrels, options.relevance_level)
    if not fitted:
        raise ValueError("--calibrate needs at least one --reranker")
    first = fitted[options.rerankers[0]]
    profile = context.get("profile")
    path = write_config(options.out / "calibration.yaml", calibration_config(first, profile), options.config)
    return {"config": str(path), "fits": {model_label(m): c.as_dict() for m, c in fitted.items()}}


__all__ = ["EvalOptions", "Evaluation", "SystemSpec", "evaluate"]

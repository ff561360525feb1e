"""Each compared system answers every query through the sidecar's own code: its pipeline, retrieval and rerank."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from tqdm.auto import tqdm

from relevance.measures import Run, run_from_ranking
from searchcore.errors import SearchError
from sidecar.settings import Settings

log = logging.getLogger(__name__)
DEPTH = 100  # results per query: Recall@100 and MAP look this far


@dataclass(frozen=True)
class SystemSpec:
    name: str
    kind: str                      # given | bm25 | knn | hybrid | rerank | blend
    fusion: str | None = None
    reranker: str | None = None
    window: int | None = None
    blend_alpha: float | None = None  # kind "blend": a rerank system's logits in blend score mode


@dataclass
class SystemRun:
    spec: SystemSpec
    run: Run = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)   # stage -> seconds, one per query
    logits: dict[str, dict[str, float]] = field(default_factory=dict)  # reranked documents' raw logits
    # reranked documents' first-stage (score, rank): what blend mode mixes with the logits
    first_stage: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)
    failures: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def add_stages(self, stages: dict[str, float]) -> None:
        for name, seconds in stages.items():
            self.stages.setdefault(name, []).append(seconds)


@dataclass
class Answer:
    """One query's answer from one system."""
    ranking: list[tuple[str, float]]
    stages: dict[str, float]                                   # stage -> seconds
    status: str                                                # X-Rerank-Status
    logits: dict[str, float] = field(default_factory=dict)     # reranked documents' raw logits
    first_stage: dict[str, tuple[float, int]] = field(default_factory=dict)  # their first-stage (score, rank)


def plan_systems(fusions: list[str], rerankers: list[str], windows: list[int], rerank_fusion: str) -> list[SystemSpec]:
    """BM25, k-NN, hybrid per fusion, then hybrid + rerank per model and window."""
    specs = [SystemSpec("bm25", "bm25"), SystemSpec("knn", "knn")]
    specs += [SystemSpec(f"hybrid-{f}", "hybrid", fusion=f) for f in fusions]
    for model in rerankers:
        for window in windows:
            specs.append(SystemSpec(f"hybrid-{rerank_fusion}+{model_label(model)}@{window}", "rerank",
                                    fusion=rerank_fusion, reranker=model, window=window))
    return specs


def model_label(name_or_path: str) -> str:
    """A model's display name: its folder's name (or the hub name's last part)."""
    return name_or_path.rstrip("/").rsplit("/", 1)[-1]


def _no_rerank(model: str, query: str, texts: list[str], keys: list[str], deadline: float) -> Any:
    """Stage 2 switched off: the pipeline answers in first-stage (hybrid) order, as when it fails open."""
    from sidecar.rerank import RerankResult
    nothing: list[Any] = [None] * len(texts)
    return RerankResult(list(nothing), list(nothing), list(nothing), "skipped-disabled")


class PipelineRunner:
    """Builds a fresh sidecar pipeline per system (empty caches, so every latency is a cold one)."""

    def __init__(self, settings: Settings, upstream: Any, index: str, headers: dict[str, str] | None = None,
                 depth: int = DEPTH) -> None:
        self.settings = settings
        self.upstream = upstream
        self.index = index
        self.headers = dict(headers or {})
        self.depth = depth

    def _parts(self, spec: SystemSpec) -> tuple[Any, Any, Any]:
        from sidecar.metrics import get_metrics
        from sidecar.pipeline import build_pipeline
        from sidecar.rerank.service import ModelService

        settings = self.settings
        if spec.reranker:
            settings = replace(settings, defaults=replace(settings.defaults, reranker=spec.reranker))
        metrics = get_metrics()
        models = ModelService(settings, metrics)
        pipeline = build_pipeline(settings, self.upstream, models, metrics=metrics,
                                  rerank=None if spec.kind == "rerank" else _no_rerank)
        return pipeline, models, pipeline.profiles

    def run(self, spec: SystemSpec, queries: dict[str, str], position: str = "") -> SystemRun:
        pipeline, models, profiles = self._parts(spec)
        resolved = profiles.resolve(self.index, self.headers)
        if resolved.profile is None:
            raise SearchError(resolved.problem or f"index [{self.index}] has no ingest contract: the sidecar "
                              "cannot embed queries for it (ingest it with `rerank-sidecar ingest`)", status=400)
        # load the models before the clock starts: loading is not query latency
        if spec.kind != "bm25":
            models.bi_encoder(resolved.profile.bi_encoder)
        if spec.kind == "rerank":
            models.scorer(spec.reranker)
        result = SystemRun(spec)
        for qid, text in tqdm(queries.items(), desc=f"{position}{spec.name}", unit="q", leave=False):
            try:
                answer = self._one(spec, pipeline, models, resolved, text)
            except SearchError as exc:
                log.warning("%s: query %s failed: %s", spec.name, qid, exc.reason)
                result.failures += 1
                continue
            result.run[qid] = run_from_ranking(answer.ranking)
            result.add_stages(answer.stages)
            if answer.logits:
                result.logits[qid] = answer.logits
                result.first_stage[qid] = answer.first_stage
            result.statuses[answer.status] = result.statuses.get(answer.status, 0) + 1
        return result

    def hybrid_hits(self, queries: dict[str, str], fusion: str, depth: int, desc: str = "hybrid retrieval"
                    ) -> dict[str, list[tuple[str, str]]]:
        """Each query's first `depth` hybrid candidates as (document id, the text the reranker reads)."""
        from sidecar.hit_text import candidate_text

        pipeline, _, profiles = self._parts(SystemSpec(f"hybrid-{fusion}", "hybrid", fusion=fusion))
        profile = self.profile(profiles)
        found: dict[str, list[tuple[str, str]]] = {}
        for qid, text in tqdm(queries.items(), desc=desc, unit="q", leave=False):
            body = {"size": depth, "_source": list(profile.text_fields), "query": lexical_query(text, profile.text_fields),
                    "ext": {"rerank": {"fusion": fusion, "window": min(depth, profile.max_window)}}}
            outcome = pipeline.search(self.index, json.dumps(body).encode(), {}, self.headers)
            if outcome.status != 200 or outcome.forward:
                raise SearchError(f"hybrid retrieval failed for query {qid} (status {outcome.status})",
                                  status=outcome.status or 500)
            found[qid] = [(h["_id"], candidate_text(h.get("_source") or {}, profile.text_fields, profile.separator))
                          for h in outcome.body["hits"]["hits"]]
        return found

    def document_texts(self, doc_ids: list[str]) -> dict[str, str]:
        """The reranker's text of each document that exists in the index."""
        from sidecar.hit_text import candidate_text
        from sidecar.profile_resolver import ProfileResolver

        profile = self.profile(ProfileResolver(self.settings, self.upstream))
        texts = {}
        for doc_id in doc_ids:
            path = f"/{self.index}/_doc/{quote(doc_id, safe='')}"
            status, answer = self.upstream.json("GET", path, None, self.headers)
            if status == 200 and answer.get("found", True):
                texts[doc_id] = candidate_text(answer.get("_source") or {}, profile.text_fields, profile.separator)
        return texts

    def profile(self, profiles: Any) -> Any:
        resolved = profiles.resolve(self.index, self.headers)
        if resolved.profile is None:
            raise SearchError(resolved.problem or f"index [{self.index}] has no ingest contract: the sidecar "
                              "cannot embed queries for it (ingest it with `rerank-sidecar ingest`)", status=400)
        return resolved.profile

    def _one(self, spec: SystemSpec, pipeline: Any, models: Any, resolved: Any, text: str
             ) -> Answer:
        profile = resolved.profile
        lexical = lexical_query(text, profile.text_fields)
        if spec.kind == "bm25":
            body = {"size": self.depth, "_source": False, "query": lexical, "ext": {"rerank": {"enabled": False}}}
            return self._passthrough(pipeline, body, {})
        if spec.kind == "knn":
            started = time.perf_counter()
            normalize = resolved.contract.normalized if resolved.contract else True
            vector = models.embed(profile.bi_encoder, text, normalize)
            embed = time.perf_counter() - started
            body = {"size": self.depth, "_source": False,
                    "query": {"knn": {profile.vector_field: {"vector": vector, "k": self.depth}}}}
            return self._passthrough(pipeline, body, {"embed": embed})
        rerank: dict[str, Any] = {"fusion": spec.fusion, "score_mode": "raw", "explain": True}
        if spec.window:
            rerank["window"] = spec.window
        body = {"size": self.depth, "_source": False, "query": lexical, "ext": {"rerank": rerank}}
        outcome = pipeline.search(self.index, json.dumps(body).encode(), {}, self.headers)
        if outcome.forward or outcome.status != 200:
            raise SearchError(f"the sidecar did not rerank (status {outcome.status}, "
                              f"{outcome.rerank_status})", status=outcome.status or 500)
        hits = outcome.body["hits"]["hits"]
        logits = {h["_id"]: float(h["_rerank"]["logit"]) for h in hits
                  if h.get("_rerank", {}).get("logit") is not None}
        first_stage = {h["_id"]: (float(h["_rerank"]["first_stage_score"]), int(h["_rerank"]["first_stage_rank"]))
                       for h in hits if h["_id"] in logits}
        stages = {name: outcome.stages.get(name, 0.0) for name in ("embed", "retrieve", "rerank", "total")}
        return Answer([(h["_id"], h["_score"]) for h in hits], stages, outcome.rerank_status, logits, first_stage)

    def _passthrough(self, pipeline: Any, body: dict[str, Any], stages: dict[str, float]) -> Answer:
        """What the sidecar forwards (its pass-through decision), sent to the cluster as the proxy would."""
        started = time.perf_counter()
        outcome = pipeline.search(self.index, json.dumps(body).encode(), {}, self.headers)
        forward = json.loads(outcome.forward_body) if outcome.forward_body else body
        status, answer = self.upstream.json("POST", f"/{self.index}/_search", forward, self.headers)
        retrieve = time.perf_counter() - started
        if status != 200:
            raise SearchError(f"the cluster answered {status}: {json.dumps(answer)[:300]}", status=status)
        hits = answer["hits"]["hits"]
        stages = {**stages, "retrieve": retrieve, "total": sum(stages.values()) + retrieve}
        return Answer([(h["_id"], h.get("_score") or 0.0) for h in hits], stages, "passthrough")


def lexical_query(text: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """The client's BM25 query: `match` on one text field, `multi_match` across several."""
    if len(fields) == 1:
        return {"match": {fields[0]: text}}
    return {"multi_match": {"query": text, "fields": list(fields)}}

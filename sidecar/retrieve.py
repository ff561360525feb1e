"""Stage 1: hybrid retrieval (the client's lexical query + k-NN on the query embedding), server or client side."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from searchcore.cluster import has_neural_search
from searchcore.errors import SearchError
from searchcore.fusion import FusionConfig, fuse, pipeline_body, pipeline_name
from sidecar.upstream import UpstreamMalformedResponse
from sidecar.upstream_flavour import UpstreamFlavour

log = logging.getLogger(__name__)

# body keys that shape each hit: forwarded with stage 1 so the cluster computes them per hit
HIT_KEYS = ("highlight", "fields", "docvalue_fields", "stored_fields", "script_fields", "version",
            "seq_no_primary_term", "explain", "track_total_hits", "timeout", "terminate_after", "min_score",
            "runtime_mappings")
# URL parameters that mean the same on stage 1 as on the client's request
FORWARDED_PARAMS = ("preference", "routing", "ignore_unavailable", "allow_no_indices", "expand_wildcards",
                    "request_cache", "timeout", "ignore_throttled")
MAX_RESULT_WINDOW = 10_000
# hit options that would drop or count documents when a page's hits are fetched by id (they applied in stage 1)
NOT_FOR_FETCH = ("track_total_hits", "min_score", "terminate_after", "explain", "timeout")
MAX_NUM_CANDIDATES = 10_000   # Elasticsearch refuses a k-NN `num_candidates` above it
# the client's body keys that decide `hits.total` and `aggregations` as the cluster counts them
SUMMARY_KEYS = ("track_total_hits", "terminate_after", "timeout", "runtime_mappings")
# hit options every leg needs: a query, filter or aggregation may name a runtime field (Kibana sends them)
EVERY_LEG_KEYS = ("runtime_mappings",)
# search pipelines one process creates at most (weights and rank constants can be chosen per request): past it,
# a fusion without its pipeline yet is done client-side, with the same scores
MAX_PIPELINES = 64


class UpstreamRefused(SearchError):
    """The cluster answered stage 1 with an error: the client gets that answer unchanged."""

    def __init__(self, status: int, body: Any) -> None:
        reason = body.get("error", {}).get("reason", "") if isinstance(body, dict) and isinstance(
            body.get("error"), dict) else str(body)[:200]
        super().__init__(reason or "upstream error", status=status)
        self.upstream_body = body

    def body(self) -> dict[str, Any]:
        return self.upstream_body


@dataclass
class Candidate:
    hit: dict[str, Any]   # the cluster's hit: _index, _id, _source, highlight, fields...
    score: float          # first-stage score (fused)
    rank: int             # 1-based first-stage rank


@dataclass
class FirstStageResult:
    candidates: list[Candidate]
    total: Any
    shards: dict[str, Any]
    timed_out: bool
    aggregations: dict[str, Any] | None
    mode: str


@dataclass(frozen=True)
class FirstStageRequest:
    index: str
    lexical_query: dict[str, Any]
    filters: list[dict[str, Any]]
    vector: list[float] | None          # None: the index has no vector field, the lexical leg alone runs
    vector_field: str
    depth: int
    fusion: FusionConfig
    source: Any                         # what _source stage 1 asks for
    hit_options: dict[str, Any]         # HIT_KEYS the client gave
    summary_body: dict[str, Any]        # size 0: the client's query, post_filter, aggs and total options
    params: dict[str, str]              # FORWARDED_PARAMS the client gave

    @property
    def wants_aggregations(self) -> bool:
        return "aggs" in self.summary_body

    def knn_query(self, elasticsearch: bool = False) -> dict[str, Any]:
        """The k-NN leg with the client's filters: the k-NN plugin's form, or Elasticsearch's `knn` query."""
        assert self.vector is not None
        if elasticsearch:
            spec: dict[str, Any] = {"field": self.vector_field, "query_vector": self.vector, "k": self.depth,
                                    "num_candidates": num_candidates(self.depth)}
        else:
            spec = {"vector": self.vector, "k": self.depth}
        if self.filters:
            spec["filter"] = {"bool": {"filter": self.filters}}
        return {"knn": spec if elasticsearch else {self.vector_field: spec}}

    def leg_body(self, query: dict[str, Any], with_hit_options: bool) -> dict[str, Any]:
        body = dict(self.hit_options) if with_hit_options else {
            key: value for key, value in self.hit_options.items() if key in EVERY_LEG_KEYS}
        body.update({"from": 0, "size": self.depth, "query": query, "_source": self.source})
        return body


class Retriever:
    """Runs stage 1 against the cluster with the caller's own headers."""

    def __init__(self, upstream: Any, setup_headers: Mapping[str, str] | None = None,
                 flavour: UpstreamFlavour | None = None) -> None:
        self.upstream = upstream
        self.setup_headers = dict(setup_headers or {})
        self.flavour = flavour or UpstreamFlavour(upstream, setup_headers)
        self._warned_server_on_elasticsearch = False
        self._has_neural: bool | None = None
        self._pipelines: set[str] = set()
        self._full = False
        self._lock = threading.Lock()

    # ---- mode ----------------------------------------------------------------------------
    def mode(self, requested: str, headers: Mapping[str, str]) -> str:
        if requested != "auto":
            return requested
        if self._has_neural is None:
            try:
                status, plugins = self.upstream.json("GET", "/_cat/plugins?format=json", None, headers)
                self._has_neural = status == 200 and has_neural_search(plugins)
            except SearchError:
                return "client"
        return "server" if self._has_neural else "client"

    def ensure_pipeline(self, fusion: FusionConfig, headers: Mapping[str, str]) -> str | None:
        """Create the sidecar's search pipeline once; None when that is not allowed (use client mode)."""
        name = pipeline_name(fusion)
        if name in self._pipelines:
            return name
        with self._lock:
            if len(self._pipelines) >= MAX_PIPELINES:
                if not self._full:
                    log.warning("%d search pipelines created; further fusions are done client-side", MAX_PIPELINES)
                    self._full = True
                return None
            creds = self.setup_headers or headers
            status, _ = self.upstream.json("GET", f"/_search/pipeline/{name}", None, creds)
            if status != 200:
                status, answer = self.upstream.json("PUT", f"/_search/pipeline/{name}", pipeline_body(fusion), creds)
                if status >= 300:
                    log.warning("cannot create search pipeline %s (status %s); using client-side fusion", name,
                                status)
                    return None
            self._pipelines.add(name)
        return name

    # ---- retrieval -----------------------------------------------------------------------
    def retrieve(self, request: FirstStageRequest, mode: str, headers: Mapping[str, str]) -> FirstStageResult:
        if request.vector is None:
            return self._lexical(request, headers)
        elasticsearch = self.flavour.is_elasticsearch()
        if mode == "server" and elasticsearch:
            self._warn_server_on_elasticsearch()
        elif mode == "server":
            name = self.ensure_pipeline(request.fusion, headers)
            if name is not None:
                try:
                    return self._server(request, name, headers)
                except UpstreamRefused as exc:
                    if not _pipeline_missing(exc, name):
                        raise
                    # deleted on the cluster since: create it again and retry once
                    log.warning("search pipeline %s is gone from the cluster; creating it again", name)
                    with self._lock:
                        self._pipelines.discard(name)
                    name = self.ensure_pipeline(request.fusion, headers)
                    if name is not None:
                        return self._server(request, name, headers)
        return self._client(request, headers, elasticsearch)

    def _warn_server_on_elasticsearch(self) -> None:
        if not self._warned_server_on_elasticsearch:
            self._warned_server_on_elasticsearch = True
            log.warning("server retrieval needs OpenSearch's neural-search (hybrid query, search pipelines); the "
                        "upstream is Elasticsearch: using client-side fusion")

    def _server(self, request: FirstStageRequest, pipeline: str, headers: Mapping[str, str]) -> FirstStageResult:
        # search pipelines apply to _search only (an _msearch header cannot name one)
        hybrid = {"hybrid": {"queries": [request.lexical_query, request.knn_query()],
                             "pagination_depth": request.depth}}
        params = {**{k: v for k, v in request.params.items() if k in FORWARDED_PARAMS}, "search_pipeline": pipeline}
        main = self._search(request.index, params, request.leg_body(hybrid, True), headers)
        # the hybrid query counts the k-NN leg's documents too: total and aggregations come from the client's
        # own query, as the cluster answers it
        summary = self._search(request.index, request.params, request.summary_body, headers)
        candidates = [Candidate(hit, float(hit.get("_score") or 0.0), rank)
                      for rank, hit in enumerate(main["hits"]["hits"], start=1)]
        return FirstStageResult(candidates, summary["hits"].get("total"), summary.get("_shards", {}),
                          bool(main.get("timed_out") or summary.get("timed_out")), summary.get("aggregations"),
                          "server")

    def _lexical(self, request: FirstStageRequest, headers: Mapping[str, str]) -> FirstStageResult:
        """No vector field: the candidates are the lexical query's own top hits, in its order and scores."""
        items = [({}, request.leg_body(request.lexical_query, True))]
        if request.wants_aggregations:
            items.append(({}, request.summary_body))
        answers = self._msearch(request, items, headers)
        lexical = answers[0]
        candidates = [Candidate(hit, float(hit.get("_score") or 0.0), rank)
                      for rank, hit in enumerate(lexical["hits"]["hits"], start=1)]
        return FirstStageResult(candidates, lexical["hits"].get("total"), lexical.get("_shards", {}),
                          bool(lexical.get("timed_out")), answers[1].get("aggregations") if len(answers) > 1 else None,
                          "lexical")

    def fetch_hits(self, index: str, ids: Sequence[tuple[str, str]], *, lexical_query: dict[str, Any],
                   source: Any, hit_options: Mapping[str, Any], params: Mapping[str, str],
                   headers: Mapping[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
        """The hits of documents a shared window ranked, by (_index, _id), fetched with the caller's credentials.

        The lexical query rides along as an optional clause so that highlighting marks the query's terms; the
        `ids` filter alone decides what matches. A document deleted since (or no longer visible) is absent."""
        if not ids:
            return {}
        options = {k: v for k, v in hit_options.items() if k not in NOT_FOR_FETCH}
        body = {**options, "size": min(MAX_RESULT_WINDOW, 2 * len(ids)), "track_total_hits": False, "_source": source,
                "query": {"bool": {"filter": [{"ids": {"values": sorted({doc_id for _, doc_id in ids})}}],
                                   "should": [lexical_query]}}}
        answer = self._search(index, params, body, headers)
        wanted = set(ids)
        return {(hit["_index"], hit["_id"]): hit for hit in answer["hits"]["hits"]
                if (hit.get("_index"), hit.get("_id")) in wanted}

    def _search(self, index: str, params: Mapping[str, str], body: dict[str, Any],
                headers: Mapping[str, str]) -> dict[str, Any]:
        query = urlencode(dict(params))
        status, answer = self.upstream.json("POST", f"{index_path(index)}/_search" + (f"?{query}" if query else ""),
                                            body, headers)
        if status >= 300:
            raise UpstreamRefused(status, answer)
        return checked_search_answer(answer)

    def _client(self, request: FirstStageRequest, headers: Mapping[str, str],
                elasticsearch: bool = False) -> FirstStageResult:
        lexical_body = request.leg_body(request.lexical_query, True)
        items = [({}, lexical_body), ({}, request.leg_body(request.knn_query(elasticsearch), False))]
        if request.wants_aggregations:
            items.append(({}, request.summary_body))
        answers = self._msearch(request, items, headers)
        lexical, vector = answers[0], answers[1]
        hits: dict[tuple[str, str], dict[str, Any]] = {}
        legs = []
        for answer in (lexical, vector):
            leg = []
            for hit in answer["hits"]["hits"]:
                key = (hit["_index"], hit["_id"])
                hits.setdefault(key, hit)  # the lexical hit carries highlight and fields
                leg.append((key, float(hit.get("_score") or 0.0)))
            legs.append(leg)
        fused = fuse(legs, request.fusion)[: request.depth]
        candidates = [Candidate(hits[key], float(score), rank) for rank, (key, score) in enumerate(fused, start=1)]
        # the lexical leg is the client's query (post_filter included) with its total options: its total is the
        # cluster's own for the client's request, whatever the depth
        total = lexical["hits"].get("total")
        return FirstStageResult(candidates, total, lexical.get("_shards", {}), bool(lexical.get("timed_out")),
                          answers[2].get("aggregations") if len(answers) > 2 else None, "client")

    def _msearch(self, request: FirstStageRequest, items: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                 headers: Mapping[str, str]) -> list[dict[str, Any]]:
        """All stage-1 searches in one round trip; any failed item fails stage 1 with the cluster's answer."""
        lines = []
        for extra, body in items:
            header = {"index": request.index, **_header_params(request.params), **extra}
            lines += [json.dumps(header), json.dumps(body)]
        payload = ("\n".join(lines) + "\n").encode()
        query = urlencode({k: v for k, v in request.params.items() if k == "timeout"})
        path = "/_msearch" + (f"?{query}" if query else "")
        status, answer = self.upstream.json("POST", path, payload, {**headers, "Content-Type": "application/x-ndjson"})
        if status >= 300:
            raise UpstreamRefused(status, answer)
        responses = answer.get("responses", []) if isinstance(answer, dict) else None
        if not isinstance(responses, list):
            raise UpstreamMalformedResponse("malformed response from upstream: an _msearch answer without "
                                            "[responses]")
        for item in responses:
            if isinstance(item, dict) and "error" in item:
                status = item.get("status")
                raise UpstreamRefused(status if isinstance(status, int) and 400 <= status < 600 else 500, dict(item))
            checked_search_answer(item)
        if len(responses) != len(items):
            raise UpstreamRefused(502, {"error": {"root_cause": [], "type": "upstream_exception",
                                                 "reason": "the cluster answered stage 1 with too few responses"},
                                       "status": 502})
        return responses


def checked_search_answer(answer: Any) -> dict[str, Any]:
    """A search answer whose hits stage 1 can use; anything else from the cluster is a 502, not a crash."""
    hits = answer.get("hits") if isinstance(answer, dict) else None
    found = hits.get("hits") if isinstance(hits, dict) else None
    if not isinstance(found, list) or not all(
            isinstance(h, dict) and isinstance(h.get("_id"), str) and isinstance(h.get("_index"), str)
            and isinstance(h.get("_score", 0.0), int | float | None) for h in found):
        raise UpstreamMalformedResponse("malformed response from upstream: a search answer without "
                                        "[hits.hits] of documents")
    return answer


def num_candidates(k: int) -> int:
    """Elasticsearch's HNSW candidates per shard for a k-NN leg of `k`: twice k (at least 100), at most its cap."""
    return min(MAX_NUM_CANDIDATES, max(2 * k, 100))


def _header_params(params: Mapping[str, str]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k in FORWARDED_PARAMS and k != "timeout"}


def _pipeline_missing(exc: UpstreamRefused, name: str) -> bool:
    return exc.status in (400, 404) and f"Pipeline {name} is not defined" in exc.reason


def index_path(index: str) -> str:
    return "/" + quote(index, safe=",*")

"""localsearch, a real OpenSearch node and a real Elasticsearch node side by side: one BM25, k-NN and hybrid
workload in one run, and the sidecar's reranked search in front of each.

    .venv/bin/python bench/engines.py --queries 300 --opensearch http://127.0.0.1:9250 \\
        --elasticsearch http://127.0.0.1:9260

1. SciFact's 5,183 abstracts (read from the shared data folder, never copied) are embedded once with
   all-MiniLM-L6-v2 and written into every engine by the project's ingest job (`ingest.run.run_job` with the
   client `rerank-sidecar ingest` connects with: opensearch-py, or the official elasticsearch client for
   Elasticsearch, where the vectors go into a `dense_vector` field), so all engines hold the same documents with
   the very same vectors: whatever differs below is the engines, not the embedding.
2. BM25 `match`, k-NN (k = 10: the k-NN plugin's `knn` query; on Elasticsearch its top-level `knn` section with
   the sidecar's `num_candidates`) and the neural-search `hybrid` query (a min_max + arithmetic_mean
   normalization-processor pipeline; once as clients send it, once with `track_total_hits: false`) are timed on
   each engine with SciFact's test claims as queries, 10 hits, over HTTP with one keep-alive session per engine.
   Elasticsearch has no `hybrid` query (no neural-search, and the reference node lacks the rank-rrf module): its
   hybrid rows are n/a. Each engine is warmed up first (with train claims, so the timed queries are not cached);
   the order of the engines rotates from query to query (A B C, B C A, C A B, ...) so machine noise hits all.
3. The engines' top-10s are compared per query type (each against OpenSearch, and Elasticsearch against
   localsearch); for k-NN each engine's recall@10 against exact search over the same vectors says which strays.
4. `rerank-sidecar serve` (gunicorn) in front of each engine, same cross-encoder, same window, score and window
   caches off, the same claims as `match` searches, rotating again: the reranked-search latency end to end, how
   far the reranked top-10s agree, and every answer's X-Rerank-Status.

Without --opensearch or $OPENSEARCH_URL (--elasticsearch or $ELASTICSEARCH_URL) a node is started on a free port
(deploy/nodes) and stopped at the end; --no-elasticsearch leaves Elasticsearch out. Indices and the pipeline are
named bench-engines-<random> and deleted at the end. Writes bench/out/engines.json and bench/out/engines.png.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")        # models come from packages and folders, never the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RERANK_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from bench.rerank_sidecar import _cli, running  # noqa: E402
from ingest.connect import ConnectionOptions, connect  # noqa: E402
from ingest.corpora import scifact_documents, scifact_folder  # noqa: E402
from ingest.documents import FieldMapping, embed_text  # noqa: E402
from ingest.embed import SentenceEmbedder  # noqa: E402
from ingest.records import SourceRecord  # noqa: E402
from ingest.run import IngestJob, run_job  # noqa: E402
from searchcore.contract import HnswSettings  # noqa: E402
from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402
from searchcore.models import DEFAULT_BI_ENCODER, model_candidates  # noqa: E402
from sidecar.retrieve import num_candidates  # noqa: E402

OUT = REPO / "bench" / "out"
LABELS = {"localsearch": "localsearch", "opensearch": "OpenSearch", "elasticsearch": "Elasticsearch"}
SHORT = {"localsearch": "local", "opensearch": "OS", "elasticsearch": "ES"}
REFERENCE = "opensearch"  # latency ratios and top-10 agreement are taken against the real OpenSearch node
# hybrid_nototal: the hybrid query with track_total_hits false, which shows what counting the total costs
QUERY_TYPES = ("bm25", "knn", "hybrid", "hybrid_nototal")
HYBRID_NA = ("Elasticsearch has no `hybrid` query (neural-search is an OpenSearch plugin) and the reference node "
             "has no rank-rrf module for an `rrf` retriever")
HITS = 10
WARMUP_QUERIES = 100  # per query type and engine: a JVM needs a few hundred requests to settle
SIDECAR_WARMUP_QUERIES = 10
# The reference node's k-NN plugin has no native libraries: faiss (or a field without a method) kills it.
KNN_ENGINE = "lucene"
VECTOR_FIELD = "embedding"


# ---- corpus and queries ----------------------------------------------------------------------------------------
class ScifactSource:
    """SciFact's abstracts as an ingest source, straight from the shared folder (no file written anywhere)."""

    description = "SciFact corpus (beir-scifact/corpus_train.csv)"
    default_id_field = "_id"
    default_text_fields = ("title", "text")

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents

    def records(self, start: int = 0) -> Iterator[SourceRecord]:
        for position in range(start, len(self.documents)):
            doc = self.documents[position]
            yield SourceRecord(position=position, where=f"doc {doc['_id']}", fields=doc)

    def estimate_total(self) -> int | None:
        return len(self.documents)

    def fingerprint(self) -> dict[str, Any]:
        return {"scifact_documents": len(self.documents)}


class PrecomputedEmbedder:
    """Hands the ingest job vectors computed once, so both engines get identical ones (and embedding, the slow
    part of ingest, is paid once)."""

    def __init__(self, texts: list[str], vectors: np.ndarray, fallback: SentenceEmbedder) -> None:
        self.rows = {text: row for row, text in enumerate(texts)}
        self.vectors = vectors
        self.fallback = fallback
        self.dimension = fallback.dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        if all(text in self.rows for text in texts):
            return self.vectors[[self.rows[text] for text in texts]]
        return self.fallback.embed(texts)


def claims(folder: Path) -> tuple[list[str], list[str]]:
    """The 300 test claims (BEIR's queries), then the train claims: queries to time, and warm-up queries."""
    with gzip.open(folder / "topics.beir-v1.0.0-scifact.test.tsv.gz", "rt", encoding="utf-8") as handle:
        test = [line.rstrip("\n").split("\t", 1)[1] for line in handle if line.strip()]
    with (folder / "claims_train.csv").open(encoding="utf-8", newline="") as handle:
        train = list(dict.fromkeys(row["claim"] for row in csv.DictReader(handle)))
    return test, train


def embed_corpus(embedder: SentenceEmbedder, texts: list[str], model: str) -> np.ndarray:
    """Unit vectors for `texts`, cached under bench/out by a digest of model and texts (a rerun skips minutes)."""
    digest = hashlib.sha256("\n".join([model, *texts]).encode()).hexdigest()[:16]
    cache = OUT / f"engines-vectors-{digest}.npy"
    if cache.exists():
        print(f"corpus vectors from {cache.relative_to(REPO)}")
        return np.load(cache)
    batch = 256
    parts = [embedder.embed(texts[i:i + batch])
             for i in tqdm(range(0, len(texts), batch), desc="embed corpus", unit="batch")]
    vectors = np.concatenate(parts)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


# ---- engines ---------------------------------------------------------------------------------------------------
@dataclass
class Engine:
    name: str
    url: str
    session: requests.Session = field(default_factory=requests.Session)
    version: str = ""
    elasticsearch: bool = False  # the engine speaks Elasticsearch's dialect (top-level `knn`, no `hybrid`)

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    def supports(self, kind: str) -> bool:
        return not (self.elasticsearch and kind.startswith("hybrid"))

    def request(self, method: str, path: str, body: Any = None, **params: str) -> dict[str, Any]:
        response = self.session.request(method, self.url + path, json=body, params=params, timeout=300)
        if response.status_code >= 300:
            raise RuntimeError(f"{self.name}: {method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def search(self, index: str, body: bytes, params: dict[str, str]) -> tuple[float, dict[str, Any]]:
        """One timed search; the body is serialized beforehand, so only the request and its answer count."""
        started = time.perf_counter()
        response = self.session.post(f"{self.url}/{index}/_search", data=body, params=params, timeout=300,
                                     headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{self.name}: search answered {response.status_code}: {response.text[:500]}")
        return elapsed, response.json()


@contextlib.contextmanager
def localsearch_engine(workdir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(_cli("localsearch", "--data", str(workdir / "localsearch"), "--port", str(port),
                      log=workdir / "localsearch.log")) as process:
        wait_until_ready(url + "/", process, timeout=120, ready=ok)
        yield url


@contextlib.contextmanager
def java_node_engine(url: str | None, engine_module: str, flag: str) -> Iterator[str]:
    """The given cluster, or a node of our own on a free port, stopped (and its data removed) at the end.

    The node is started through deploy/nodes' functions rather than `opensearch.py start`/`stop` (or
    `elasticsearch.py`): those keep one state file per nodes folder, and a second `start` there would overwrite the
    one of a node other developers share (their `stop` would then find nothing to stop).
    """
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO / "deploy" / "nodes"))
    import importlib

    import javanode

    spec = getattr(importlib.import_module(engine_module), engine_module.upper())
    label = LABELS[engine_module]
    home = Path(os.environ.get("RERANK_NODES_DIR", javanode.DEFAULT_HOME)).resolve()
    print(f"no --{flag} and no ${spec.url_variable}: starting an {label} {spec.version} node", flush=True)
    try:
        node = javanode.start(spec, home=home, port=free_port())
    except (javanode.NodeUnavailable, javanode.NodeFailed) as exc:
        hint = " (or leave it out with --no-elasticsearch)" if engine_module == "elasticsearch" else ""
        raise SystemExit(f"cannot start an {label} node: {exc}\npass --{flag} URL{hint}") from exc
    try:
        yield node.url
    finally:
        javanode.stop_pid(node.pid)
        shutil.rmtree(node.run_dir, ignore_errors=True)
        print(f"stopped the {label} node at {node.url}", flush=True)


def identify(engine: Engine) -> None:
    """The engine's flavour and version, read as ingest reads them (an Elasticsearch node without the rest-root
    module answers `GET /` with 405, so its version comes from `_nodes/_local`)."""
    client, flavour = connect(ConnectionOptions(url=engine.url, timeout=300))
    client.close()
    engine.elasticsearch = flavour.is_elasticsearch
    engine.version = flavour.version or "?"
    expected = engine.name == "elasticsearch"
    if engine.elasticsearch != expected:
        raise SystemExit(f"{engine.url} is {flavour.describe()}, not {engine.label}: check --{engine.name}")


def ingest(engine: Engine, index: str, source: ScifactSource, embedder: PrecomputedEmbedder, workdir: Path) -> None:
    """The ingest job with the client `rerank-sidecar ingest` uses for this engine (opensearch-py, or the
    elasticsearch client: the vectors then go into a `dense_vector` field indexed with HNSW, not quantized)."""
    client, _flavour = connect(ConnectionOptions(url=engine.url, timeout=300))
    # Elasticsearch indexes dense_vector with Lucene's HNSW and takes no k-NN engine: the default settings
    hnsw = HnswSettings() if engine.elasticsearch else HnswSettings(engine=KNN_ENGINE)
    job = IngestJob(index=index, model=DEFAULT_BI_ENCODER, mapping=FieldMapping(id_field="_id",
                                                                                 text_fields=("title", "text")),
                    hnsw=hnsw, pipeline=None, dead_letter_path=workdir / f"dead-letters-{engine.name}.jsonl")
    print(f"ingest into {engine.label} ({engine.url}/{index})", flush=True)
    try:
        summary = run_job(job, source, client, embedder)
        count = client.count(index=index)["count"]
    finally:
        client.close()
    if summary.failed or count != len(source.documents):
        raise SystemExit(f"ingest into {engine.label}: {summary.failed} failed, {count} of "
                         f"{len(source.documents)} documents in the index (dead letters: {job.dead_letter_path})")
    print(f"  {count} documents in {summary.elapsed_s:.0f} s", flush=True)


# ---- the workload ----------------------------------------------------------------------------------------------
def query_body(kind: str, text: str, vector: np.ndarray, elasticsearch: bool = False) -> dict[str, Any]:
    floats = [round(float(v), 6) for v in vector]
    # what a search page asks for: the stored fields, not the 384 floats of the vector
    body: dict[str, Any] = {"size": HITS, "_source": {"excludes": [VECTOR_FIELD]}}
    if elasticsearch:
        if kind.startswith("hybrid"):
            raise ValueError(HYBRID_NA)
        if kind == "knn":  # the top-level kNN section, with the candidates the sidecar's k-NN leg asks for
            body["knn"] = {"field": VECTOR_FIELD, "query_vector": floats, "k": HITS,
                           "num_candidates": num_candidates(HITS)}
        else:
            body["query"] = {"match": {"text": text}}
        return body
    match = {"match": {"text": text}}
    knn = {"knn": {VECTOR_FIELD: {"vector": floats, "k": HITS}}}
    hybrid = {"hybrid": {"queries": [match, knn]}}
    body["query"] = {"bm25": match, "knn": knn, "hybrid": hybrid, "hybrid_nototal": hybrid}[kind]
    if kind == "hybrid_nototal":
        body["track_total_hits"] = False
    return body


def rotation(items: list[Any], i: int) -> list[Any]:
    """Query i's order: A B C, B C A, C A B, ... (A B, B A with two), so each engine takes each place alike."""
    shift = i % len(items)
    return items[shift:] + items[:shift]


def run_workload(engines: list[Engine], index: str, pipeline: str, texts: list[str], vectors: np.ndarray,
                 warmup_texts: list[str], warmup_vectors: np.ndarray) -> dict[str, dict[str, list[dict]]]:
    """Per query type and engine that has it, one record per query: seconds, the engine's `took`, ids, scores."""
    results: dict[str, dict[str, list[dict]]] = {kind: {e.name: [] for e in engines if e.supports(kind)}
                                                 for kind in QUERY_TYPES}
    for kind in QUERY_TYPES:
        params = {"search_pipeline": pipeline} if kind.startswith("hybrid") else {}
        taking = [e for e in engines if e.supports(kind)]
        for engine in taking:
            for text, vector in zip(warmup_texts, warmup_vectors, strict=True):
                engine.search(index, json.dumps(query_body(kind, text, vector, engine.elasticsearch)).encode(),
                              params)
        for i in tqdm(range(len(texts)), desc=f"{kind:6} {len(taking)} engines", unit="q"):
            bodies = {flavour: json.dumps(query_body(kind, texts[i], vectors[i], flavour)).encode()
                      for flavour in {e.elasticsearch for e in taking}}
            for engine in rotation(taking, i):
                seconds, answer = engine.search(index, bodies[engine.elasticsearch], params)
                hits = answer["hits"]["hits"]
                results[kind][engine.name].append({"seconds": seconds, "took_ms": answer.get("took"),
                                                   "ids": [h["_id"] for h in hits],
                                                   "scores": [h["_score"] for h in hits]})
    return results


def latency(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def agreement(a: list[list[str]], b: list[list[str]]) -> dict[str, float]:
    """How alike two engines' top-10s are, query by query."""
    overlap = [len(set(x) & set(y)) / HITS for x, y in zip(a, b, strict=True)]
    same_rank = [sum(p == q for p, q in zip(x, y, strict=False)) / HITS for x, y in zip(a, b, strict=True)]
    return {"overlap_at_10": float(np.mean(overlap)), "overlap_min": float(np.min(overlap)),
            "same_rank": float(np.mean(same_rank)),
            "same_top1": float(np.mean([bool(x) and bool(y) and x[0] == y[0] for x, y in zip(a, b, strict=True)])),
            "identical_lists": float(np.mean([x == y for x, y in zip(a, b, strict=True)]))}


def score_gap(a: list[dict], b: list[dict]) -> float:
    """Median relative difference of the two engines' scores for the documents both returned."""
    gaps = []
    for x, y in zip(a, b, strict=True):
        theirs = dict(zip(y["ids"], y["scores"], strict=True))
        gaps += [abs(s - theirs[d]) / max(abs(theirs[d]), 1e-9) for d, s in zip(x["ids"], x["scores"], strict=True)
                 if d in theirs]
    return float(np.median(gaps)) if gaps else float("nan")


def exact_knn(doc_ids: list[str], doc_vectors: np.ndarray, query_vectors: np.ndarray) -> list[list[str]]:
    top = np.argsort(-(query_vectors @ doc_vectors.T), axis=1)[:, :HITS]
    return [[doc_ids[j] for j in row] for row in top]


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / HITS for f, e in zip(found, exact, strict=True)]))


# ---- the sidecar in front of each engine -----------------------------------------------------------------------
def find_reranker(name: str) -> str | None:
    """A local folder for the cross-encoder (a path, or a folder under $RERANK_MODELS_DIR), else None."""
    return next((c for c in model_candidates(name) if Path(c).is_dir()), None)


@contextlib.contextmanager
def sidecar(engine: Engine, workdir: Path, reranker: str, window: int) -> Iterator[str]:
    # caches off: every timed search costs its full inference, as a first search of a query does
    config = {"score_cache_entries": 0, "window_cache_ttl_s": 0, "embedding_cache_entries": 0,
              "defaults": {"window": window, "max_window": window, "budget_ms": 600_000}}
    path = workdir / f"sidecar-{engine.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(_cli("serve", "--opensearch", engine.url, "--port", str(port), "--config", str(path),
                      "--reranker", reranker, "--workers", "1", log=workdir / f"sidecar-{engine.name}.log")) as process:
        wait_until_ready(url + "/-/ready", process, timeout=900, ready=ok)
        yield url


# the sidecar's own timings (Prometheus histograms on /metrics): where a reranked search spends its time
STAGE_METRICS = {"rerank_sidecar_stage_duration_seconds": "stage", "rerank_sidecar_upstream_duration_seconds":
                 "endpoint"}


def stage_sums(front: Engine) -> dict[str, list[float]]:
    """[seconds, count] per stage (embed, retrieve, rerank, total) and per upstream endpoint, so far."""
    sums: dict[str, list[float]] = {}
    try:
        text = front.session.get(f"{front.url}/metrics", timeout=30).text
    except requests.RequestException:
        return sums
    for line in text.splitlines():
        for metric, label in STAGE_METRICS.items():
            for suffix, slot in (("_sum{", 0), ("_count{", 1)):
                if line.startswith(metric + suffix) and f'{label}="' in line:
                    name = line.split(f'{label}="', 1)[1].split('"', 1)[0]
                    key = f"{label}:{name}"
                    sums.setdefault(key, [0.0, 0.0])[slot] += float(line.rsplit(" ", 1)[1])
    return sums


def stage_means(before: dict[str, list[float]], after: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Mean milliseconds and count per stage between two scrapes (the timed searches only, not the warm-up)."""
    means = {}
    for key, (seconds, count) in sorted(after.items()):
        if key == "endpoint:root":  # the sidecar's pings for /-/ready and /metrics themselves, not the searches'
            continue
        seconds -= before.get(key, [0.0, 0.0])[0]
        count -= before.get(key, [0.0, 0.0])[1]
        if count > 0:
            means[key] = {"mean_ms": 1000 * seconds / count, "count": count}
    return means


def run_sidecars(engines: list[Engine], index: str, workdir: Path, reranker: str, window: int,
                 texts: list[str], warmup_texts: list[str]) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Each query's reranked search through the sidecar in front of every engine (order rotating); and per engine,
    what its sidecar's /-/ready said about the upstream at the end and the mean time per stage of the timed
    searches (from its /metrics)."""
    results: dict[str, list[dict]] = {e.name: [] for e in engines}
    ready: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        fronts = []
        for engine in engines:  # one after the other: the first exports the ONNX model, the others reuse it
            print(f"starting the sidecar in front of {engine.label} (reranker {reranker}, window {window})",
                  flush=True)
            fronts.append(Engine(f"sidecar+{engine.name}", stack.enter_context(sidecar(engine, workdir, reranker,
                                                                                       window))))
        def body(text: str) -> bytes:
            return json.dumps({"size": HITS, "query": {"match": {"text": text}}, "_source": False}).encode()
        for front in fronts:
            for text in warmup_texts[:SIDECAR_WARMUP_QUERIES]:
                front.search(index, body(text), {})
        pairs = list(zip(fronts, engines, strict=True))
        before = {engine.name: stage_sums(front) for front, engine in pairs}
        for i in tqdm(range(len(texts)), desc=f"sidecar {len(engines)} engines", unit="q"):
            for front, engine in rotation(pairs, i):
                started = time.perf_counter()
                response = front.session.post(f"{front.url}/{index}/_search", data=body(texts[i]), timeout=900,
                                              headers={"Content-Type": "application/json"})
                seconds = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{front.name}: {response.status_code}: {response.text[:500]}")
                results[engine.name].append({"seconds": seconds,
                                             "status": response.headers.get("X-Rerank-Status", "?"),
                                             "ids": [h["_id"] for h in response.json()["hits"]["hits"]]})
        for front, engine in pairs:
            with contextlib.suppress(requests.RequestException, ValueError):
                answer = front.session.get(f"{front.url}/-/ready", timeout=30).json()
                ready[engine.name] = {key: answer.get(key) for key in ("ready", "upstream", "index_problems")}
            ready.setdefault(engine.name, {})["stages"] = stage_means(before[engine.name], stage_sums(front))
    return results, ready


# ---- report ----------------------------------------------------------------------------------------------------
def pairs_of(names: list[str]) -> list[tuple[str, str]]:
    """The engine pairs compared: each engine against OpenSearch, and Elasticsearch against localsearch."""
    pairs = [(name, REFERENCE) for name in names if name != REFERENCE and REFERENCE in names]
    if "elasticsearch" in names and "localsearch" in names:
        pairs.append(("elasticsearch", "localsearch"))
    return pairs


def pair_key(a: str, b: str) -> str:
    return f"{a}/{b}"


def with_ratios(per_engine: dict[str, Any]) -> dict[str, Any]:
    """Each engine's p50 and p99 over OpenSearch's, measured side by side: `ratios["elasticsearch/opensearch"]`."""
    names = [name for name in per_engine if name != REFERENCE]
    if REFERENCE in per_engine:
        ref = per_engine[REFERENCE]
        per_engine["ratios"] = {pair_key(name, REFERENCE): {"p50": per_engine[name]["p50_ms"] / ref["p50_ms"],
                                                            "p99": per_engine[name]["p99_ms"] / ref["p99_ms"]}
                                for name in names}
    return per_engine


def summarize(engines: list[Engine], results: dict[str, dict[str, list[dict]]], exact: list[list[str]],
              sidecar_results: dict[str, list[dict]] | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"latency": {}, "agreement": {}, "not_run": {}}
    for kind in QUERY_TYPES:
        rows_by_engine = results[kind]
        summary["latency"][kind] = with_ratios({
            name: {**latency([r["seconds"] for r in rows]),
                   "took_p50_ms": float(np.percentile([r["took_ms"] or 0 for r in rows], 50))}
            for name, rows in rows_by_engine.items()})
        summary["agreement"][kind] = {
            pair_key(a, b): {**agreement([r["ids"] for r in rows_by_engine[a]], [r["ids"] for r in rows_by_engine[b]]),
                             "score_gap_median": score_gap(rows_by_engine[a], rows_by_engine[b])}
            for a, b in pairs_of(list(rows_by_engine))}
        missing = [e.name for e in engines if e.name not in rows_by_engine]
        if missing:
            summary["not_run"][kind] = {name: HYBRID_NA for name in missing}
    summary["knn_recall_vs_exact"] = {name: recall([r["ids"] for r in rows], exact)
                                      for name, rows in results["knn"].items()}
    if sidecar_results:
        per_engine = {name: {**latency([r["seconds"] for r in rows]),
                             "statuses": {s: sum(r["status"] == s for r in rows)
                                          for s in sorted({r["status"] for r in rows})}}
                      for name, rows in sidecar_results.items()}
        summary["sidecar"] = {"latency": with_ratios(per_engine), "agreement": {
            pair_key(a, b): agreement([r["ids"] for r in sidecar_results[a]], [r["ids"] for r in sidecar_results[b]])
            for a, b in pairs_of(list(sidecar_results))}}
    return summary


def pair_label(key: str) -> str:
    a, b = key.split("/")
    return f"{LABELS[a]} vs {LABELS[b]}"


def print_report(summary: dict[str, Any], engines: list[Engine], queries: int, sidecar_note: str) -> None:
    names = [e.name for e in engines]
    others = [name for name in names if name != REFERENCE]
    print(f"\nSciFact (5,183 abstracts, all-MiniLM-L6-v2), {queries} claims per query type, {HITS} hits; "
          + ", ".join(f"{e.label} {e.version}" if e.name != "localsearch" else e.label for e in engines))
    head = f"{'query':15}" + "".join(f" {LABELS[n] + ' p50/p99 ms':>26}" for n in names)
    head += "".join(f" {SHORT[n] + '/' + SHORT[REFERENCE] + ' p50/p99':>16}" for n in others)
    print(head)
    for kind in QUERY_TYPES:
        lat = summary["latency"][kind]
        line = f"{kind:15}"
        for name in names:
            line += (f" {lat[name]['p50_ms']:15.2f} / {lat[name]['p99_ms']:7.2f}" if name in lat
                     else f" {'n/a':>26}")
        for name in others:
            ratio = lat.get("ratios", {}).get(pair_key(name, REFERENCE))
            line += f" {ratio['p50']:9.2f} / {ratio['p99']:4.2f}" if ratio else f" {'n/a':>16}"
        print(line)
    print("engines' own `took` p50 (ms): " + "; ".join(
        f"{kind} " + ", ".join(f"{LABELS[n]} {v['took_p50_ms']:.0f}" for n, v in summary["latency"][kind].items()
                               if n in LABELS) for kind in QUERY_TYPES))
    for kind, missing in summary["not_run"].items():
        print(f"{kind}: n/a on {', '.join(LABELS[n] for n in missing)}: {next(iter(missing.values()))}")
    print(f"\n{'query':15} {'engines':32} {'overlap@10 (min)':>17} {'same rank':>9} {'same top1':>9}"
          f" {'identical':>9} {'score gap':>9}")
    for kind in QUERY_TYPES:
        for key, agr in summary["agreement"][kind].items():
            print(f"{kind:15} {pair_label(key):32} {agr['overlap_at_10']:10.3f} ({agr['overlap_min']:.1f})"
                  f" {agr['same_rank']:9.3f} {agr['same_top1']:9.3f} {agr['identical_lists'] * queries:6.0f}/{queries}"
                  f" {agr['score_gap_median']:9.2g}")
    recall_line = ", ".join(f"{LABELS[name]} {value:.4f}" for name, value in summary["knn_recall_vs_exact"].items())
    print(f"k-NN recall@10 against exact search over the same vectors: {recall_line}")
    if "sidecar" not in summary:
        print(f"sidecar: {sidecar_note}")
        return
    side = summary["sidecar"]
    searches = sum(side["latency"][names[0]]["statuses"].values())
    print(f"\nsidecar reranked search ({sidecar_note})")
    for name in names:
        lat = side["latency"][name]
        print(f"  in front of {LABELS[name]:14} p50 {lat['p50_ms']:8.1f} ms  p99 {lat['p99_ms']:8.1f} ms"
              f"  X-Rerank-Status {lat['statuses']}")
    print("  mean ms per search by stage (the sidecar's /metrics; upstream: each call to the engine):")
    for name in names:
        stages = side.get("per_engine", {}).get(name, {}).get("stages", {})
        print(f"    {LABELS[name]:14} " + ", ".join(
            f"{key.split(':', 1)[1]} {value['mean_ms']:.1f}" + (f" (x{value['count'] / searches:.2g})"
                                                                 if key.startswith("endpoint:") else "")
            for key, value in stages.items()))
    for key, ratio in side["latency"].get("ratios", {}).items():
        print(f"  {pair_label(key):32} ratio p50 {ratio['p50']:.2f}, p99 {ratio['p99']:.2f}")
    for key, agr in side["agreement"].items():
        print(f"  {pair_label(key):32} reranked top-10 overlap {agr['overlap_at_10']:.3f} (min"
              f" {agr['overlap_min']:.1f}), same rank {agr['same_rank']:.3f},"
              f" identical {agr['identical_lists'] * searches:.0f}/{searches}")
    not_reranked = {LABELS[n]: {s: c for s, c in side["latency"][n]["statuses"].items() if s != "reranked"}
                    for n in names}
    not_reranked = {n: c for n, c in not_reranked.items() if c}
    if not_reranked:
        print(f"  WARNING: answers not fully reranked (X-Rerank-Status): {not_reranked}")
    else:
        print("  every sidecar answer was X-Rerank-Status: reranked")


COLORS = {"localsearch": "tab:blue", "opensearch": "tab:orange", "elasticsearch": "tab:green"}


def plot(summary: dict[str, Any], engines: list[Engine], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return
    names = [e.name for e in engines]
    panels = [("engine queries", list(QUERY_TYPES), lambda kind: summary["latency"][kind])]
    if "sidecar" in summary:
        panels.append(("sidecar, reranked search", ["reranked"], lambda _kind: summary["sidecar"]["latency"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels) + 1.5, 4.0),
                             gridspec_kw={"width_ratios": [len(p[1]) + 1 for p in panels]}, squeeze=False)
    width = 0.8 / len(names)
    for n, (ax, (title, kinds, stats)) in enumerate(zip(axes[0], panels, strict=True)):
        x = np.arange(len(kinds))
        for offset, name in enumerate(names):
            position = x + (offset - (len(names) - 1) / 2) * width
            color = COLORS.get(name, "tab:gray")
            present = [k for k in kinds if name in stats(k)]
            where = [position[kinds.index(k)] for k in present]
            ax.bar(where, [stats(k)[name]["p99_ms"] for k in present], width, color=color, alpha=0.35,
                   label=f"{LABELS[name]} p99")
            ax.bar(where, [stats(k)[name]["p50_ms"] for k in present], width, color=color,
                   label=f"{LABELS[name]} p50")
            for k in kinds:
                if name not in stats(k):
                    ax.text(position[kinds.index(k)], 0.5, "n/a", rotation=90, ha="center", va="bottom",
                            fontsize=7, color=color)
        ax.set_xticks(x, [kind.replace("_nototal", "\n(no total)") for kind in kinds])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("latency (ms)")
        ax.set_xlim(-0.8, len(kinds) - 0.2)
        ax.set_title(title)
        if n == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"SciFact, {' vs '.join(LABELS[n] for n in names)} (same vectors, one run)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- main ------------------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=300, help="SciFact test claims per query type (max 300)")
    parser.add_argument("--sidecar-queries", type=int, default=None,
                        help="reranked searches per engine (default: --queries); each costs a cross-encoder pass")
    parser.add_argument("--window", type=int, default=20, help="candidates the sidecar reranks (default 20)")
    parser.add_argument("--reranker", default="minilm-l2-dl20-ce",
                        help="cross-encoder: a path or a folder name under $RERANK_MODELS_DIR")
    parser.add_argument("--no-sidecar", action="store_true", help="skip the sidecar part")
    parser.add_argument("--opensearch", metavar="URL", default=os.environ.get("OPENSEARCH_URL"),
                        help="the OpenSearch cluster (default $OPENSEARCH_URL; without either, a node is started)")
    parser.add_argument("--elasticsearch", metavar="URL", default=os.environ.get("ELASTICSEARCH_URL"),
                        help="the Elasticsearch cluster (default $ELASTICSEARCH_URL; without either, a node is "
                             "started by deploy/nodes/elasticsearch.py's functions)")
    parser.add_argument("--no-elasticsearch", action="store_true",
                        help="leave Elasticsearch out: localsearch and OpenSearch only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not 1 <= args.queries <= 300:
        parser.error("--queries must be between 1 and 300 (SciFact has 300 test claims)")
    return args


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = scifact_folder()
    if folder is None:
        raise SystemExit("SciFact not found: set RERANK_DATA_ROOT or add ../shared/data/beir-scifact")
    reranker = None if args.no_sidecar else find_reranker(args.reranker)
    if args.no_sidecar:
        sidecar_note = "skipped (--no-sidecar)"
    elif reranker is None:
        sidecar_note = (f"skipped: no cross-encoder [{args.reranker}] found as a path or under "
                        f"RERANK_MODELS_DIR={os.environ['RERANK_MODELS_DIR']}")
    else:
        sidecar_note = f"reranker {args.reranker}, window {args.window}, caches off"
    if reranker is None:
        print(f"sidecar part {sidecar_note}", flush=True)

    documents = list(scifact_documents(folder))
    source = ScifactSource(documents)
    texts = [embed_text(doc, ("title", "text")) for doc in documents]
    test_claims, train_claims = claims(folder)
    query_texts, warmup_texts = test_claims[:args.queries], train_claims[:WARMUP_QUERIES]
    bi_encoder = SentenceEmbedder.load(DEFAULT_BI_ENCODER)
    doc_vectors = embed_corpus(bi_encoder, texts, DEFAULT_BI_ENCODER)
    query_vectors, warmup_vectors = bi_encoder.embed(query_texts), bi_encoder.embed(warmup_texts)
    exact = exact_knn([doc["_id"] for doc in documents], doc_vectors, query_vectors)

    suffix = uuid.uuid4().hex[:8]
    index, pipeline = f"bench-engines-{suffix}", f"bench-engines-hybrid-{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    code = code_version()  # taken as the engines start: the code they run
    load_before = os.getloadavg()
    sidecar_results, sidecar_ready = None, {}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        engines = [Engine("localsearch", stack.enter_context(localsearch_engine(workdir))),
                   Engine("opensearch", stack.enter_context(java_node_engine(args.opensearch, "opensearch",
                                                                             "opensearch")))]
        if not args.no_elasticsearch:
            engines.append(Engine("elasticsearch", stack.enter_context(
                java_node_engine(args.elasticsearch, "elasticsearch", "elasticsearch"))))
        for engine in engines:
            identify(engine)
            stack.callback(cleanup, engine, index, pipeline)
        embedder = PrecomputedEmbedder(texts, doc_vectors, bi_encoder)
        for engine in engines:
            ingest(engine, index, source, embedder, workdir)
            if engine.supports("hybrid"):
                engine.request("PUT", f"/_search/pipeline/{pipeline}", {"phase_results_processors": [
                    {"normalization-processor": {"normalization": {"technique": "min_max"},
                                                 "combination": {"technique": "arithmetic_mean"}}}]})
        results = run_workload(engines, index, pipeline, query_texts, query_vectors, warmup_texts, warmup_vectors)
        if reranker is not None:
            sidecar_texts = query_texts[:args.sidecar_queries or args.queries]
            sidecar_results, sidecar_ready = run_sidecars(engines, index, workdir, reranker, args.window,
                                                          sidecar_texts, train_claims[WARMUP_QUERIES:])
    load_after = os.getloadavg()

    summary = summarize(engines, results, exact, sidecar_results)
    if "sidecar" in summary:
        summary["sidecar"]["per_engine"] = sidecar_ready
    print_report(summary, engines, len(query_texts), sidecar_note)
    report = {
        "corpus": {"name": "SciFact", "documents": len(documents), "bi_encoder": DEFAULT_BI_ENCODER,
                   "knn_engine": KNN_ENGINE},
        "queries": len(query_texts), "hits": HITS, "warmup_queries": WARMUP_QUERIES,
        "engines": {e.name: {"url": e.url, "version": e.version, "elasticsearch": e.elasticsearch}
                    for e in engines},
        "reference": REFERENCE,
        "code": code,
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "load_before": load_before, "load_after": load_after},
        **summary,
        # the set-up beside the summary's latencies and agreement (the summary has "sidecar" only when it ran)
        "sidecar": {"reranker": args.reranker if reranker else None, "window": args.window,
                    "queries": len(sidecar_results[engines[0].name]) if sidecar_results else 0, "note": sidecar_note,
                    **summary.get("sidecar", {})},
        "per_query": {"texts": query_texts, "exact_knn": exact, "engines": results,
                      "sidecar": sidecar_results},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engines.json").write_text(json.dumps(report, indent=1))
    plot(summary, engines, args.out / "engines.png")
    print(f"\nwrote {args.out / 'engines.json'} and {args.out / 'engines.png'}"
          f" (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after)")
    return 0


def code_version() -> dict[str, Any]:
    """The commit the figures belong to, and the engine/proxy files changed on top of it (others edit them)."""
    import subprocess

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()
    return {"commit": git("rev-parse", "HEAD"),
            "changed": git("status", "--porcelain", "--", "localsearch", "sidecar", "ingest").splitlines()}


def cleanup(engine: Engine, index: str, pipeline: str) -> None:
    """Delete what this run created on the engine (on the shared nodes, others' indices stay untouched)."""
    for path in (f"/{index}", *([f"/_search/pipeline/{pipeline}"] if engine.supports("hybrid") else [])):
        with contextlib.suppress(requests.RequestException):
            engine.session.delete(engine.url + path, timeout=60)


if __name__ == "__main__":
    sys.exit(main())

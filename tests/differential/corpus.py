"""The corpus both engines hold: a mapping with every field type the product uses, and documents generated
from a fixed seed, so every run compares the same data.

Every document has both text fields: BM25 counts documents per field in Lucene and per index in localsearch
(a documented difference), so the corpus keeps the two equal and the comparison exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

WORDS = ("search rank vector neural lexical hybrid query document index score model cluster shard token "
         "embedding reranker passage answer field filter").split()
TAGS = ("red", "green", "blue", "amber")
DIMENSION = 4
SIZE = 60

LUCENE = {"name": "hnsw", "engine": "lucene", "parameters": {"m": 16, "ef_construction": 100}}
CORPUS_MAPPING: dict[str, Any] = {"properties": {
    "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
    "body": {"type": "text"},
    "tag": {"type": "keyword"},
    "labels": {"type": "keyword"},
    "n": {"type": "integer"},
    "price": {"type": "float"},
    "day": {"type": "date"},
    "flag": {"type": "boolean"},
    "author": {"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
    "v_l2": {"type": "knn_vector", "dimension": DIMENSION, "method": {**LUCENE, "space_type": "l2"}},
    "v_cos": {"type": "knn_vector", "dimension": DIMENSION, "method": {**LUCENE, "space_type": "cosinesimil"}},
    "v_ip": {"type": "knn_vector", "dimension": DIMENSION, "method": {**LUCENE, "space_type": "innerproduct"}},
}}

PIPELINES: dict[str, dict[str, Any]] = {
    "minmax-mean": {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]},
    "l2-geometric": {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "l2"},
        "combination": {"technique": "geometric_mean", "parameters": {"weights": [0.3, 0.7]}}}}]},
    "zscore-mean": {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "z_score"}, "combination": {"technique": "arithmetic_mean"}}}]},
    "minmax-harmonic": {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max"},
        "combination": {"technique": "harmonic_mean", "parameters": {"weights": [0.6, 0.4]}}}}]},
    "rrf": {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf"}}}]},
    "rrf-40": {"phase_results_processors": [{"score-ranker-processor": {
        "combination": {"technique": "rrf", "rank_constant": 40}}}]},
}


def _vector(rng: random.Random) -> list[float]:
    return [round(rng.uniform(-1, 1), 3) for _ in range(DIMENSION)]


def corpus_documents(seed: int = 20260405) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    for i in range(SIZE):
        doc: dict[str, Any] = {
            "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))),
            "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40))),
            "tag": rng.choice(TAGS),
            "labels": rng.sample(TAGS, rng.randint(0, 3)),
            "n": rng.randint(0, 100),
            "price": round(rng.uniform(0, 50), 2),
            "day": f"2024-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
                   f"{rng.choice(('00', '30'))}:00Z",
            "flag": rng.random() < 0.4,
            "author": {"name": rng.choice(("ada", "grace", "alan", "edsger")), "age": rng.randint(20, 90)},
            "v_l2": _vector(rng), "v_cos": _vector(rng), "v_ip": _vector(rng),
        }
        if i % 7 == 3:  # some documents lack the optional fields
            for key in ("n", "price", "labels", "author"):
                doc.pop(key)
        yield str(i), doc


def query_vector(rng: random.Random) -> list[float]:
    return _vector(rng)

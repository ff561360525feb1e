"""Keys and compact values of the shared cache: what a score, a query vector and a reranked window become in Redis.

Keys carry everything the per-process keys carry, the caller's credential digest included (a window's key digests
its whole WindowKey; a score's document key and a query vector's key start with the caller's digest), hashed so that no query text or credential is readable in Redis, under a prefix
with a format version. Values are packed bytes: a logit as float32, a vector as float32s, a window as the ids and
scores of its ranking (not the documents: a page served from it fetches its own hits by id, with the caller's
credentials).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sidecar.rerank.cache import CachedScore, CacheKey

FORMAT = "v1"   # a new value layout gets a new version: old entries are then never read, only expire
_SCORE = struct.Struct("<fiii")     # logit, passage index, passage span start and end
_WINDOW_MAGIC = b"RW1"


def _digest(*parts: str) -> str:
    material = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(material, digest_size=20).hexdigest()


def score_key(prefix: str, key: CacheKey) -> str:
    """(model, query text, document key, hash of the scored text), as the per-process score cache keys it."""
    return f"{prefix}:{FORMAT}:score:{_digest(*key)}"


def embedding_key(prefix: str, model: str, text: str, normalize: bool, caller: str) -> str:
    return f"{prefix}:{FORMAT}:embedding:{_digest(model, str(bool(normalize)), caller, text)}"


def window_key(prefix: str, window_digest: str) -> str:
    """`window_digest` is WindowKey.digest: a SHA-256 over every field, the caller's credential digest included."""
    return f"{prefix}:{FORMAT}:window:{window_digest}"


def encode_score(score: CachedScore) -> bytes:
    return _SCORE.pack(score.logit, score.passage_index, *score.passage_span)


def decode_score(data: bytes) -> CachedScore:
    logit, passage, start, end = _SCORE.unpack(data)
    return CachedScore(float(logit), passage, (start, end))


def encode_vector(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(data: bytes) -> list[float]:
    return [float(x) for x in np.frombuffer(data, dtype="<f4")]


@dataclass(frozen=True)
class WindowEntry:
    """One ranked document: where it is, its served score, and what explain shows about it."""

    index: str
    id: str
    score: float
    logit: float | None
    passage: int | None
    first_stage_score: float
    first_stage_rank: int


@dataclass(frozen=True)
class CompactWindow:
    """A reranked window as every replica serves it: the ranking, and what each page's envelope needs."""

    generation: str          # set when written: a process's own full copy is used only while it matches
    status: str              # reranked, partial, skipped-<reason>...: every page says the same
    depth: int               # first-stage candidates fetched; a page past them deepens the window
    entries: tuple[WindowEntry, ...]
    total: Any
    shards: dict[str, Any]
    timed_out: bool
    aggregations: dict[str, Any] | None
    mode: str


def encode_window(window: CompactWindow) -> bytes:
    """A JSON header (envelope and ids) followed by packed float64 scores and int32 passages and ranks.

    Scores stay float64: a replica serving page 2 must show exactly the scores page 1 showed."""
    n = len(window.entries)
    header = json.dumps({
        "generation": window.generation, "status": window.status, "depth": window.depth, "total": window.total,
        "shards": window.shards, "timed_out": window.timed_out, "aggregations": window.aggregations,
        "mode": window.mode, "ids": [[e.index, e.id] for e in window.entries]}, separators=(",", ":")).encode()
    numbers = struct.pack(
        f"<{n}d{n}d{n}d{n}i{n}i",
        *(e.score for e in window.entries),
        *(math.nan if e.logit is None else e.logit for e in window.entries),
        *(e.first_stage_score for e in window.entries),
        *(-1 if e.passage is None else e.passage for e in window.entries),
        *(e.first_stage_rank for e in window.entries))
    return _WINDOW_MAGIC + struct.pack("<I", len(header)) + header + numbers


def decode_window(data: bytes) -> CompactWindow:
    """The window `encode_window` wrote; ValueError for anything else (a foreign or damaged value)."""
    if not data.startswith(_WINDOW_MAGIC):
        raise ValueError("not a window of this format")
    (length,) = struct.unpack_from("<I", data, len(_WINDOW_MAGIC))
    start = len(_WINDOW_MAGIC) + 4
    header = json.loads(data[start:start + length])
    ids = header["ids"]
    n = len(ids)
    try:
        numbers = struct.unpack(f"<{n}d{n}d{n}d{n}i{n}i", data[start + length:])
    except struct.error as exc:
        raise ValueError(f"window value damaged: {exc}") from exc
    scores, logits, first_scores = numbers[:n], numbers[n:2 * n], numbers[2 * n:3 * n]
    passages, ranks = numbers[3 * n:4 * n], numbers[4 * n:]
    entries = tuple(
        WindowEntry(index, doc_id, scores[i], None if math.isnan(logits[i]) else logits[i],
                    None if passages[i] < 0 else passages[i], first_scores[i], ranks[i])
        for i, (index, doc_id) in enumerate(ids))
    return CompactWindow(header["generation"], header["status"], header["depth"], entries, header["total"],
                         header["shards"], header["timed_out"], header["aggregations"], header["mode"])

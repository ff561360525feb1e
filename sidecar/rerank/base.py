"""The scorer interface every rerank backend implements, and the shared length-sorted token batching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from sidecar.rerank.passages import tokenizer_lock

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

DEFAULT_BATCH_TOKENS = 8192  # padded tokens per model call on a GPU: large calls keep it busy
# On a CPU small calls win: a few pairs' activations stay in cache, and one call per core (single-
# threaded, run side by side) beats one big call split by intra-op threads (measured on 2 cores:
# 512-token calls, two at a time, 1.4-1.9x the docs/s of 8192-token calls with 2 intra-op threads).
CPU_CALL_TOKENS = 512


def call_tokens_for(device: str) -> int:
    return DEFAULT_BATCH_TOKENS if str(device).startswith("cuda") else CPU_CALL_TOKENS


@dataclass(frozen=True, slots=True)
class EncodedPair:
    """One (query, passage) pair, tokenized once as the model will see it (special tokens, truncation).

    The texts travel with the ids so that backends that take text (a remote `/rerank` server) and
    gatherers that mix requests (cross-request batching) can use the same pairs.
    """

    query: str
    passage: str
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...] | None

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a scorer declares about itself, so callers need not probe it or test backend names."""

    batches_itself: bool = False   # `score_batch` takes a whole wave and cuts its own calls (no batcher in front)
    takes_deadline: bool = False   # `score_batch(pairs, deadline=...)`: drops work that would finish too late
    needs_tokenizer: bool = True   # scores token ids, so pairs are encoded with the model's own tokenizer;
    #                                False: it sends text, and the tokenizer only counts tokens to split passages
    remote: bool = False           # the model runs elsewhere (an HTTP server): no local model threads


LOCAL = Capabilities()


@runtime_checkable
class Scorer(Protocol):
    """A cross-encoder loaded once per process: text pairs in, one raw logit per pair out."""

    name: str                     # identifies the model in cache keys, logs and metrics
    backend: str                  # the registered backend that loaded it (metrics label)
    capabilities: Capabilities
    max_length: int               # tokens per pair, special tokens included
    batch_tokens: int             # padded-token budget of one model call
    tokenizer: PreTrainedTokenizerBase

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        """Tokenize (query, passage) pairs as the model expects them."""
        ...

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        """One model call: float32 logits, one per pair, in the given order."""
        ...

    def score_pairs(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Logits for every passage against the query (encode, sort, batch, restore order)."""
        ...


def plan_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches: longest first, each batch's padded size within `max_tokens`.

    Sorting by length (as `SentenceTransformer.encode` does) keeps padding small; a budget in
    tokens rather than pairs keeps each call's cost even across short and long pairs.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for index in order:
        # descending order: the first pair of a batch sets its padded width
        if current and (len(current) + 1) * width > max_tokens:
            batches.append(current)
            current = []
        if not current:
            width = lengths[index]
        current.append(index)
    if current:
        batches.append(current)
    return batches


def padded_tokens(pairs: Sequence[EncodedPair]) -> int:
    """What one call over `pairs` costs: the batch padded to its longest pair."""
    return len(pairs) * max((len(pair) for pair in pairs), default=0)


class BaseScorer:
    """Tokenization and batching shared by local backends; a backend implements `score_batch`."""

    name: str
    backend: str = "custom"
    capabilities: Capabilities = LOCAL
    max_length: int
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    tokenizer: Any

    def __init__(self, name: str, tokenizer: Any, max_length: int,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_tokens = batch_tokens

    def encode(self, query: str, passages: Sequence[str]) -> list[EncodedPair]:
        if not passages:
            return []
        with tokenizer_lock(self.tokenizer):
            encoded = self.tokenizer([query] * len(passages), list(passages),
                                     truncation="longest_first", max_length=self.max_length)
        type_ids = encoded.get("token_type_ids")
        return [EncodedPair(query, passage, tuple(encoded["input_ids"][i]),
                            tuple(type_ids[i]) if type_ids is not None else None)
                for i, passage in enumerate(passages)]

    def score_batch(self, pairs: Sequence[EncodedPair]) -> np.ndarray:
        raise NotImplementedError

    def score_pairs(self, query: str, passages: Sequence[str]) -> np.ndarray:
        pairs = self.encode(query, passages)
        logits = np.empty(len(pairs), dtype=np.float32)
        for batch in plan_batches([len(pair) for pair in pairs], self.batch_tokens):
            logits[batch] = self.score_batch([pairs[i] for i in batch])
        return logits

    def warm_up(self) -> None:
        """One small call so the first request does not pay for lazy initialisation."""
        self.score_pairs("warm up", ["a short passage to warm the model up"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, max_length={self.max_length})"

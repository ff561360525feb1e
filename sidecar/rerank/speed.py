"""Measure a cross-encoder's speed on this machine: (query, passage) pairs per second at a typical pair length."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sidecar.rerank.base import EncodedPair, Scorer, plan_batches

# A typical pair: a short query and a passage of a couple of hundred words (an MS MARCO passage is about 80
# tokens, a docstring or an abstract 150 to 300). Longer documents are split into passages of up to the model's
# max_length and cost more per document; shorter ones less.
TYPICAL_PAIR_TOKENS = 256
MIN_SECONDS = 1.0          # measure at least this long (whole rounds), for a steady figure
MAX_PAIRS = 512            # and stop after this many pairs, however fast the model is
_QUERY = "how is the speed of a reranking model measured on this machine"
_WORDS = ("the model reads a query and a passage together and scores how well the passage answers "
          "the query; longer passages cost more time than short ones, and batches of similar length ")


@dataclass(frozen=True)
class Speed:
    """What was measured: pairs per second through all of a worker's model threads together."""

    pairs_per_s: float
    pair_tokens: int       # tokens per pair (special tokens included)
    pairs: int             # pairs scored while measuring
    seconds: float
    threads: int           # model threads the pairs were spread over

    def seconds_for(self, pairs: int) -> float:
        return pairs / self.pairs_per_s if self.pairs_per_s > 0 else float("inf")

    def as_dict(self) -> dict[str, float | int]:
        return {"pairs_per_s": round(self.pairs_per_s, 2), "pair_tokens": self.pair_tokens,
                "measured_pairs": self.pairs, "measured_s": round(self.seconds, 3), "model_threads": self.threads}


def typical_pairs(scorer: Scorer, count: int, tokens: int = TYPICAL_PAIR_TOKENS) -> list[EncodedPair]:
    """`count` encoded pairs of exactly `tokens` tokens (at most the model's max_length), as requests send them."""
    length = max(4, min(tokens, scorer.max_length))
    passage = _WORDS * (1 + 2 * length // len(_WORDS.split()))
    pair = scorer.encode(_QUERY, [passage])[0]       # truncated to max_length: long enough to cut
    keep = min(length, len(pair.input_ids))
    ids = pair.input_ids[: keep - 1] + pair.input_ids[-1:]   # the closing special token stays
    types = None if pair.token_type_ids is None else pair.token_type_ids[: keep - 1] + pair.token_type_ids[-1:]
    return [EncodedPair(pair.query, pair.passage, ids, types)] * count


def measure_speed(scorer: Scorer, *, threads: int = 1, tokens: int = TYPICAL_PAIR_TOKENS,
                  min_seconds: float = MIN_SECONDS, max_pairs: int = MAX_PAIRS,
                  clock: Callable[[], float] = time.perf_counter) -> Speed:
    """Pairs per second of `scorer` on typical pairs, the way requests run it.

    A scorer that batches itself (the batcher, whose model threads run the calls side by side) gets whole
    rounds; a bare one gets the calls a batcher would make (its token budget each), `threads` at a time.
    Whole rounds run until `min_seconds` have passed or `max_pairs` were scored. Call it after a warm-up call.
    """
    round_pairs = _round_size(scorer, threads, tokens)
    pairs = typical_pairs(scorer, round_pairs, tokens)
    done, started = 0, clock()
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="measure-speed") as pool:
        while True:
            _one_round(scorer, pairs, pool)
            done += len(pairs)
            elapsed = clock() - started
            if elapsed >= min_seconds or done >= max_pairs:
                break
    return Speed(done / elapsed if elapsed > 0 else float("inf"), len(pairs[0]), done, elapsed, max(1, threads))


def _round_size(scorer: Scorer, threads: int, tokens: int) -> int:
    """Enough pairs for two calls per model thread (each call one token budget of pairs)."""
    call_tokens = getattr(scorer, "call_tokens", scorer.batch_tokens)
    per_call = max(1, call_tokens // max(1, min(tokens, scorer.max_length)))
    return max(2, 2 * max(1, threads) * per_call)


def _one_round(scorer: Scorer, pairs: Sequence[EncodedPair], pool: ThreadPoolExecutor) -> None:
    if scorer.capabilities.batches_itself:
        scorer.score_batch(pairs)
        return
    batches = plan_batches([len(p) for p in pairs], scorer.batch_tokens)
    for future in [pool.submit(scorer.score_batch, [pairs[i] for i in batch]) for batch in batches]:
        future.result()

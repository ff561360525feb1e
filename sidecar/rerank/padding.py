"""Pad a batch of pre-tokenized pairs into the int64 arrays a transformer takes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sidecar.rerank.base import EncodedPair


def pad_pairs(pairs: Sequence[EncodedPair], pad_id: int, *, pad_left: bool = False) -> dict[str, np.ndarray]:
    """`input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes them), padded to the longest."""
    width = max(len(pair) for pair in pairs)
    input_ids = np.full((len(pairs), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(pairs), width), dtype=np.int64)
    with_types = pairs[0].token_type_ids is not None
    token_type_ids = np.zeros((len(pairs), width), dtype=np.int64) if with_types else None
    for row, pair in enumerate(pairs):
        span = slice(width - len(pair), width) if pad_left else slice(0, len(pair))
        input_ids[row, span] = pair.input_ids
        attention_mask[row, span] = 1
        if token_type_ids is not None and pair.token_type_ids is not None:
            token_type_ids[row, span] = pair.token_type_ids
    features = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        features["token_type_ids"] = token_type_ids
    return features

"""Keys and values of the shared cache: every part of a key matters, values round-trip exactly and stay compact."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from sidecar.rerank.cache import CachedScore, ScoreCache
from sidecar.shared_cache.encoding import (
    CompactWindow,
    WindowEntry,
    decode_score,
    decode_vector,
    decode_window,
    embedding_key,
    encode_score,
    encode_vector,
    encode_window,
    score_key,
    window_key,
)
from sidecar.window_cache import WindowKey, caller_identity

PREFIX = "rerank-sidecar"


def _window_key(**changes: object) -> WindowKey:
    fields = dict(index="docs", query_text="read a file", lexical_query={"match": {"text": "read a file"}},
                  filters=[], window=10, overrides=None, aggregations=None, hit_options={}, forwarded_params={},
                  lexical_only=False, caller=caller_identity({"X-Api-Key": "key-of-alice-0123456789"}), profile=None)
    fields.update(changes)
    return WindowKey(**fields)


def test_score_keys_differ_in_every_part_and_hide_the_query():
    base = ScoreCache.key("model|512|16", "read a file", "docs/d1", "the text")
    keys = {score_key(PREFIX, base)}
    for other in (ScoreCache.key("other|512|16", "read a file", "docs/d1", "the text"),
                  ScoreCache.key("model|512|16", "write a file", "docs/d1", "the text"),
                  ScoreCache.key("model|512|16", "read a file", "docs/d2", "the text"),
                  ScoreCache.key("model|512|16", "read a file", "docs/d1", "the text, edited")):
        keys.add(score_key(PREFIX, other))
    assert len(keys) == 5
    assert score_key(PREFIX, base) == score_key(PREFIX, ScoreCache.key("model|512|16", "read a file", "docs/d1",
                                                                       "the text"))
    assert all(k.startswith(f"{PREFIX}:v1:score:") and "read" not in k for k in keys)
    assert score_key("other-deployment", base) != score_key(PREFIX, base)


def test_embedding_keys_carry_model_text_normalization_and_caller():
    keys = {embedding_key(PREFIX, "minilm", "read a file", True, "alice"),
            embedding_key(PREFIX, "minilm", "read a file", False, "alice"),
            embedding_key(PREFIX, "mpnet", "read a file", True, "alice"),
            embedding_key(PREFIX, "minilm", "read files", True, "alice"),
            embedding_key(PREFIX, "minilm", "read a file", True, "bob")}
    assert len(keys) == 5
    assert all("read" not in k for k in keys)


def test_window_keys_carry_the_caller_and_everything_that_decides_the_window():
    base = window_key(PREFIX, _window_key().digest)
    assert base == window_key(PREFIX, _window_key().digest)
    others = [_window_key(caller=caller_identity({"X-Api-Key": "key-of-bob-0123456789"})),
              _window_key(caller=caller_identity({"Authorization": "Basic YWxpY2U6cHc="})),
              _window_key(query_text="write a file"), _window_key(window=20), _window_key(index="other"),
              _window_key(filters=[{"term": {"category": "io"}}]), _window_key(overrides={"score_mode": "raw"}),
              _window_key(lexical_only=True)]
    assert len({window_key(PREFIX, k.digest) for k in others} | {base}) == len(others) + 1
    assert "alice" not in base and "read" not in base


def test_a_score_is_sixteen_bytes_and_round_trips_a_float32_logit_exactly():
    logit = float(np.float32(-3.1415927))   # the model's logits are float32
    score = CachedScore(logit, 2, (120, 480))
    data = encode_score(score)
    assert len(data) == 16
    assert decode_score(data) == score


def test_a_vector_is_float32_bytes_and_round_trips_exactly():
    vector = [float(x) for x in np.random.default_rng(7).standard_normal(384).astype(np.float32)]
    data = encode_vector(vector)
    assert len(data) == 384 * 4
    assert decode_vector(data) == vector


def _compact(n: int) -> CompactWindow:
    entries = tuple(WindowEntry("docs-v2", f"doc-{i}", 0.99 * 0.97 ** i, None if i >= n - 2 else 1.5 - i * 0.1,
                                None if i >= n - 2 else i % 3, 0.5 / (i + 1), i + 1) for i in range(n))
    return CompactWindow("g1", "reranked", n + 5, entries, {"value": 1234, "relation": "eq"},
                         {"total": 1, "successful": 1, "skipped": 0, "failed": 0}, False,
                         {"by_category": {"buckets": [{"key": "io", "doc_count": 3}]}}, "client")


def test_a_window_round_trips_ids_scores_and_envelope_exactly():
    window = _compact(100)
    back = decode_window(encode_window(window))
    assert back == window
    assert back.entries[-1].logit is None and back.entries[-1].passage is None
    assert back.entries[3].score == window.entries[3].score   # float64: the scores page 1 showed, to the bit


def test_a_window_holds_ids_and_numbers_not_documents():
    data = encode_window(_compact(100))
    # per document: its index and id in JSON (about 22 bytes here) and 3 float64 + 2 int32 numbers (32 bytes)
    assert len(data) < 100 * 60 + 400
    assert b"_source" not in data


@pytest.mark.parametrize("data", [b"", b"garbage", b"RW1" + struct.pack("<I", 2) + b"{}",
                                  encode_window(_compact(3))[:-4]])
def test_a_value_that_is_not_a_window_is_refused(data):
    with pytest.raises((ValueError, KeyError)):
        decode_window(data)


def test_nan_logit_stands_for_not_scored_only():
    window = _compact(4)
    assert not any(e.logit is not None and math.isnan(e.logit) for e in decode_window(encode_window(window)).entries)

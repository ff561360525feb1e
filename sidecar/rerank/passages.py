"""Token-aware splitting of long documents into overlapping, word-aligned passages of real text."""

from __future__ import annotations

import threading
import weakref
from typing import Any, NamedTuple

# A fast tokenizer is one Rust object whose truncation/padding state each call may reset: two
# threads calling it with different settings fail with "Already borrowed". One lock per tokenizer.
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()

# Upper bound on characters per token, used to avoid tokenizing text no passage will reach.
_MAX_CHARS_PER_TOKEN = 16


class Passage(NamedTuple):
    """A slice of a document: `text == document[start:end]`."""

    text: str
    start: int
    end: int


def tokenizer_lock(tokenizer: Any) -> threading.Lock:
    """The lock every caller of `tokenizer` holds while it tokenizes."""
    with _locks_guard:
        lock = _locks.get(tokenizer)
        if lock is None:
            lock = _locks[tokenizer] = threading.Lock()
        return lock


def passage_budget(tokenizer: Any, query: str, max_length: int) -> int:
    """Passage tokens that fit in one pair beside the query and the special tokens.

    A very long query would leave no room: it keeps at most half of the pair, and the pair's
    `longest_first` truncation cuts the query rather than the passage.
    """
    with tokenizer_lock(tokenizer):
        query_tokens = len(tokenizer(query, add_special_tokens=False, truncation=False)["input_ids"])
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    return max(room - query_tokens, room // 2, 1)


def split_passages(tokenizer: Any, text: str, budget: int, *, overlap: int | None = None,
                   max_passages: int = 16) -> list[Passage]:
    """Overlapping passages of at most `budget` tokens each, cut between words.

    A text that fits is one passage: the whole text, unchanged (empty text included, so it is
    scored as the empty pair rather than dropped). Longer texts are cut at word starts using the
    tokenizer's offsets, so each passage is real text that tokenizes as it did inside the
    document; consecutive passages share about `overlap` tokens (default a quarter of the
    budget). At most `max_passages` passages: the rest of a very long document is not scored.
    """
    if len(text) < budget:  # a token covers at least one character: this always fits
        return [Passage(text, 0, len(text))]
    overlap = budget // 4 if overlap is None else min(max(overlap, 0), budget - 1)
    char_cap = budget * max_passages * _MAX_CHARS_PER_TOKEN
    head = text[:char_cap]
    with tokenizer_lock(tokenizer):
        encoding = tokenizer(head, add_special_tokens=False, truncation=False,
                             return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    starts_word = _word_starts(encoding, len(offsets))
    count = len(offsets)
    if len(head) < len(text):
        # the cut may fall inside a word: drop the last word so the last passage ends between words
        count = _word_start_at_or_before(starts_word, count - 1, floor=0) or count
    if count <= budget and len(head) == len(text):
        return [Passage(text, 0, len(text))]
    if count == 0:
        return [Passage(head, 0, len(head))]
    return _windows(text, offsets, starts_word, count, budget, overlap, max_passages)


def _word_starts(encoding: Any, count: int) -> list[bool]:
    """Which tokens begin a word (of the tokenizer's pre-tokenization): safe places to cut."""
    try:
        word_ids = encoding.word_ids()
    except (ValueError, AttributeError):  # no word alignment from this tokenizer: any token will do
        return [True] * count
    return [i == 0 or word_ids[i] is None or word_ids[i] != word_ids[i - 1] for i in range(count)]


def _windows(text: str, offsets: list[tuple[int, int]], starts_word: list[bool], count: int,
             budget: int, overlap: int, max_passages: int) -> list[Passage]:
    passages: list[Passage] = []
    start = 0
    while start < count and len(passages) < max_passages:
        end = min(start + budget, count)
        if end < count:
            end = _word_start_at_or_before(starts_word, end, floor=start) or end  # one huge word: cut it
        first, last = offsets[start][0], offsets[end - 1][1]
        passages.append(Passage(text[first:last], first, last))
        if end >= count:
            break
        # step back by the overlap to a word start, always moving forward
        start = _word_start_at_or_before(starts_word, max(end - overlap, start + 1), floor=start) or end
    return passages


def _word_start_at_or_before(starts_word: list[bool], index: int, *, floor: int) -> int | None:
    """The nearest token index in (floor, index] that starts a word, if any."""
    while index > floor:
        if starts_word[index]:
            return index
        index -= 1
    return None

"""Token-aware passage splitting: real text, word-aligned, overlapping, within the budget."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sidecar.rerank.passages import passage_budget, split_passages, tokenizer_lock

# Varied words (with punctuation and words WordPiece splits into pieces) so cuts can go wrong.
WORDS = ("Unbelievably, tokenization of hyphenated-words and numbers like 3.14159 or "
         "naïve café résumé goes through WordPiece; antidisestablishmentarianism too! ").split()


def long_text(words: int) -> str:
    return " ".join(f"{WORDS[i % len(WORDS)]}{i}" if i % 7 == 0 else WORDS[i % len(WORDS)]
                    for i in range(words))


@pytest.fixture(scope="module")
def tokenizer(tiny_cross_encoder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_cross_encoder))


def token_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_a_text_that_fits_is_one_passage_unchanged(tokenizer):
    for text in ("", "   ", "short text", long_text(20), long_text(20) + " " * 500):
        assert len(token_ids(tokenizer, text)) <= 100
        assert [p.text for p in split_passages(tokenizer, text, budget=100)] == [text]


def test_long_text_becomes_overlapping_word_aligned_passages_within_the_budget(tokenizer):
    text = long_text(600)
    document_ids = token_ids(tokenizer, text)
    budget = 64
    passages = split_passages(tokenizer, text, budget, overlap=16, max_passages=1000)
    assert len(passages) > len(document_ids) // budget
    for passage in passages:
        assert passage.text == text[passage.start:passage.end]  # real text, sliced from the document
        ids = token_ids(tokenizer, passage.text)
        assert 0 < len(ids) <= budget
        # cut between words: the passage tokenizes exactly as it did inside the document
        assert _is_sublist(ids, document_ids)
    assert passages[0].start == 0 and passages[-1].end == len(text.rstrip())
    for before, after in zip(passages, passages[1:], strict=False):
        assert before.start < after.start < before.end  # overlapping, always moving forward


def test_passages_cover_every_token_of_the_document(tokenizer):
    text = long_text(300)
    passages = split_passages(tokenizer, text, budget=50, overlap=0, max_passages=1000)
    covered = sum(len(token_ids(tokenizer, p.text)) for p in passages)
    assert covered == len(token_ids(tokenizer, text))


def test_at_most_max_passages(tokenizer):
    passages = split_passages(tokenizer, long_text(2000), budget=32, max_passages=3)
    assert len(passages) == 3
    assert passages[0].start == 0


def test_one_word_longer_than_the_budget_is_cut_rather_than_looping(tokenizer):
    text = "qzxjvkqwpzmxncbvlkjhgf" * 4  # one word of 72 WordPiece tokens (past 100 chars: [UNK])
    passages = split_passages(tokenizer, text, budget=20, max_passages=100)
    assert len(passages) >= 72 // 20
    assert passages[0].start == 0 and passages[-1].end == len(text)


def test_very_long_text_is_not_tokenized_past_what_the_passages_need(tokenizer):
    text = long_text(200_000)  # ~1.5 MB
    passages = split_passages(tokenizer, text, budget=100, max_passages=2)
    assert len(passages) == 2 and passages[-1].end < 10_000


def test_passage_budget_leaves_room_for_query_and_special_tokens(tokenizer):
    query = "how are words split"
    query_tokens = len(token_ids(tokenizer, query))
    assert passage_budget(tokenizer, query, 512) == 512 - 3 - query_tokens
    # a huge query keeps at most half the pair
    assert passage_budget(tokenizer, "word " * 2000, 512) == (512 - 3) // 2


def test_one_lock_per_tokenizer_shared_across_threads(tokenizer):
    locks: list[threading.Lock] = []
    threads = [threading.Thread(target=lambda: locks.append(tokenizer_lock(tokenizer)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(lock) for lock in locks}) == 1
    assert tokenizer_lock(threading.Event()) is not locks[0]


def _is_sublist(needle: list[int], haystack: list[int]) -> bool:
    first = needle[0]
    return any(haystack[i:i + len(needle)] == needle
               for i in range(len(haystack) - len(needle) + 1) if haystack[i] == first)

"""Passages and fragments as the unified highlighter makes them: sentences within fragment_size, scored, tagged."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from localsearch.highlight.matchers import Matcher
from localsearch.highlight.spans import find_spans

_HTML = {'"': "&quot;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#x27;", "/": "&#x2F;"}
# Lucene's passage scorer: BM25 over the passage, favouring passages that start early
_K1, _B, _PIVOT = 1.2, 0.75, 87


@dataclass
class _Passage:
    value: int
    start: int
    end: int
    spans: list[tuple[int, int, str]]
    score: float = 0.0


def highlight_values(values: list[str], keyword: bool, matchers: list[Matcher], options: dict[str, Any]
                     ) -> list[str]:
    whole = keyword or options["number_of_fragments"] == 0
    limit = options["number_of_fragments"] or None  # 0: every passage
    passages: list[_Passage] = []
    for index, value in enumerate(values):
        spans = find_spans(value, keyword, matchers) if matchers else []
        if not spans:
            continue
        if whole:
            passages.append(_Passage(index, 0, len(value), spans))
        else:
            passages += _split_passages(index, value, spans, options["fragment_size"])
    if not passages:
        return _no_match_fragment(values, options)
    for passage in passages:
        passage.score = _passage_score(passage)
    best = sorted(passages, key=lambda p: (-p.score, p.value, p.start))[:limit]
    if str(options["order"]).lower() != "score":
        best.sort(key=lambda p: (p.value, p.start))
    fragments = [_format(values[p.value], p, options) for p in best]
    return [f for f in fragments if f.strip()]


def _split_passages(index: int, value: str, spans: list[tuple[int, int, str]], fragment_size: int) -> list[_Passage]:
    """Group matches into passages the way Lucene's FieldHighlighter walks them with a break iterator."""
    scanner = _BoundedScanner(value, fragment_size)
    passages: list[_Passage] = []
    current: _Passage | None = None
    for span in spans:
        if current is None or span[0] >= current.end:
            start, end = scanner.passage(span[0])
            current = _Passage(index, max(start, 0), min(end, len(value)), [])
            passages.append(current)
        current.spans.append(span)
    return passages


class _BoundedScanner:
    """OpenSearch's BoundedBreakIteratorScanner: sentences merged up to `max_len` characters; a sentence
    longer than that is cut at word boundaries around the match. `max_len` <= 0 means plain sentences."""

    def __init__(self, text: str, max_len: int) -> None:
        self.sentences = _sentence_breaks(text)
        self.words = _word_breaks(text)
        self.max_len = max_len
        self.window_start = self.window_end = -1
        self.inner_start, self.inner_end = -1, 0

    def passage(self, match_start: int) -> tuple[int, int]:
        offset = match_start + 1
        if self.max_len <= 0:
            return _preceding(self.sentences, offset), _following(self.sentences, match_start)
        if self.window_start < offset < self.window_end:
            self.inner_start, self.inner_end = self.inner_end, self.window_end
        else:
            self.window_start = self.inner_start = _preceding(self.sentences, offset)
            self.window_end = self.inner_end = _following(self.sentences, offset - 1)
            while self.inner_end - self.inner_start < self.max_len:
                new_end = _following(self.sentences, self.inner_end)
                if new_end < 0 or new_end - self.inner_start > self.max_len:
                    break
                self.window_end = self.inner_end = new_end
        if self.inner_end - self.inner_start > self.max_len:
            if offset - self.max_len > self.inner_start:
                self.inner_start = max(self.inner_start, _preceding(self.words, offset - self.max_len))
            remaining = max(0, self.max_len - (offset - self.inner_start))
            if offset + remaining < self.window_end:
                self.inner_end = min(self.window_end, _following(self.words, offset + remaining))
        return self.inner_start, self.inner_end


def _preceding(breaks: list[int], offset: int) -> int:
    """The last break strictly before `offset` (BreakIterator.preceding)."""
    found = 0
    for position in breaks:
        if position >= offset:
            break
        found = position
    return found


def _following(breaks: list[int], offset: int) -> int:
    """The first break strictly after `offset`, or -1 (BreakIterator.following)."""
    return next((position for position in breaks if position > offset), -1)


_SENTENCE_END = re.compile(r"""[.!?]+["')\]}»”’]*[ \t]+|[\r\n\u2028\u2029\u0085]+""")


def _sentence_breaks(text: str) -> list[int]:
    """Sentence boundaries roughly as Java's sentence BreakIterator finds them: after terminal
    punctuation and spaces (a period followed by a lowercase word does not end a sentence), and after
    line breaks."""
    breaks = [0]
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        following = text[end:end + 1]
        if match.group()[0] == "." and following.islower():
            continue
        if 0 < end < len(text):
            breaks.append(end)
    breaks.append(len(text))
    return breaks


def _word_breaks(text: str) -> list[int]:
    breaks = [0]
    for i in range(1, len(text)):
        if not (text[i - 1].isalnum() and text[i].isalnum()):
            breaks.append(i)
    breaks.append(len(text))
    return breaks


def _passage_score(passage: _Passage) -> float:
    length = passage.end - passage.start
    counts: dict[str, int] = {}
    for _, _, term in passage.spans:
        counts[term] = counts.get(term, 0) + 1
    norm = 1 + 1 / math.log(_PIVOT + passage.start)
    return norm * sum(f * (_K1 + 1) / (f + _K1 * (1 - _B + _B * length / _PIVOT)) for f in counts.values())


def _format(value: str, passage: _Passage, options: dict[str, Any]) -> str:
    pre, post = str(options["pre_tags"][0]), str(options["post_tags"][0])
    encode = _html if options["encoder"] == "html" else (lambda text: text)
    out: list[str] = []
    position = passage.start
    spans = [s for s in passage.spans if passage.start <= s[0] < passage.end]
    i = 0
    while i < len(spans):
        start, end, _ = spans[i]
        out.append(encode(value[position:start]))
        while i + 1 < len(spans) and spans[i + 1][0] < end:  # overlapping matches become one
            i += 1
            end = max(end, spans[i][1])
        end = min(end, passage.end)
        out.append(pre + encode(value[start:end]) + post)
        position = end
        i += 1
    out.append(encode(value[position:max(position, passage.end)]))
    return _java_trim("".join(out))


def _no_match_fragment(values: list[str], options: dict[str, Any]) -> list[str]:
    """With `no_match_size`, a field without matches still shows its beginning (up to a word end)."""
    size = options["no_match_size"]
    if size <= 0 or not values:
        return []
    value = values[0]
    end = len(value)
    if size < end:
        following = _following(_word_breaks(value), size)
        end = following if following > 0 else len(value)
    encode = _html if options["encoder"] == "html" else (lambda text: text)
    fragment = _java_trim(encode(value[:end]))
    return [fragment] if fragment else []


def _html(text: str) -> str:
    return "".join(_HTML.get(c, c) for c in text)


def _java_trim(text: str) -> str:
    """String.trim(): drops characters up to U+0020 at both ends."""
    start, end = 0, len(text)
    while start < end and ord(text[start]) <= 32:
        start += 1
    while end > start and ord(text[end - 1]) <= 32:
        end -= 1
    return text[start:end]

"""OpenSearch's standard tokenizer (Lucene's StandardTokenizer: Unicode word boundaries of UAX #29 and the emoji
sequences of UTR #51) with the lowercase (and optional asciifolding) filters of the standard analyzer.

Word characters (letters, digits, `_`) run together; `.` and `'` join letters to letters and digits to digits
(`o'neil`, `u.s.a`, `3.14`), `:` joins letters (`a:b`), `,` and `;` join digits (`1,000`); a Hebrew letter keeps
a `'` after it and joins another across `"`; marks, format characters and ZWJ stay with what precedes them;
everything else separates. Ideographs and hiragana are one token each, katakana runs one token, runs of South
East Asian scripts (Thai, Lao, Myanmar, Khmer, ...) one token. Emoji are tokens (`©`, `™`, `👍🏻`, `👨‍👩‍👧`,
`1️⃣`, `🇫🇷`). Which class each code point is in comes from the real node (word_break_data.py): Lucene carries
its own Unicode 12.0 tables, which Python's do not match. Tokens longer than 255 characters are split, as the
standard tokenizer's max_token_length does; they are lowercased code point by code point, as Java lowercases.
The text handed to tantivy is these tokens joined by spaces (a whitespace tokenizer reads them back), so
positions, and phrases, are the same.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from localsearch.word_break_data import EMOJI, RUNS

MAX_TOKEN_LENGTH = 255
LETTER, DIGIT, JOINER, MARK, HAN, KATAKANA, SEA, MID_LETTER, MID_NUM, MID_NUM_LET, OTHER = range(11)
_CLASSES = {"L": LETTER, "D": DIGIT, "J": JOINER, "M": MARK, "H": HAN, "K": KATAKANA, "S": SEA,
            "m": MID_LETTER, "n": MID_NUM, "b": MID_NUM_LET, "O": OTHER}
_RUN_STARTS = [int(run[:-1], 16) for run in RUNS]
_RUN_KINDS = [_CLASSES[run[-1]] for run in RUNS]
_EMOJI_STARTS = [start for start, _ in EMOJI]
HEBREW_LETTERS = ((0x5D0, 0x5EA), (0x5EF, 0x5F2), (0xFB1D, 0xFB1D), (0xFB1F, 0xFB28), (0xFB2A, 0xFB36),
                  (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44), (0xFB46, 0xFB4F))
ZWJ, VS15, VS16, KEYCAP = "\u200d", "\ufe0e", "\ufe0f", "\u20e3"
MODIFIERS = range(0x1F3FB, 0x1F400)  # emoji skin tones (Extend: they also stay with a letter before them)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str  # lowercased (and folded when asked)


@functools.lru_cache(maxsize=65536)
def _kind(char: str) -> int:
    index = bisect.bisect_right(_RUN_STARTS, ord(char)) - 1
    return _RUN_KINDS[index] if index >= 0 else OTHER


def _in(ranges: tuple[tuple[int, int], ...], starts: list[int] | None, char: str) -> bool:
    code = ord(char)
    index = bisect.bisect_right(starts if starts is not None else [a for a, _ in ranges], code) - 1
    return index >= 0 and code <= ranges[index][1]


@functools.lru_cache(maxsize=65536)
def _is_emoji(char: str) -> bool:
    return _in(EMOJI, _EMOJI_STARTS, char)


def _is_hebrew(char: str) -> bool:
    code = ord(char)
    return 0x5D0 <= code <= 0xFB4F and any(a <= code <= b for a, b in HEBREW_LETTERS)


WORDY = (LETTER, DIGIT, JOINER, KATAKANA)


def _adjacent(left: int, right: int) -> bool:
    """Whether two word characters next to each other stay in one token (UAX #29 WB5, 8-10, 13, 13a, 13b)."""
    if left == JOINER or right == JOINER:
        return left in WORDY and right in WORDY
    if left == KATAKANA or right == KATAKANA:
        return left == right
    return left in (LETTER, DIGIT) and right in (LETTER, DIGIT)


def _across(left: int, middle: int, right: int) -> bool:
    """Whether a middle character joins its neighbours (WB6/7: letters; WB11/12: digits)."""
    if left == LETTER and right == LETTER:
        return middle in (MID_LETTER, MID_NUM_LET)
    if left == DIGIT and right == DIGIT:
        return middle in (MID_NUM, MID_NUM_LET)
    return False


# The same rules for ASCII text, as one regular expression (the common case, many times faster).
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[.':](?=[A-Za-z])|(?<=[0-9])[.',;](?=[0-9]))"
                          r"[A-Za-z0-9_]+)*")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each token of `text`, before lowercasing."""
    return ascii_spans(text) if text.isascii() else unicode_spans(text)


def ascii_spans(text: str) -> list[tuple[int, int]]:
    return [(s, min(s + MAX_TOKEN_LENGTH, m.end())) for m in _ASCII_TOKEN.finditer(text)
            if _ASCII_WORD.search(m.group()) for s in range(m.start(), m.end(), MAX_TOKEN_LENGTH)]


def unicode_spans(text: str) -> list[tuple[int, int]]:
    kinds = [_kind(c) for c in text]
    out: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        kind = kinds[i]
        if kind == HAN:  # one token per ideograph, with the marks that follow it (WB4)
            end = _after_marks(kinds, i + 1)
        elif kind == SEA:  # South East Asian runs are kept whole
            end = i + 1
            while end < n and kinds[end] in (SEA, MARK):
                end += 1
        elif kind in WORDY:
            end = _word_end(text, kinds, i)
        else:
            end = -1
        emoji_end = _emoji_end(text, kinds, i) if _may_start_emoji(text, kinds, i) else -1
        if emoji_end >= max(end, i + 1):  # the longest match wins; the emoji rule comes first on a tie
            out.append((i, emoji_end))
            i = emoji_end
        elif end < 0:
            i += 1
        else:
            if kind not in WORDY or any(kinds[j] in (LETTER, DIGIT, KATAKANA) for j in range(i, end)):  # `_` alone
                out += [(s, min(s + MAX_TOKEN_LENGTH, end)) for s in range(i, end, MAX_TOKEN_LENGTH)]
            i = end
    return out


def _after_marks(kinds: list[int], position: int) -> int:
    while position < len(kinds) and kinds[position] == MARK:
        position += 1
    return position


def _word_end(text: str, kinds: list[int], start: int) -> int:
    """Where the word starting at `start` ends (WB4-WB13b, and Hebrew's quotes: WB7a-c)."""
    n, last, last_at, i = len(text), kinds[start], start, start + 1
    while i < n:
        here = kinds[i]
        if here == MARK:
            i += 1
        elif _adjacent(last, here):
            last, last_at = here, i
            i += 1
        else:
            after = _after_marks(kinds, i + 1)  # marks after the middle character belong to it (WB4)
            quote = text[i] in "'\"" and last_at >= 0 and _is_hebrew(text[last_at])
            if after < n and (_across(last, here, kinds[after])
                              or (quote and text[i] == '"' and _is_hebrew(text[after]))):
                last, last_at = kinds[after], after
                i = after + 1
            elif quote and text[i] == "'":  # a Hebrew letter keeps the quote after it
                last, last_at = LETTER, -1
                i = after
            else:
                break
    return i


def _may_start_emoji(text: str, kinds: list[int], start: int) -> bool:
    char = text[start]
    if char in "0123456789#*":  # a keycap's base: only when marks lead to the keycap
        after = start + 1
        while after < len(text) and kinds[after] == MARK and text[after] != KEYCAP:
            after += 1
        return after < len(text) and text[after] == KEYCAP
    code = ord(char)
    return code > 0x7F and (char == ZWJ or code in MODIFIERS or code in REGIONAL_INDICATORS or _is_emoji(char))


def _emoji_end(text: str, kinds: list[int], start: int) -> int:
    """Where the longest emoji sequence starting at `start` ends, or -1 (Lucene's EMOJI_TYPE rule: an emoji,
    with its presentation selector or modifier, joined to others by ZWJ; a keycap; a pair of flags' letters).
    Matched over sets of positions, so every way through the grammar is tried."""
    n = len(text)

    def step(positions: set[int], test: Callable[[int], bool]) -> set[int]:
        return {p + 1 for p in positions if p < n and test(p)}

    def star(positions: set[int], test: Callable[[int], bool]) -> set[int]:
        reached, frontier = set(positions), set(positions)
        while frontier:
            frontier = step(frontier, test) - reached
            reached |= frontier
        return reached

    def extend(p: int) -> bool:  # Extend, Format and ZWJ, less the presentation selectors
        return kinds[p] == MARK and text[p] not in (VS15, VS16)

    def unit(positions: set[int]) -> set[int]:  # an emoji with its selector, or a modifier alone
        emoji = star(step(star(positions, lambda p: text[p] == ZWJ), lambda p: _is_emoji(text[p])), extend)
        emoji |= step(emoji, lambda p: text[p] == VS16)
        return emoji | star(step(positions, lambda p: ord(text[p]) in MODIFIERS), extend)

    ends = reached = unit({start})
    while reached:
        reached = unit(step(reached, lambda p: text[p] == ZWJ)) - ends
        ends = ends | reached
    if text[start] in "0123456789#*":
        base = star({start + 1}, extend)
        ends = ends | star(step(base | step(base, lambda p: text[p] == VS16), lambda p: text[p] == KEYCAP), extend)
    if ord(text[start]) in REGIONAL_INDICATORS:
        first = star({start + 1}, lambda p: kinds[p] == MARK)
        ends = ends | star(step(first, lambda p: ord(text[p]) in REGIONAL_INDICATORS), lambda p: kinds[p] == MARK)
    return max(ends, default=-1)


def java_lower(word: str) -> str:
    """Lowercased code point by code point, as Java's Character.toLowerCase (LowerCaseFilter) does: `İ` becomes
    `i` and a final `Σ` becomes `σ`, where Python's str.lower would write `i̇` and `ς`."""
    lowered = word.lower()
    if len(lowered) == len(word) and "ς" not in lowered:  # no İ, no final sigma: the same either way
        return lowered
    return "".join("i" if c == "\u0130" else c.lower() for c in word)


def fold(text: str) -> str:
    """asciifolding: accents and other marks dropped from Latin letters (café → cafe)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Mc", "Me")) or text


def tokens(text: str, folding: bool = False) -> list[Token]:
    out = []
    for start, end in spans(text):
        word = java_lower(text[start:end])
        out.append(Token(start, end, fold(word) if folding else word))
    return out


def analyze(text: str, folding: bool = False) -> list[str]:
    return [token.text for token in tokens(text, folding)]


def pretokenized(text: str, folding: bool = False) -> str:
    """The tokens joined by spaces: what the index's whitespace tokenizer reads back one for one."""
    return " ".join(analyze(text, folding))

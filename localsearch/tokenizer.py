"""OpenSearch's standard tokenizer (Lucene's StandardTokenizer, Unicode word boundaries of UAX #29) for the
scripts the product meets, with the lowercase (and optional asciifolding) filters of the standard analyzer.

Word characters (letters, digits, `_`) run together; `.` and `'` join letters to letters and digits to digits
(`o'neil`, `u.s.a`, `3.14`), `:` joins letters (`a:b`), `,` and `;` join digits (`1,000`); everything else
separates. Han and Hiragana characters are one token each, Katakana runs one token. Tokens longer than 255
characters are split, as the standard tokenizer's max_token_length does. The text handed to tantivy is these
tokens joined by spaces (a whitespace tokenizer reads them back), so positions, and phrases, are the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TOKEN_LENGTH = 255
MID_LETTER = set(":·״‧︓﹕：")
MID_NUM_LET = set(".'’‘․﹒＇．")
MID_NUM = set(",;;﹐﹔，；٬߸")
LETTER, DIGIT, JOINER, MARK, HAN, KATAKANA, OTHER = range(7)


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str  # lowercased (and folded when asked)


def _kind(char: str) -> int:
    if char == "_" or unicodedata.category(char) == "Pc":
        return JOINER
    category = unicodedata.category(char)
    if category in ("Mn", "Mc", "Me"):
        return MARK
    if category == "Nd":
        return DIGIT
    if category[0] == "L" or category == "Nl":
        name = unicodedata.name(char, "")
        if name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA")):
            return HAN
        if name.startswith("KATAKANA") or name.startswith("HALFWIDTH KATAKANA"):
            return KATAKANA
        return LETTER
    return OTHER


WORDY = (LETTER, DIGIT, JOINER, KATAKANA)


def _adjacent(left: int, right: int) -> bool:
    """Whether two word characters next to each other stay in one token (UAX #29 WB5, 8-10, 13, 13a, 13b)."""
    if left == JOINER or right == JOINER:
        return left in WORDY and right in WORDY
    if left == KATAKANA or right == KATAKANA:
        return left == right
    return left in (LETTER, DIGIT) and right in (LETTER, DIGIT)


def _across(left: int, middle: str, right: int) -> bool:
    """Whether a middle character joins its neighbours (WB6/7: letters; WB11/12: digits)."""
    if left == LETTER and right == LETTER:
        return middle in MID_LETTER or middle in MID_NUM_LET
    if left == DIGIT and right == DIGIT:
        return middle in MID_NUM or middle in MID_NUM_LET
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
        if kinds[i] == HAN:  # one token per ideograph, with the marks that follow it (WB4)
            end = i + 1
            while end < n and kinds[end] == MARK:
                end += 1
            out.append((i, end))
            i = end
            continue
        if kinds[i] not in WORDY:
            i += 1
            continue
        start, last = i, kinds[i]
        i += 1
        while i < n:
            here = kinds[i]
            if here == MARK:
                i += 1
            elif _adjacent(last, here):
                last = here
                i += 1
            else:
                after = i + 1  # marks after the middle character belong to it (WB4)
                while after < n and kinds[after] == MARK:
                    after += 1
                if after < n and _across(last, text[i], kinds[after]):
                    last = kinds[after]
                    i = after + 1
                else:
                    break
        if any(kinds[j] in (LETTER, DIGIT, KATAKANA) for j in range(start, i)):  # `_` alone is no word
            out += [(s, min(s + MAX_TOKEN_LENGTH, i)) for s in range(start, i, MAX_TOKEN_LENGTH)]
    return out


def fold(text: str) -> str:
    """asciifolding: accents and other marks dropped from Latin letters (café → cafe)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Mc", "Me")) or text


def tokens(text: str, folding: bool = False) -> list[Token]:
    out = []
    for start, end in spans(text):
        word = text[start:end].lower()
        out.append(Token(start, end, fold(word) if folding else word))
    return out


def analyze(text: str, folding: bool = False) -> list[str]:
    return [token.text for token in tokens(text, folding)]


def pretokenized(text: str, folding: bool = False) -> str:
    """The tokens joined by spaces: what the index's whitespace tokenizer reads back one for one."""
    return " ".join(analyze(text, folding))

"""Where a value matches: the character spans of its tokens that a query's matchers hit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from localsearch import tokenizer
from localsearch.highlight.matchers import Matcher
from localsearch.lexical import analyze


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    term: str


def _tokens(value: str) -> list[_Token]:
    """The standard tokenizer's tokens with their offsets (what the index holds for the value)."""
    return [_Token(t.start, t.end, t.text) for t in tokenizer.tokens(value)]


def find_spans(value: str, keyword: bool, matchers: list[Matcher]) -> list[tuple[int, int, str]]:
    """(start, end, term) of every match of `matchers` in one field value, in text order."""
    spans: set[tuple[int, int, str]] = set()
    tokens = [_Token(0, len(value), value)] if keyword else _tokens(value)
    for matcher in matchers:
        if keyword:
            if _keyword_matches(value, matcher):
                spans.add((0, len(value), value))
        else:
            spans |= {(t.start, t.end, t.term) for t in _text_matches(tokens, matcher)}
    return sorted(spans)


def _keyword_matches(value: str, matcher: Matcher) -> bool:
    if matcher.kind == "pattern":
        flags = re.IGNORECASE if matcher.case_insensitive else 0
        return re.fullmatch(matcher.value, value, flags) is not None
    if matcher.kind == "fuzzy":
        text, fuzziness = matcher.value
        return _edit_distance(value, text) <= _fuzzy_distance(fuzziness, text)
    if matcher.kind == "phrase_prefix":
        return value.startswith(str(matcher.value))
    expected = _keyword_text(matcher.value)
    return value.lower() == expected.lower() if matcher.case_insensitive else value == expected


def _keyword_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def _text_matches(tokens: list[_Token], matcher: Matcher) -> list[_Token]:
    kind = matcher.kind
    if kind == "text":
        wanted = set(analyze(str(matcher.value)))
        return [t for t in tokens if t.term in wanted]
    if kind == "term":
        value = _keyword_text(matcher.value)
        if matcher.case_insensitive:
            return [t for t in tokens if t.term == value.lower()]
        return [t for t in tokens if t.term == value]
    if kind == "pattern":
        pattern = re.compile(matcher.value.lower())  # text terms are lowercased, as the query's regex is
        return [t for t in tokens if pattern.fullmatch(t.term)]
    if kind == "fuzzy":
        text, fuzziness = matcher.value
        wanted = [(q, _fuzzy_distance(fuzziness, q)) for q in analyze(text)]
        return [t for t in tokens if any(_edit_distance(t.term, q, d) <= d for q, d in wanted)]
    return _phrase_matches(tokens, analyze(str(matcher.value)), matcher.slop, kind == "phrase_prefix")


def _phrase_matches(tokens: list[_Token], phrase: list[str], slop: int, prefix: bool) -> list[_Token]:
    """Tokens of every occurrence of the phrase (in order, with up to `slop` extra positions in all)."""
    if not phrase:
        return []
    last = len(phrase) - 1

    def hit(token: _Token, i: int) -> bool:
        return token.term.startswith(phrase[i]) if prefix and i == last else token.term == phrase[i]

    out: list[_Token] = []
    for start, token in enumerate(tokens):
        if not hit(token, 0):
            continue
        found, position, spare = [token], start, slop
        for i in range(1, len(phrase)):
            step = next((j for j in range(position + 1, min(len(tokens), position + 2 + spare))
                         if hit(tokens[j], i)), None)
            if step is None:
                break
            spare -= step - position - 1
            found.append(tokens[step])
            position = step
        if len(found) == len(phrase):
            out += found
    return out


def _fuzzy_distance(fuzziness: str, term: str) -> int:
    if fuzziness.upper().startswith("AUTO"):
        return 0 if len(term) <= 2 else 1 if len(term) <= 5 else 2
    try:
        return min(2, int(float(fuzziness)))
    except ValueError:
        return 0


def _edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein (adjacent transpositions), as Lucene's fuzzy queries count edits."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]

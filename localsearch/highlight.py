"""Hit highlighting: find the query's terms in a hit's source and wrap them as OpenSearch's unified
highlighter does (sentence passages bounded by `fragment_size`, best `number_of_fragments` kept,
shown in text order; the whole value when `number_of_fragments` is 0 or the field is a keyword)."""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any

from localsearch import tokenizer
from localsearch.index import View
from localsearch.lexical import analyze
from localsearch.mappings import Mapping, coerce_value, iter_leaf_values
from searchcore.errors import IllegalArgument, ParsingError, SearchError

DEFAULTS = {"pre_tags": ["<em>"], "post_tags": ["</em>"], "fragment_size": 100, "number_of_fragments": 5,
            "require_field_match": True, "no_match_size": 0, "order": "none", "encoder": "default",
            "type": "unified", "highlight_query": None}
STYLED_PRE_TAG = '<em class="hlt1">'
_HTML = {'"': "&quot;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#x27;", "/": "&#x2F;"}
# Lucene's passage scorer: BM25 over the passage, favouring passages that start early
_K1, _B, _PIVOT = 1.2, 0.75, 87


@dataclass(frozen=True)
class Matcher:
    """One thing a query clause looks for, and the field patterns it targets.

    kinds: `text` (analysed query text), `phrase`, `phrase_prefix`, `term` (an unanalysed value),
    `pattern` (a regex over terms, from prefix / wildcard), `fuzzy` (analysed text within an edit distance).
    """

    fields: tuple[str, ...]
    kind: str
    value: Any
    slop: int = 0
    case_insensitive: bool = False

    def targets(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.fields)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    term: str


def highlight(spec: Any, query: Any, view: View, source: dict[str, Any]) -> dict[str, list[str]]:
    """Highlighted fragments per field of one hit; only fields with something to show appear."""
    if not isinstance(spec, dict):
        raise ParsingError(f"Unknown key for a {'START_ARRAY' if isinstance(spec, list) else 'VALUE_STRING'} in "
                           "[highlight].")
    base = _options(spec, DEFAULTS)
    out: dict[str, list[str]] = {}
    for path, field_spec in _requested_fields(spec.get("fields"), view.mapping):
        options = _options(field_spec, base)
        matchers = extract_matchers(options["highlight_query"] or query)
        if options["require_field_match"]:
            matchers = [m for m in matchers if m.targets(path)]
        values = _source_values(view.mapping, path, source)
        fragments = _highlight_values(values, view.mapping.fields[path].type == "keyword", matchers, options)
        if fragments:
            out[path] = fragments
    return out


# ---- options and fields ---------------------------------------------------------------------

def _options(spec: dict[str, Any], inherited: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ParsingError("[highlight_field] options must be an object")
    options = dict(inherited)
    if spec.get("tags_schema") is not None:
        if spec["tags_schema"] != "styled":
            raise IllegalArgument(f"Unknown tag schema [{spec['tags_schema']}]")
        options["pre_tags"], options["post_tags"] = [STYLED_PRE_TAG], ["</em>"]
    if spec.get("pre_tags") is not None and spec.get("post_tags") is None:
        raise ParsingError("pre_tags are set but post_tags are not set")
    for key in ("pre_tags", "post_tags", "fragment_size", "number_of_fragments", "require_field_match",
                "no_match_size", "order", "encoder", "type", "highlight_query"):
        if spec.get(key) is not None:
            options[key] = spec[key]
    for key in ("pre_tags", "post_tags"):
        if isinstance(options[key], str):
            options[key] = [options[key]]
        if not options[key]:
            raise ParsingError(f"[{key}] must not be empty")
    if options["type"] == "fvh":
        raise IllegalArgument("[fvh] highlighting needs term vectors with positions and offsets, which localsearch "
                              "does not store; use the unified highlighter")
    if options["type"] not in ("unified", "plain"):
        raise IllegalArgument(f"unknown highlighter type [{options['type']}] for the field")
    for key in ("fragment_size", "number_of_fragments", "no_match_size"):
        try:
            options[key] = int(options[key])
        except (TypeError, ValueError) as exc:
            raise ParsingError(f"[highlight] failed to parse field [{key}]") from exc
    if options["number_of_fragments"] < 0:
        raise IllegalArgument(f"[number_of_fragments] must be non-negative, got [{options['number_of_fragments']}]")
    return options


def _requested_fields(fields: Any, mapping: Mapping) -> list[tuple[str, dict[str, Any]]]:
    """(path, field options) for every text or keyword field the request names or matches by wildcard."""
    if fields is None:
        return []
    entries: list[tuple[str, Any]] = []
    if isinstance(fields, dict):
        entries = list(fields.items())
    elif isinstance(fields, list):
        for entry in fields:
            if isinstance(entry, str):
                entries.append((entry, {}))
            elif isinstance(entry, dict) and len(entry) == 1:
                entries += list(entry.items())
            else:
                raise ParsingError("[highlight] fields must be an object or an array of single-field objects")
    else:
        raise ParsingError("[highlight] failed to parse field [fields]")
    out: dict[str, dict[str, Any]] = {}
    for name, options in entries:
        for path, spec in mapping.fields.items():
            if spec.type in ("text", "keyword") and fnmatch.fnmatchcase(path, name) and path not in out:
                out[path] = options or {}
    return list(out.items())


def _source_values(mapping: Mapping, path: str, source: dict[str, Any]) -> list[str]:
    """The field's values as the highlighter reads them from `_source` (subfields read their parent)."""
    spec = mapping.fields[path]
    parent = next((p for p, subs in mapping.subfields.items() if path in subs), path)
    out = []
    for leaf_path, values in iter_leaf_values(source):
        if leaf_path != parent:
            continue
        for value in values:
            try:
                text = coerce_value(spec, value, "highlight")
            except SearchError:
                continue
            if spec.ignore_above is not None and len(text) > spec.ignore_above:
                continue  # keyword values past ignore_above are not indexed, nor highlighted
            out.append(text)
    return out


# ---- what the query looks for ---------------------------------------------------------------

def extract_matchers(query: Any) -> list[Matcher]:
    """The terms, phrases and patterns a query searches for (must_not clauses excluded)."""
    if not isinstance(query, dict) or len(query) != 1:
        return []
    kind, spec = next(iter(query.items()))
    if kind == "bool" and isinstance(spec, dict):
        return [m for key in ("must", "should", "filter") for clause in _as_list(spec.get(key))
                for m in extract_matchers(clause)]
    nested = {"constant_score": "filter", "boosting": "positive", "function_score": "query",
              "script_score": "query", "nested": "query"}
    if kind in nested and isinstance(spec, dict):
        return extract_matchers(spec.get(nested[kind]))
    if kind in ("dis_max", "hybrid") and isinstance(spec, dict):
        return [m for clause in _as_list(spec.get("queries")) for m in extract_matchers(clause)]
    extractor = _EXTRACTORS.get(kind)
    return extractor(spec) if extractor is not None and spec is not None else []


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _field_and_params(spec: Any, short_key: str) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(spec, dict):
        return None
    fields = [k for k in spec if k not in ("boost", "_name")]
    if len(fields) != 1:
        return None
    params = spec[fields[0]]
    return fields[0], params if isinstance(params, dict) else {short_key: params}


def _match(spec: Any) -> list[Matcher]:
    found = _field_and_params(spec, "query")
    if found is None or found[1].get("query") is None:
        return []
    path, params = found
    return [_text_matcher((path,), params)]


def _text_matcher(fields: tuple[str, ...], params: dict[str, Any]) -> Matcher:
    fuzziness = params.get("fuzziness")
    if fuzziness not in (None, 0, "0"):
        return Matcher(fields, "fuzzy", (str(params["query"]), str(fuzziness)))
    return Matcher(fields, "text", str(params["query"]))


def _phrase(spec: Any, prefix: bool = False) -> list[Matcher]:
    found = _field_and_params(spec, "query")
    if found is None or found[1].get("query") is None:
        return []
    path, params = found
    return [Matcher((path,), "phrase_prefix" if prefix else "phrase", str(params["query"]),
                    slop=int(params.get("slop", 0)))]


def _multi_match(spec: Any) -> list[Matcher]:
    if not isinstance(spec, dict) or spec.get("query") is None:
        return []
    fields = spec.get("fields") or ["*"]
    patterns = tuple(str(f).partition("^")[0] for f in ([fields] if isinstance(fields, str) else fields))
    kind = spec.get("type", "best_fields")
    if kind in ("phrase", "phrase_prefix"):
        return [Matcher(patterns, kind, str(spec["query"]), slop=int(spec.get("slop", 0)))]
    return [_text_matcher(patterns, spec)]


def _term(spec: Any) -> list[Matcher]:
    found = _field_and_params(spec, "value")
    if found is None or found[1].get("value") is None:
        return []
    path, params = found
    return [Matcher((path,), "term", params["value"], case_insensitive=bool(params.get("case_insensitive")))]


def _terms(spec: Any) -> list[Matcher]:
    if not isinstance(spec, dict):
        return []
    fields = [(k, v) for k, v in spec.items() if k not in ("boost", "_name") and isinstance(v, list)]
    return [Matcher((path,), "term", value) for path, values in fields for value in values]


def _prefix(spec: Any) -> list[Matcher]:
    found = _field_and_params(spec, "value")
    if found is None or found[1].get("value") is None:
        return []
    path, params = found
    return [Matcher((path,), "pattern", re.escape(str(params["value"])) + ".*",
                    case_insensitive=bool(params.get("case_insensitive")))]


def _wildcard(spec: Any) -> list[Matcher]:
    found = _field_and_params(spec, "value")
    if found is None:
        return []
    path, params = found
    value = params.get("value", params.get("wildcard"))
    if value is None:
        return []
    return [Matcher((path,), "pattern", _wildcard_regex(str(value)),
                    case_insensitive=bool(params.get("case_insensitive")))]


def _wildcard_regex(value: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)


def _query_string(spec: Any, simple: bool = False) -> list[Matcher]:
    if not isinstance(spec, dict) or spec.get("query") is None:
        return []
    fields = spec.get("fields") or ([spec["default_field"]] if spec.get("default_field") else ["*"])
    defaults = tuple(str(f).partition("^")[0] for f in ([fields] if isinstance(fields, str) else fields))
    return parse_query_string(str(spec["query"]), defaults, allow_fields=not simple)


def _simple_query_string(spec: Any) -> list[Matcher]:
    return _query_string(spec, simple=True)


_EXTRACTORS = {"match": _match, "match_phrase": _phrase, "match_phrase_prefix": lambda s: _phrase(s, True),
               "match_bool_prefix": _match, "multi_match": _multi_match, "combined_fields": _multi_match,
               "query_string": _query_string, "simple_query_string": _simple_query_string, "term": _term,
               "terms": _terms, "prefix": _prefix, "wildcard": _wildcard}

_QS_TOKENS = re.compile(r"""
    (?P<space>\s+)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<phrase>"(?:[^"\\]|\\.)*"(?:~\d*)?(?:\^[\d.]+)?)
  | (?P<range>[\[{][^\]}]*[\]}](?:\^[\d.]+)?)
  | (?P<word>(?:[^\s()"\\]|\\.)+)
""", re.VERBOSE)
_QS_OPERATORS = {"AND", "OR", "&&", "||", "|", "+"}


def parse_query_string(text: str, defaults: tuple[str, ...], allow_fields: bool = True) -> list[Matcher]:
    """The positive terms, phrases and patterns of a Lucene query string (query_string syntax)."""
    matchers: list[Matcher] = []
    stack: list[tuple[tuple[str, ...], bool]] = []  # enclosing groups: (fields, negated)
    fields, negated = defaults, False
    pending_fields: tuple[str, ...] | None = None
    pending_not = False
    for match in _QS_TOKENS.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "open":
            stack.append((fields, negated))
            fields, negated = pending_fields or fields, negated or pending_not
            pending_fields, pending_not = None, False
            continue
        if kind == "close":
            fields, negated = stack.pop() if stack else (defaults, False)
            continue
        if kind == "word" and token in _QS_OPERATORS:
            continue
        if kind == "word" and token in ("NOT", "!", "-"):
            pending_not = True
            continue
        if kind == "word":
            while token[:1] in ("+", "-", "!") and len(token) > 1:
                pending_not = pending_not or token[0] != "+"
                token = token[1:]
            field, colon, rest = _split_field(token) if allow_fields else ("", "", token)
            if colon:
                pending_fields = (field,)
                if not rest:
                    continue
                token = rest
        target, excluded = pending_fields or fields, negated or pending_not
        pending_fields, pending_not = None, False
        if excluded or kind == "range" or target == ("_exists_",):
            continue
        matchers += _query_string_clause(kind or "word", token, target)
    return matchers


def _split_field(token: str) -> tuple[str, str, str]:
    match = re.match(r"((?:[^:\\]|\\.)+):(?!//)(.*)$", token)
    if match is None:
        return "", "", token
    return match.group(1).replace("\\", ""), ":", match.group(2)


def _query_string_clause(kind: str, token: str, fields: tuple[str, ...]) -> list[Matcher]:
    token = re.sub(r"\^[\d.]+$", "", token)
    if kind == "phrase":
        body, _, slop = token[1:].rpartition('"')
        slop = slop.lstrip("~")
        return [Matcher(fields, "phrase", _unescape(body), slop=int(slop) if slop.isdigit() else 0)]
    fuzzy = re.search(r"(?<!\\)~(\d*(?:\.\d+)?)$", token)
    if fuzzy:
        term = _unescape(token[:fuzzy.start()])
        return [Matcher(fields, "fuzzy", (term, fuzzy.group(1) or "2"))] if term else []
    if re.search(r"(?<!\\)[*?]", token):
        if token in ("*", "*:*"):
            return []
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                        for c in re.sub(r"\\(.)", r"\1", token))
        return [Matcher(fields, "pattern", regex, case_insensitive=True)]
    term = _unescape(token)
    return [Matcher(fields, "text", term)] if term else []


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ---- finding matches in a value ---------------------------------------------------------------

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


# ---- passages and fragments -----------------------------------------------------------------

@dataclass
class _Passage:
    value: int
    start: int
    end: int
    spans: list[tuple[int, int, str]]
    score: float = 0.0


def _highlight_values(values: list[str], keyword: bool, matchers: list[Matcher], options: dict[str, Any]
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

"""What a query looks for, as highlighting sees it: one Matcher per term, phrase or pattern of its clauses."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any


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

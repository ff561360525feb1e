"""Read a query DSL tree: the free text to rerank with, the filters both legs share, vector clauses."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

# Is a field (a name or a pattern such as `title*`) in the index's mapping? None: every field counts as mapped.
FieldCheck = Callable[[str], bool] | None

# Full-text queries whose text is what the user typed. In scoring context (top level, bool.must,
# bool.should) any of them gives text; in filter context (bool.filter, constant_score.filter) only
# the field-less forms do: that is how Dashboards' DQL sends free text (`multi_match` with
# `lenient: true`, or `query_string` for wildcards), while `title:neural` in DQL and filter pills
# arrive as field-scoped `match`/`match_phrase` and are structured filters, not text.
_FIELD_TEXT = frozenset({"match", "match_phrase", "match_phrase_prefix", "match_bool_prefix"})
_FREE_TEXT = frozenset({"multi_match", "combined_fields", "query_string", "simple_query_string"})
_LUCENE_SYNTAX = frozenset({"query_string", "simple_query_string"})
VECTOR_QUERIES = frozenset({"knn", "hybrid", "neural", "neural_sparse"})

_SAME, _FILTER, _NEGATED, _OPAQUE = "same", "filter", "negated", "opaque"
# Where compound queries hold sub-queries, and in which context those sub-queries run.
_CHILDREN: dict[str, dict[str, str]] = {
    "bool": {"must": _SAME, "should": _SAME, "filter": _FILTER, "must_not": _NEGATED},
    "function_score": {"query": _SAME},
    "script_score": {"query": _SAME},
    "boosting": {"positive": _SAME, "negative": _NEGATED},
    "dis_max": {"queries": _SAME},
    "constant_score": {"filter": _FILTER},
    "nested": {"query": _OPAQUE},
    "has_child": {"query": _OPAQUE},
    "has_parent": {"query": _OPAQUE},
}


def _single(query: Any) -> tuple[str | None, Any]:
    """A query clause is a one-key object: {name: spec}. Anything else is not ours to read."""
    if isinstance(query, dict) and len(query) == 1:
        name, spec = next(iter(query.items()))
        return name, spec
    return None, None


def as_list(clauses: Any) -> list[Any]:
    """Bool occurrences take one clause or a list of them."""
    if isinstance(clauses, list):
        return clauses
    return [] if clauses is None else [clauses]


def _children(name: str, spec: Any) -> list[tuple[str, Any]]:
    """(context, sub-query) pairs of a compound query, in the order the client wrote them."""
    kinds = _CHILDREN.get(name)
    if not kinds or not isinstance(spec, dict):
        return []
    return [(kinds[key], child) for key, value in spec.items() if key in kinds
            for child in as_list(value)]


def clause_text(query: Any, *, in_filter: bool = False) -> str | None:
    """The text of one full-text clause, or None when it is not one (or holds no words)."""
    name, spec = _single(query)
    if name in _FIELD_TEXT and not in_filter and isinstance(spec, dict):
        # {"field": "text"} or {"field": {"query": "text", ...}}
        value = next(iter(spec.values()), None)
        raw = value.get("query") if isinstance(value, dict) else value
    elif name in _FREE_TEXT and isinstance(spec, dict):
        raw = spec.get("query")
    else:
        return None
    if not isinstance(raw, str):
        return None  # numbers and booleans are structured values, not words
    text = lucene_to_text(raw) if name in _LUCENE_SYNTAX else " ".join(raw.split())
    return text or None


def clause_fields(query: Any) -> list[str] | None:
    """The fields a full-text clause searches (boosts removed); None when it searches the index's default
    fields (`multi_match` or `query_string` without fields), which always exist."""
    name, spec = _single(query)
    if not isinstance(spec, dict):
        return None
    if name in _FIELD_TEXT:
        return [next(iter(spec), "")]
    fields = spec.get("fields")
    if name in _LUCENE_SYNTAX and not fields:
        fields = [spec["default_field"]] if isinstance(spec.get("default_field"), str) else None
    if not isinstance(fields, list) or not fields:
        return None
    return [field.split("^", 1)[0] for field in fields if isinstance(field, str)]


def query_texts(query: Any, field_is_mapped: FieldCheck = None) -> list[str]:
    """Texts of the full-text clauses that shape the ranking, in document order, duplicates once.

    With `field_is_mapped`, a clause that searches only fields the index does not have is left out: on the
    cluster it matches nothing, so its words must not steer the k-NN leg either.
    """
    texts: list[str] = []
    _collect(query, False, texts, field_is_mapped)
    return list(dict.fromkeys(texts))


def _collect(query: Any, in_filter: bool, texts: list[str], field_is_mapped: FieldCheck) -> None:
    text = clause_text(query, in_filter=in_filter)
    if text is not None:
        if searches_a_mapped_field(query, field_is_mapped):
            texts.append(text)
        return
    name, spec = _single(query)
    for context, child in _children(name, spec):
        if context in (_SAME, _FILTER):
            _collect(child, in_filter or context == _FILTER, texts, field_is_mapped)


def searches_a_mapped_field(clause: Any, field_is_mapped: FieldCheck) -> bool:
    fields = clause_fields(clause)
    return field_is_mapped is None or fields is None or any(field_is_mapped(f) for f in fields)


def mapped_field_check(field_names: Iterable[str]) -> Callable[[str], bool]:
    """A FieldCheck over a mapping's field paths: exact names, and `*` patterns as OpenSearch expands them."""
    from fnmatch import fnmatchcase
    names = frozenset(field_names)

    def is_mapped(field: str) -> bool:
        if "*" in field:
            return any(fnmatchcase(name, field) for name in names)
        return field in names
    return is_mapped


def has_vector_query(query: Any) -> bool:
    """Whether the client already runs a k-NN / hybrid / neural query anywhere in its tree."""
    stack = [query]
    while stack:
        name, spec = _single(stack.pop())
        if name in VECTOR_QUERIES:
            return True
        if name is not None:
            stack.extend(child for _, child in _children(name, spec))
    return False


def knn_filters(query: Any) -> list[dict[str, Any]]:
    """Clauses every hit of the query must satisfy apart from its scoring text: the k-NN leg's filter.

    Scoring-context text clauses are replaced by "matches anything" and the rest is kept, so the
    result is the query's match set with the text requirement lifted: `bool.filter` clauses,
    `bool.must_not` (wrapped as {"bool": {"must_not": [...]}}), non-text `must` clauses, and `should`
    clauses where they are required and none of them was text. Filter-context text (DQL) stays.
    """
    stripped = _strip_text(query)
    if stripped is None:
        return []
    name, spec = _single(stripped)
    if name != "bool":
        return [stripped]
    filters = list(spec.get("filter", [])) + list(spec.get("must", []))
    if spec.get("must_not"):
        filters.append({"bool": {"must_not": spec["must_not"]}})
    if spec.get("should"):
        filters.append({"bool": {"should": spec["should"],
                                 "minimum_should_match": spec.get("minimum_should_match", 1)}})
    return filters


def _strip_text(query: Any) -> dict[str, Any] | None:
    """The query with scoring text replaced by match-all; None when nothing but text was left."""
    if clause_text(query) is not None:
        return None
    name, spec = _single(query)
    if name == "bool" and isinstance(spec, dict):
        return _strip_bool(spec)
    if name in ("function_score", "script_score") and isinstance(spec, dict):
        return _strip_text(spec.get("query"))  # functions only rescore; no query = match_all
    if name == "boosting" and isinstance(spec, dict):
        return _strip_text(spec.get("positive"))  # negative only lowers scores
    if name == "dis_max" and isinstance(spec, dict):
        queries = [_strip_text(q) for q in as_list(spec.get("queries"))]
        return None if not queries or None in queries else {"dis_max": {"queries": queries}}
    return query if isinstance(query, dict) else None


def _strip_bool(spec: dict[str, Any]) -> dict[str, Any] | None:
    must = [kept for c in as_list(spec.get("must")) if (kept := _strip_text(c)) is not None]
    should = [_strip_text(c) for c in as_list(spec.get("should"))]
    msm = spec.get("minimum_should_match")
    # should restricts hits only when required: no must/filter, or an explicit minimum above 0
    required = (msm not in (None, 0, "0", "0%")
                or not (as_list(spec.get("must")) or as_list(spec.get("filter"))))
    result: dict[str, Any] = {}
    if must:
        result["must"] = must
    for occur in ("filter", "must_not"):
        if clauses := as_list(spec.get(occur)):
            result[occur] = clauses
    if should and required and None not in should:  # a text clause would match anything
        result["should"] = should
        if msm is not None:
            result["minimum_should_match"] = msm
    return {"bool": result} if result else None


# ---- Lucene query syntax -> natural text (query_string, simple_query_string, the `q` parameter) ----

_LUCENE_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<phrase>"(?:\\.|[^"\\])*"?)
  | (?P<range>[\[{](?:\\.|[^\]}\\])*[\]}]?)
  | (?P<regex>/(?:\\.|[^/\\])*/?)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<op>&&|\|\||[!+\-|])
  | (?P<modifier>[\^~][0-9.]*)
  | (?P<compare>[<>]=?)
  | (?P<colon>:)
  | (?P<term>(?:\\.|[^\s"()\[\]{}^~:<>/\\])+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_WILDCARD = re.compile(r"(?<!\\)[*?]")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def lucene_to_text(query: str) -> str:
    """The words of a Lucene query string: field prefixes, operators, quotes, groups, boosts,
    fuzziness and wildcards go; negated terms or groups (`NOT x`, `-x`, `!x`), ranges, regexes
    and `_exists_:field` are dropped whole. A query of only wildcards (`*`) has no text.
    """
    tokens = [(m.lastgroup, m.group()) for m in _LUCENE_TOKEN.finditer(query)]
    words: list[str] = []
    skipping: list[bool] = []  # per open group: is it negated (or inside a negated one)?
    drop_next = False  # the next unit is negated, a range value, or an _exists_ field name
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][0] if i + 1 < len(tokens) else None
        if kind == "term" and following == "colon":  # a field prefix: `title:`
            drop_next = drop_next or text == "_exists_"
        elif kind == "op" and text in ("!", "-") or kind == "term" and text == "NOT":
            drop_next = True
        elif kind == "compare":
            drop_next = True
        elif kind == "open":
            skipping.append(drop_next or any(skipping))
            drop_next = False
        elif kind == "close":
            if skipping:
                skipping.pop()
        elif kind in ("term", "phrase", "range", "regex"):
            keep = not drop_next and not any(skipping) and not (kind == "term" and text in ("AND", "OR"))
            if keep and kind == "phrase":
                words.append(_ESCAPE.sub(r"\1", text[1:-1] if text.endswith('"') and len(text) > 1
                                         else text[1:]))
            elif keep and kind == "term":
                words.append(_ESCAPE.sub(r"\1", _WILDCARD.sub("", text)))
            if not (kind == "term" and text in ("AND", "OR")):
                drop_next = False
    return " ".join(" ".join(words).split())

"""Compile a `simple_query_string` clause (its own, smaller syntax) into one tantivy query."""

from __future__ import annotations

import re
from typing import Any

from tantivy import Occur, Query

from localsearch.failures import unsupported
from localsearch.query_string.compile import QueryStringContext
from localsearch.query_string.parse import Term, unescape

_SIMPLE_SPLIT = re.compile(r'"(?:[^"\\]|\\.)*"?|[+|\-()]|[^\s+|\-()"]+(?:-[^\s+|()"]+)*')


def compile_simple_query_string(compiler: Any, spec: dict[str, Any]) -> Any:
    """Lucene's SimpleQueryParser: terms combined left to right by `+` (AND), `|` (OR) or the default operator,
    `-` negating the next term (as `NOT term` OR-ed with everything, Lucene's own quirk), each term searched
    over the fields as multi_match most_fields (prefixes and phrases as a dis_max)."""
    if str(spec.get("flags", "ALL")).upper() != "ALL":
        raise unsupported("[simple_query_string] [flags] other than ALL")
    if spec.get("quote_field_suffix"):
        raise unsupported("[quote_field_suffix] in [simple_query_string]")
    if spec.get("analyzer") not in (None, "standard", "default"):
        raise unsupported(f"the query [analyzer] [{spec['analyzer']}]")
    fields = spec.get("fields") or ["*"]
    fields = [fields] if isinstance(fields, str) else fields
    and_default = str(spec.get("default_operator", "or")).lower() == "and"
    context = QueryStringContext(compiler, fields, and_default, 0.0, bool(spec.get("lenient")) or fields == ["*"], None)
    context.forced_analyzer = spec.get("analyzer") is not None
    tokens = _SIMPLE_SPLIT.findall(str(spec["query"]))
    query, _ = _simple_sequence(context, tokens, 0, and_default)
    if query is None:
        return Query.empty_query()
    if spec.get("minimum_should_match") is not None:
        raise unsupported("[minimum_should_match] in [simple_query_string]")
    boost = float(spec.get("boost", 1.0))
    return Query.boost_query(query, boost) if boost != 1.0 else query


def _simple_sequence(context: QueryStringContext, tokens: list[str], position: int, and_default: bool
                     ) -> tuple[Any, int]:
    default = Occur.Must if and_default else Occur.Should
    top: Any = None
    top_clauses: list[tuple[Any, Any]] = []
    previous = current = None
    negations = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token == ")":
            break
        if token == "+":
            current = Occur.Must
            continue
        if token == "|":
            current = Occur.Should
            continue
        if token == "-":
            negations += 1
            continue
        if token == "(":
            branch, position = _simple_sequence(context, tokens, position, and_default)
        else:
            branch = _simple_term(context, token)
        if branch is not None:
            if negations % 2 == 1:
                branch = Query.boolean_query([(Occur.MustNot, branch), (Occur.Should, Query.all_query())])
            if top is None:
                top, top_clauses = branch, []
            else:
                current = current if current is not None else default
                if previous != current:
                    top_clauses = [(current, top)]
                top_clauses.append((current, branch))
                top = Query.boolean_query(top_clauses)
                previous = current
        current, negations = None, 0
    return top, position


def _simple_term(context: QueryStringContext, token: str) -> Any:
    if token.startswith('"'):
        term = Term(unescape(token.strip('"')), None, "phrase")
    elif token.endswith("*") and len(token) > 1:
        term = Term(unescape(token[:-1]), None, "prefix")
    elif "~" in token:
        raise unsupported("fuzzy terms and phrase slop (~) in [simple_query_string]")
    else:
        term = Term(unescape(token), None, "term")
    per_field = [q for q in (context.weighted(term, path, weight) for path, weight in context.paths(None))
                 if q is not None]
    if not per_field:
        return None
    if len(per_field) == 1:
        return per_field[0]
    if term.kind == "term":  # multi_match most_fields: the fields' scores add up
        return Query.boolean_query([(Occur.Should, q) for q in per_field])
    return Query.disjunction_max_query(per_field, 1.0 if term.kind == "prefix" else 0.0)

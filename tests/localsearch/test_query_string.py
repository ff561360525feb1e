"""Lucene query syntax parser: every input ends in a parse tree or an OpenSearch-style error, never a hang or a
crash (the differential tests check what the trees match against the real node)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from localsearch.query_string import Group, Term, parse_query_string
from searchcore.errors import SearchError

SYNTAX = st.text(alphabet=st.sampled_from(list('ab:*?()[]{}^~"\\/+-!&| TO AND OR NOT 12')), max_size=40)


@settings(max_examples=500, deadline=None)  # a hang is caught by pytest-timeout
@given(text=SYNTAX, and_default=st.booleans())
def test_any_text_parses_or_is_refused(text, and_default):
    try:
        tree = parse_query_string(text, and_default)
    except SearchError as exc:
        assert exc.status == 400
    else:
        assert isinstance(tree, Group)


def test_bare_terms_are_analyzed_together():
    tree = parse_query_string("vector search title:rank", and_default=False)
    assert [(occur, clause.text, clause.field) for occur, clause in tree.clauses] == [
        ("SHOULD", "vector search", None), ("SHOULD", "rank", "title")]


def test_and_or_not_give_lucene_occurrences():
    tree = parse_query_string("a AND b OR c NOT d", and_default=False)
    assert [occur for occur, _ in tree.clauses] == ["MUST", "MUST", "SHOULD", "MUST_NOT"]
    tree = parse_query_string("a b -c", and_default=True)
    assert [occur for occur, _ in tree.clauses] == ["MUST", "MUST_NOT"]  # "a b" is one run of terms


def test_ranges_comparisons_and_exists():
    tree = parse_query_string("n:[1 TO *] n:>5 _exists_:price", and_default=False)
    kinds = [(clause.kind, clause.field, clause.bounds) for _, clause in tree.clauses if isinstance(clause, Term)]
    assert kinds == [("range", "n", ("1", None, True, True)), ("range", "n", ("5", None, False, True)),
                     ("exists", "price", None)]

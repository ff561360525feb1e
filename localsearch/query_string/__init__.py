"""Lucene query syntax (`query_string` and the `q` parameter), read the way OpenSearch's QueryStringQueryParser
reads it, into clauses the DSL compiler turns into tantivy queries.

What matches and how it scores follows Lucene's classic parser: AND/OR/NOT and +/- give each clause its
occurrence with QueryParserBase.addClause's rules; a term without a field is searched in every default field
and the per-field queries are combined as a dis_max (multi_match best_fields); a group of only negative
clauses matches everything else (Queries.fixNegativeQueryIfNeeded). Fuzzy terms (`~`), regular expressions and
phrase slop are refused by name: localsearch does not reproduce their scoring.

Modules: parse (the syntax into Terms and Groups), compile (`query_string`), simple (`simple_query_string`).
"""

from __future__ import annotations

from localsearch.query_string.compile import compile_query_string
from localsearch.query_string.parse import Group, QueryStringError, Term, parse_query_string
from localsearch.query_string.simple import compile_simple_query_string

__all__ = ["Group", "QueryStringError", "Term", "compile_query_string", "compile_simple_query_string",
           "parse_query_string"]

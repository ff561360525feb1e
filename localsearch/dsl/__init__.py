"""The query DSL: compile a query clause into something one index's view can evaluate.

Lexical clauses compile to one tantivy query (fast top-k and counts); a `knn` clause is
evaluated on the vector field; a `bool` mixing both is combined here with Lucene's rules
(must/should scores add up, filter and must_not do not score).

Modules: nodes (what a compiled query is), compiler (dispatch, compound clauses, knn), full_text and
term_level (the leaf clauses).
"""

from __future__ import annotations

from localsearch.dsl.compiler import compile_query, single_key
from localsearch.dsl.nodes import Bool, Hits, Knn, Lexical, Node, post_filtered

__all__ = ["Bool", "Hits", "Knn", "Lexical", "Node", "compile_query", "post_filtered", "single_key"]

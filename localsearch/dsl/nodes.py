"""What a compiled query is: a node one index's view evaluates (lexical, k-NN, bool, constant score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tantivy import Occur, Query

from localsearch.index import View

Hits = list[tuple[str, float]]


class Node:
    def top(self, view: View, k: int) -> tuple[Hits, int]:
        """The best k (id, score) pairs and the number of matching documents."""
        scored = self.all(view)
        hits = sorted(scored.items(), key=lambda kv: (-kv[1], view.docs[kv[0]].ordinal))[:k]
        return hits, len(scored)

    def all(self, view: View) -> dict[str, float]:
        raise NotImplementedError


@dataclass
class Lexical(Node):
    query: Query

    def top(self, view: View, k: int) -> tuple[Hits, int]:
        hits, total = view.lexical.search(self.query, k, view.searcher)
        return [(view.doc_id(o), s) for o, s in hits], total

    def all(self, view: View) -> dict[str, float]:
        hits, _ = view.lexical.search(self.query, max(1, view.searcher.num_docs), view.searcher)
        return {view.doc_id(o): s for o, s in hits}


@dataclass
class Knn(Node):
    field: str
    vector: np.ndarray
    k: int
    filter: Node | None
    boost: float

    def all(self, view: View) -> dict[str, float]:
        vector_field = view.vectors.get(self.field)
        if vector_field is None:
            return {}
        allowed = set(self.filter.all(view)) if self.filter is not None else None
        hits = vector_field.search(self.vector, self.k, allowed=allowed)
        return {i: s * self.boost for i, s in hits if i in view.docs}


@dataclass
class Bool(Node):
    must: list[Node]
    should: list[Node]
    filter: list[Node]
    must_not: list[Node]
    minimum_should_match: int
    boost: float

    def all(self, view: View) -> dict[str, float]:
        scores: dict[str, float] | None = None
        for clause in self.must:
            part = clause.all(view)
            scores = part if scores is None else {d: s + part[d] for d, s in scores.items() if d in part}
        for clause in self.filter:
            part = clause.all(view)
            scores = ({d: 0.0 for d in part} if scores is None else
                      {d: s for d, s in scores.items() if d in part})
        should_parts = [c.all(view) for c in self.should]
        if scores is None:
            union = set().union(*should_parts) if should_parts else set(view.docs)
            scores = {d: 0.0 if should_parts else 1.0 for d in union}
        if self.minimum_should_match:
            scores = {d: s for d, s in scores.items()
                      if sum(d in p for p in should_parts) >= self.minimum_should_match}
        for part in should_parts:
            scores = {d: s + part.get(d, 0.0) for d, s in scores.items()}
        for clause in self.must_not:
            excluded = clause.all(view)
            scores = {d: s for d, s in scores.items() if d not in excluded}
        return {d: s * self.boost for d, s in scores.items()}


@dataclass
class ConstScore(Node):
    inner: Node
    boost: float

    def all(self, view: View) -> dict[str, float]:
        return {d: self.boost for d in self.inner.all(view)}


def post_filtered(node: Node, post_filter: Node) -> Node:
    """The documents of `node` that `post_filter` also matches, with `node`'s scores (a post_filter never scores:
    a non-scoring clause adds 0.0, which leaves every float32 score as it was)."""
    if isinstance(node, Lexical) and isinstance(post_filter, Lexical):
        return Lexical(Query.boolean_query([(Occur.Must, node.query),
                                            (Occur.Must, Query.const_score_query(post_filter.query, 0.0))]))
    return Bool([node], [], [post_filter], [], 0, 1.0)

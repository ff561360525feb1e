"""The inverted index of one index: tantivy schema from the mapping, document writes, query building.

BM25 note: tantivy's BM25 keeps Lucene's old (k1 + 1) factor, so every text-scoring query is
boosted by 1 / (k1 + 1) = 1 / 2.2 here. With k1 = 1.2 and b = 0.75 the score of a term is then
    idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)),  idf = ln(1 + (N - n + 0.5) / (n + 0.5))
which is OpenSearch's (Lucene) BM25. The difference that remains: tantivy counts N and avgdl over
all documents of the index, Lucene over the documents that have the field.

Text is split by localsearch.tokenizer (OpenSearch's standard tokenizer) before tantivy sees it: the
index holds the tokens joined by spaces, read back by a whitespace tokenizer with tantivy's lowercase
(and asciifolding) filters, so positions are the standard tokenizer's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import tantivy
from tantivy import Document, Occur, Query

from localsearch.mappings import FLOAT_TYPES, INTEGER_TYPES, FieldMapping, Mapping
from localsearch.tokenizer import MAX_TOKEN_LENGTH, pretokenized

ANALYZER = "standard"
BM25_SCALE = 1 / 2.2
ORD_FIELD = "_ord"
ID_FIELD = "_id"
FIELD_NAMES = "_field_names"
WRITER_HEAP = 64_000_000


def _analyzer(fold: bool = False) -> tantivy.TextAnalyzer:
    """Reads back pretokenized text (tokens are at most 255 characters, up to 4 bytes each)."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
               .filter(tantivy.Filter.remove_long(4 * MAX_TOKEN_LENGTH + 1))
               .filter(tantivy.Filter.lowercase()))
    if fold:
        builder = builder.filter(tantivy.Filter.ascii_fold())
    return builder.build()


_ANALYZER = _analyzer()
_FOLDING = _analyzer(fold=True)
FOLDING_ANALYZER = "standard_asciifolding"


def analyze(text: str, folding: bool = False) -> list[str]:
    """The tokens the index's text fields hold for `text` (used for query text too)."""
    return (_FOLDING if folding else _ANALYZER).analyze(pretokenized(text))


def field_analyzers(mapping: Mapping, settings: dict[str, Any] | None) -> dict[str, str]:
    """The analyzer (by tantivy name) of each text field: standard, or standard with asciifolding when the
    field names a custom analyzer that folds (the only custom analyzers localsearch accepts)."""
    from localsearch.mapping_rules import custom_analyzers, folding_filters
    custom = custom_analyzers((settings or {}).get("index", {}))
    out = {}
    for path, spec in mapping.fields.items():
        if spec.type != "text":
            continue
        definition = custom.get(str(spec.params.get("analyzer", "standard")))
        filters = folding_filters(definition) if definition else None
        out[path] = FOLDING_ANALYZER if filters and "asciifolding" in filters else ANALYZER
    return out


class LexicalIndex:
    """A RAM tantivy index over the indexable fields of one index's documents.

    Documents are keyed by an integer ordinal (a fast field) that the caller maps back to `_id`.
    The schema is fixed by tantivy, so a mapping that gains fields gets a new LexicalIndex.
    """

    def __init__(self, mapping: Mapping, settings: dict[str, Any] | None = None) -> None:
        self.fields: dict[str, FieldMapping] = {
            path: spec for path, spec in mapping.fields.items() if spec.type != "knn_vector"}
        self.analyzers = field_analyzers(mapping, settings)
        from localsearch.mapping_rules import custom_analyzers
        self.custom_analyzers = set(custom_analyzers((settings or {}).get("index", {})))
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field(ORD_FIELD, stored=False, indexed=True, fast=True)
        builder.add_text_field(ID_FIELD, tokenizer_name="raw", index_option="basic")
        builder.add_text_field(FIELD_NAMES, tokenizer_name="raw", index_option="basic")
        self.names: dict[str, str] = {}
        for i, (path, spec) in enumerate(sorted(self.fields.items())):
            name = path if tantivy.SchemaBuilder.is_valid_field_name(path) else f"_f{i}"
            self.names[path] = name
            _add_field(builder, name, spec, self.analyzers.get(path, ANALYZER))
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)
        self.index.register_tokenizer(ANALYZER, _analyzer())
        self.index.register_tokenizer(FOLDING_ANALYZER, _analyzer(fold=True))
        self._writer = self.index.writer(WRITER_HEAP, 1)
        self._lock = threading.Lock()
        self.searcher = self.index.searcher()

    # ---- writes ----------------------------------------------------------------------------
    def add(self, ordinal: int, doc_id: str, values: dict[str, list[Any]]) -> None:
        """Index one document version; `values` maps field paths to coerced values."""
        doc = Document()
        doc.add_integer(ORD_FIELD, ordinal)
        doc.add_text(ID_FIELD, doc_id)
        for path, items in values.items():
            spec = self.fields.get(path)
            if spec is None or not items:
                continue
            doc.add_text(FIELD_NAMES, path)
            _add_values(doc, self.names[path], spec, items)
        with self._lock:
            self._writer.delete_documents_by_term(ID_FIELD, doc_id)
            self._writer.add_document(doc)

    def delete(self, doc_id: str) -> None:
        with self._lock:
            self._writer.delete_documents_by_term(ID_FIELD, doc_id)

    def commit(self) -> tantivy.Searcher:
        """Make everything written so far searchable (a refresh); returns the new searcher."""
        with self._lock:
            self._writer.commit()
            self.index.reload()
            self.searcher = self.index.searcher()
        return self.searcher

    # ---- queries ---------------------------------------------------------------------------
    def name(self, path: str) -> str | None:
        return self.names.get(path)

    def analyze(self, path: str, text: str) -> list[str]:
        """Query text as the field's analyzer splits it."""
        return analyze(text, folding=self.analyzers.get(path) == FOLDING_ANALYZER)

    def term(self, path: str, value: Any) -> Query:
        spec = self.fields[path]
        name = self.names[path]
        if spec.type == "boolean":
            return Query.term_query(self.schema, name, bool(value))
        if spec.is_numeric or spec.type == "date":
            return self.range(path, value, value, True, True)
        # term queries on text and keyword fields score with BM25 too
        return Query.boost_query(Query.term_query(self.schema, name, value), BM25_SCALE)

    def text_terms(self, path: str, tokens: Sequence[str]) -> list[Query]:
        """One BM25 term query per token, scaled to OpenSearch's BM25."""
        name = self.names[path]
        return [Query.boost_query(Query.term_query(self.schema, name, t), BM25_SCALE) for t in tokens]

    def phrase(self, path: str, tokens: Sequence[str], slop: int = 0, prefix: bool = False) -> Query:
        name = self.names[path]
        if prefix:
            query = Query.phrase_prefix_query(self.schema, name, list(tokens))
        else:
            query = Query.phrase_query(self.schema, name, list(tokens), slop)
        return Query.boost_query(query, BM25_SCALE)

    def range(self, path: str, lower: Any, upper: Any, include_lower: bool, include_upper: bool) -> Query:
        spec = self.fields[path]
        kind = _range_type(spec)
        return Query.range_query(self.schema, self.names[path], kind, lower, upper,
                                 include_lower if lower is not None else True,
                                 include_upper if upper is not None else True)

    def exists(self, paths: Iterable[str]) -> Query:
        clauses = [(Occur.Should, Query.term_query(self.schema, FIELD_NAMES, p)) for p in paths]
        if not clauses:
            return Query.empty_query()
        return Query.boolean_query(clauses)

    def ids(self, ids: Iterable[str]) -> Query:
        return Query.term_set_query(self.schema, ID_FIELD, list(ids))

    def search(self, query: Query, limit: int, searcher: tantivy.Searcher | None = None
               ) -> tuple[list[tuple[int, float]], int]:
        """Top `limit` (ordinal, score) pairs, best first, and the number of matching documents."""
        searcher = searcher or self.searcher
        limit = max(1, limit)
        result = searcher.search(query, limit, count=True)
        addresses = [addr for _, addr in result.hits]
        ordinals = searcher.fast_field_values(ORD_FIELD, addresses) if addresses else []
        hits = [(o, float(score)) for (score, _), o in zip(result.hits, ordinals, strict=True)]
        return hits, result.count

    def count(self, query: Query, searcher: tantivy.Searcher | None = None) -> int:
        searcher = searcher or self.searcher
        return searcher.search(query, 1, count=True).count


def _add_field(builder: tantivy.SchemaBuilder, name: str, spec: FieldMapping, analyzer: str) -> None:
    if spec.type == "text":
        builder.add_text_field(name, tokenizer_name=analyzer, index_option="position")
    elif spec.type == "keyword":
        builder.add_text_field(name, tokenizer_name="raw", fast=True, index_option="freq")
    elif spec.type in INTEGER_TYPES or spec.type == "date":
        builder.add_integer_field(name, indexed=True, fast=True)
    elif spec.type in FLOAT_TYPES:
        builder.add_float_field(name, indexed=True, fast=True)
    elif spec.type == "boolean":
        builder.add_boolean_field(name, indexed=True, fast=True)


def _add_values(doc: Document, name: str, spec: FieldMapping, items: list[Any]) -> None:
    for value in items:
        if spec.type == "text":
            doc.add_text(name, pretokenized(value))
        elif spec.type == "keyword":
            limit = spec.ignore_above
            if limit is None or len(value) <= limit:
                doc.add_text(name, value)
        elif spec.type in INTEGER_TYPES or spec.type == "date":
            doc.add_integer(name, int(value))
        elif spec.type in FLOAT_TYPES:
            doc.add_float(name, float(value))
        elif spec.type == "boolean":
            doc.add_boolean(name, bool(value))


def _range_type(spec: FieldMapping) -> tantivy.FieldType:
    if spec.type in FLOAT_TYPES:
        return tantivy.FieldType.Float
    if spec.type == "boolean":
        return tantivy.FieldType.Boolean
    return tantivy.FieldType.Integer

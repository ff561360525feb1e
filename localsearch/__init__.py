"""localsearch: a single-node engine that speaks the part of OpenSearch's REST API rerank-sidecar uses.

Public API (what the CLI, the tests and the sidecar's embedded mode use):
    Engine, EngineConfig         the engine over one data directory              (engine.py)
    LocalsearchApp               its REST API as a WSGI app                      (http.py)
    local_client, close_engine   an in-process opensearch-py client              (connection.py)
    start_localsearch_process    the engine in its own process on a free port    (process.py)

Modules, along a request's way:
    http             the URL map: each route to its handler; dispatch and error bodies
    handlers/        the handlers by area: cluster and _cat, indices, documents, search
    engine           indices, aliases, pipelines and every write path of one data directory
    write_batch      one bulk request's writes, staged and persisted in one transaction
    index_settings   index settings and a new index's mapping, as OpenSearch validates them
    bulk, store      _bulk parsing and per-item results; durable storage (SQLite)
    index            one index in memory: documents, inverted index, vector fields, the refreshed view
    mappings, mapping_rules, coercion
                     mappings; which mapping parameters exist and which are honoured; values as stored
    lexical, tokenizer, word_break_data
                     tantivy's inverted index and BM25; OpenSearch's standard tokenizer and its tables
    vectors/         k-NN fields: exact and HNSW search behind one factory
    search           a _search request parsed (and the shard's window check)
    execute          _search and _count run over indices: collect, aggregate, render
    hits             the request, hits and shard results a search passes along, and the hits' JSON
    dsl/             query clauses compiled for one index's view
    clause_params, compound_params, query_params
                     clause parameters read and refused as OpenSearch's parsers do
    query_string/    Lucene query syntax: query_string and simple_query_string
    datemath, sorting
                     dates and date math; sort keys and search_after
    aggregations/    aggregations by kind
    highlight/       the unified highlighter
    hybrid, hybrid_clause, pipelines
                     the hybrid query run and fused; its clause and paging checked; search pipelines
    scroll, cat, failures
                     scroll contexts; _cat tables; OpenSearch's error shapes
    connection, cli, process
                     in-process opensearch-py client; `rerank-sidecar localsearch` under gunicorn; the engine
                     started in a process of its own (serve's embedded default, evaluations)

localsearch imports only itself, searchcore and third-party libraries.
"""

from __future__ import annotations

from searchcore.lazy_api import lazy_attributes

# Loaded on first use: `import localsearch.cli` and the modules' imports of each other go through this
# package, and should not load the engine (tantivy, numpy, SQLite) before it is needed.
_PUBLIC = {"Engine": "localsearch.engine", "EngineConfig": "localsearch.engine",
           "LocalsearchApp": "localsearch.http", "local_client": "localsearch.connection",
           "close_engine": "localsearch.connection", "start_localsearch_process": "localsearch.process"}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_attributes(__name__, _PUBLIC)

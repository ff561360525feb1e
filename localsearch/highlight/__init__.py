"""Hit highlighting: find the query's terms in a hit's source and wrap them as OpenSearch's unified
highlighter does (sentence passages bounded by `fragment_size`, best `number_of_fragments` kept,
shown in text order; the whole value when `number_of_fragments` is 0 or the field is a keyword).

Modules: highlighter (options, fields, the entry point), matchers (what the query looks for), spans
(where a value matches), fragments (passages, scores, tags).
"""

from __future__ import annotations

from localsearch.highlight.highlighter import highlight
from localsearch.highlight.matchers import Matcher, extract_matchers, parse_query_string

__all__ = ["Matcher", "extract_matchers", "highlight", "parse_query_string"]

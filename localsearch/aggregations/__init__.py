"""Aggregations over the documents a search matched, in OpenSearch's request and response shapes.

Supported: bucket `terms`, `date_histogram`, `histogram`, `range`, `date_range`, `filter`,
`filters`, `missing`; metric `min`, `max`, `avg`, `sum`, `value_count`, `cardinality`, `stats`,
`extended_stats`, `top_hits`; sub-aggregations inside buckets. Every other OpenSearch type is
refused by name. Values are exact (one shard): `doc_count_error_upper_bound` is 0, or -1 where OpenSearch
reports no bound (the shard cut its list and the order is not by count or key).

Modules: parse (validate `aggs`), registry (type → handler), base (Agg, Context, parameter readers),
terms, histograms, ranges, filters, metrics (the kinds), order (bucket order), dates and formats (time zones,
rounding, date math; printing dates and doubles).
"""

from __future__ import annotations

from typing import Any

from localsearch.aggregations.base import Agg, Context
from localsearch.aggregations.parse import parse_aggs
from localsearch.aggregations.registry import HANDLERS
from localsearch.hits import Hit

__all__ = ["Agg", "aggregate", "parse_aggs"]


def aggregate(body: Any, hits: list[Hit]) -> dict[str, Any]:
    """The `aggregations` section of a search response for the matched `hits`."""
    aggs = parse_aggs(body)
    context = Context(hits, HANDLERS)
    return {agg.name: context.run(agg, hits) for agg in aggs}

"""Which function answers each aggregation type."""

from __future__ import annotations

from localsearch.aggregations.base import Handler
from localsearch.aggregations.filters import filter_bucket, filters_buckets, missing_bucket
from localsearch.aggregations.histograms import date_histogram, histogram
from localsearch.aggregations.metrics import cardinality, single_value, stats, top_hits, value_count
from localsearch.aggregations.ranges import date_range, range_buckets
from localsearch.aggregations.terms import terms

HANDLERS: dict[str, Handler] = {
    "terms": terms, "date_histogram": date_histogram, "histogram": histogram, "range": range_buckets,
    "date_range": date_range, "filter": filter_bucket, "filters": filters_buckets, "missing": missing_bucket,
    "min": single_value, "max": single_value, "avg": single_value, "sum": single_value,
    "value_count": value_count, "cardinality": cardinality, "stats": stats, "extended_stats": stats,
    "top_hits": top_hits,
}

"""Validate an `aggs` object the way OpenSearch's AggregatorFactories parser does."""

from __future__ import annotations

import re
from typing import Any

from localsearch.aggregations.base import Agg
from localsearch.aggregations.registry import HANDLERS
from localsearch.failures import json_token, unsupported
from searchcore.errors import IllegalArgument, ParsingError, SearchError

_VALID_NAME = re.compile(r"[^\[\]>]+")
METRICS = {"min", "max", "avg", "sum", "value_count", "cardinality", "stats", "extended_stats", "top_hits"}
BUCKETS = {"terms", "date_histogram", "histogram", "range", "date_range", "filter", "filters", "missing"}
# every type OpenSearch (with its bundled modules) knows: the rest are "Unknown aggregation type"
KNOWN_TYPES = METRICS | BUCKETS | {
    "weighted_avg", "percentiles", "percentile_ranks", "median_absolute_deviation", "geo_bounds",
    "geo_centroid", "scripted_metric", "matrix_stats", "global", "adjacency_matrix", "sampler",
    "diversified_sampler", "rare_terms", "significant_terms", "significant_text", "ip_range",
    "auto_date_histogram", "variable_width_histogram", "geo_distance", "geohash_grid", "geotile_grid",
    "nested", "reverse_nested", "composite", "children", "parent", "multi_terms", "avg_bucket",
    "sum_bucket", "min_bucket", "max_bucket", "stats_bucket", "extended_stats_bucket",
    "percentiles_bucket", "derivative", "cumulative_sum", "bucket_script", "bucket_selector",
    "bucket_sort", "serial_diff", "moving_avg", "moving_fn"}


_SOURCE = {"field", "missing", "format", "script", "value_type"}
PARAMS = {
    "terms": _SOURCE | {"size", "shard_size", "min_doc_count", "shard_min_doc_count", "include", "exclude", "order",
                        "execution_hint", "collect_mode", "show_term_doc_count_error"},
    "date_histogram": _SOURCE | {"time_zone", "interval", "calendar_interval", "fixed_interval", "offset", "keyed",
                                 "min_doc_count", "extended_bounds", "hard_bounds", "order"},
    "histogram": _SOURCE | {"interval", "offset", "keyed", "min_doc_count", "extended_bounds", "hard_bounds", "order"},
    "range": _SOURCE | {"ranges", "keyed"},
    "date_range": _SOURCE | {"ranges", "keyed", "time_zone"},
    "filters": {"filters", "other_bucket", "other_bucket_key"},
    "missing": _SOURCE,
    "extended_stats": _SOURCE | {"sigma"},
    "cardinality": _SOURCE | {"precision_threshold", "execution_hint"},
    "top_hits": {"from", "size", "sort", "_source", "version", "seq_no_primary_term", "explain", "track_scores",
                 "stored_fields", "docvalue_fields", "fields"},
}


def parse_aggs(body: Any) -> list[Agg]:
    """Validate an `aggs` object the way OpenSearch's AggregatorFactories parser does."""
    if not isinstance(body, dict):
        raise ParsingError(f"Unexpected token {json_token(body)} in [aggs]: aggregations definitions must start "
                           "with the name of the aggregation.")
    out = []
    for name, definition in body.items():
        if not _VALID_NAME.fullmatch(name):
            raise ParsingError(f"Invalid aggregation name [{name}]. Aggregation names can contain any character "
                               "except '[', ']', and '>'")
        if not isinstance(definition, dict):
            raise ParsingError(f"Aggregation definition for [{name} starts with a [{json_token(definition)}], "
                               "expected a [START_OBJECT].")
        kind: str | None = None
        params: Any = None
        subs: list[Agg] | None = None
        meta = None
        for key, value in definition.items():
            if not isinstance(value, dict):
                raise ParsingError(f"Expected [START_OBJECT] under [{key}], but got a [{json_token(value)}] in "
                                   f"[{name}]")
            if key == "meta":
                meta = value
            elif key in ("aggs", "aggregations"):
                if subs is not None:
                    raise ParsingError(f"Found two sub aggregation definitions under [{name}]")
                subs = parse_aggs(value)
            else:
                if kind is not None:
                    raise ParsingError(f"Found two aggregation type definitions in [{name}]: [{kind}] and [{key}]")
                if key not in KNOWN_TYPES:
                    raise ParsingError(f"Unknown aggregation type [{key}]")
                if key not in HANDLERS:
                    raise unsupported(f"the [{key}] aggregation")
                kind, params = key, value
        if kind is None:
            raise ParsingError(f"Missing definition for aggregation [{name}]")
        if subs and kind in METRICS:
            raise SearchError(f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations", status=400,
                              error_type="aggregation_initialization_exception")
        agg = Agg(name, kind, params, subs or [], meta)
        _check_params(agg)
        out.append(agg)
    return out


def _check_params(agg: Agg) -> None:
    if agg.type == "filter":  # its body is a query clause, checked when compiled
        return
    allowed = PARAMS.get(agg.type, _SOURCE)
    for key in agg.params:
        if agg.type == "top_hits" and key in ("highlight", "script_fields"):
            raise IllegalArgument(f"[{key}] in [top_hits] is not supported by localsearch (production clusters are "
                                  "OpenSearch)")
        if key not in allowed:
            raise SearchError(f"[{agg.type}] unknown field [{key}]", status=400,
                              error_type="x_content_parse_exception")
    if "script" in agg.params:
        raise IllegalArgument("[script] in aggregations is not supported by localsearch (production clusters are "
                              "OpenSearch)")

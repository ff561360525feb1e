"""Aggregations over a real localsearch index: bucket keys, counts and metric values computed by hand."""

from __future__ import annotations

import pytest

from localsearch import execute, search
from localsearch.aggregations.dates import parse_time_value, parse_time_zone
from localsearch.aggregations.formats import java_double
from localsearch.bulk import WriteOp
from localsearch.engine import Engine
from searchcore.errors import IllegalArgument, ParsingError, SearchError

MAPPING = {"properties": {
    "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
    "brand": {"type": "keyword"},
    "tags": {"type": "keyword"},
    "price": {"type": "double"},
    "qty": {"type": "integer"},
    "in_stock": {"type": "boolean"},
    "sold": {"type": "date"},
}}
DOCS = {
    "1": {"title": "Red running shoes", "brand": "acme", "tags": ["sale", "new"], "price": 50.0, "qty": 3,
          "in_stock": True, "sold": "2024-01-01T10:00:00Z"},
    "2": {"title": "Blue running shorts", "brand": "acme", "tags": ["sale"], "price": 20.0, "qty": 10,
          "in_stock": False, "sold": "2024-01-01T23:30:00Z"},
    "3": {"title": "Green tennis shoes", "brand": "bolt", "tags": "new", "price": 80.0, "qty": 1, "in_stock": True,
          "sold": "2024-01-03T08:00:00Z"},
    "4": {"title": "Yellow socks", "brand": "bolt", "price": 5.0, "qty": 25, "in_stock": True,
          "sold": "2024-02-15T12:00:00Z"},
    "5": {"title": "Black cap", "brand": "cirrus", "qty": 7, "sold": "2024-03-31T22:00:00Z"},
}
JANUARY = {"range": {"sold": {"lt": "2024-01-10"}}}
DAY = 86_400_000
JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("aggs"))
    engine.create_index("shop", {"mappings": MAPPING})
    engine.write([WriteOp("index", "shop", doc_id, doc) for doc_id, doc in DOCS.items()], refresh="true")
    engine.create_index("outlet", {"mappings": {"properties": {"brand": {"type": "keyword"},
                                                               "price": {"type": "double"}}}})
    engine.write([WriteOp("index", "outlet", "o1", {"brand": "acme", "price": 1.0}),
                  WriteOp("index", "outlet", "o2", {"price": 2.0})], refresh="true")
    yield engine
    engine.close()


def aggs(engine, spec, query=None, index="shop"):
    body = {"size": 0, "aggs": spec}
    if query is not None:
        body["query"] = query
    return execute.search(engine, engine.resolve(index), search.parse_request(body, {}))["aggregations"]


def refused(engine, spec, error=SearchError):
    with pytest.raises(error) as caught:
        aggs(engine, spec)
    return caught.value


def buckets(result):
    return [(b["key"], b["doc_count"]) for b in result["buckets"]]


# ---- terms ----

def test_terms_orders_by_count_then_key(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand"}}})["b"]
    assert result == {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                      "buckets": [{"key": "acme", "doc_count": 2}, {"key": "bolt", "doc_count": 2},
                                  {"key": "cirrus", "doc_count": 1}]}


def test_terms_size_counts_the_rest_in_sum_other_doc_count(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand", "size": 1}}})["b"]
    assert buckets(result) == [("acme", 2)]
    assert result["sum_other_doc_count"] == 3


def test_terms_order_by_key_desc(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand", "order": {"_key": "desc"}}}})["b"]
    assert buckets(result) == [("cirrus", 1), ("bolt", 2), ("acme", 2)]


def test_terms_order_by_count_asc_breaks_ties_by_key(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand", "order": [{"_count": "asc"}]}}})["b"]
    assert buckets(result) == [("cirrus", 1), ("acme", 2), ("bolt", 2)]


def test_terms_multi_valued_field_and_missing(engine):
    result = aggs(engine, {"t": {"terms": {"field": "tags", "missing": "none"}}})["t"]
    assert buckets(result) == [("new", 2), ("none", 2), ("sale", 2)]
    assert buckets(aggs(engine, {"t": {"terms": {"field": "tags"}}})["t"]) == [("new", 2), ("sale", 2)]


def test_terms_on_boolean_uses_numeric_keys_with_key_as_string(engine):
    result = aggs(engine, {"s": {"terms": {"field": "in_stock"}}})["s"]
    assert result["buckets"] == [{"key": 1, "key_as_string": "true", "doc_count": 3},
                                 {"key": 0, "key_as_string": "false", "doc_count": 1}]


def test_terms_on_numbers_and_dates(engine):
    result = aggs(engine, {"q": {"terms": {"field": "qty", "size": 2, "order": {"_key": "asc"}}}})["q"]
    assert result["buckets"] == [{"key": 1, "doc_count": 1}, {"key": 3, "doc_count": 1}]
    assert result["sum_other_doc_count"] == 3
    dates = aggs(engine, {"d": {"terms": {"field": "sold", "size": 1, "order": {"_key": "asc"}}}})["d"]
    assert dates["buckets"] == [{"key": JAN_1 + 10 * 3_600_000, "key_as_string": "2024-01-01T10:00:00.000Z",
                                 "doc_count": 1}]


def test_terms_ordered_by_a_metric_sub_aggregation(engine):
    spec = {"b": {"terms": {"field": "brand", "order": {"avg_price": "desc"}},
                  "aggs": {"avg_price": {"avg": {"field": "price"}}}}}
    result = aggs(engine, spec)["b"]["buckets"]
    assert [(b["key"], b["avg_price"]["value"]) for b in result] == [("bolt", 42.5), ("acme", 35.0),
                                                                      ("cirrus", None)]


def test_terms_ordered_by_a_stats_metric(engine):
    spec = {"b": {"terms": {"field": "brand", "order": {"s.max": "asc"}}, "aggs": {"s": {"stats": {"field": "qty"}}}}}
    assert [b["key"] for b in aggs(engine, spec)["b"]["buckets"]] == ["cirrus", "acme", "bolt"]  # max qty 7, 10, 25


def test_terms_respects_the_query(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand"}}}, query={"match": {"title": "shoes"}})["b"]
    assert buckets(result) == [("acme", 1), ("bolt", 1)]


def test_terms_min_doc_count_zero_lists_unmatched_terms(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand", "min_doc_count": 0}}}, query={"term": {"brand": "acme"}})
    assert buckets(result["b"]) == [("acme", 2), ("bolt", 0), ("cirrus", 0)]


def test_terms_include_and_exclude(engine):
    assert buckets(aggs(engine, {"b": {"terms": {"field": "brand", "include": "a.*|c.*"}}})["b"]) == [
        ("acme", 2), ("cirrus", 1)]
    assert buckets(aggs(engine, {"b": {"terms": {"field": "brand", "exclude": ["acme"]}}})["b"]) == [
        ("bolt", 2), ("cirrus", 1)]


def test_terms_on_keyword_subfield_reads_the_parent_source(engine):
    result = aggs(engine, {"t": {"terms": {"field": "title.keyword", "size": 1, "order": {"_key": "asc"}}}})["t"]
    assert buckets(result) == [("Black cap", 1)]


def test_terms_on_a_text_field_is_refused_with_the_fielddata_error(engine):
    # the shard refuses it: OpenSearch reports it under search_phase_execution_exception
    body = refused(engine, {"t": {"terms": {"field": "title"}}}).body()
    assert body["error"]["type"] == "search_phase_execution_exception"
    root = body["error"]["root_cause"][0]
    assert root["type"] == "illegal_argument_exception"
    assert root["reason"].startswith("Text fields are not optimised for operations that require per-document field "
                                     "data like aggregations and sorting")
    assert "set fielddata=true on [title]" in root["reason"]


def test_aggregations_on_unmapped_fields_are_empty(engine):
    result = aggs(engine, {"t": {"terms": {"field": "nope"}}, "a": {"avg": {"field": "nope"}},
                           "h": {"date_histogram": {"field": "nope", "calendar_interval": "day"}}})
    assert result == {"t": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []},
                      "a": {"value": None}, "h": {"buckets": []}}


def test_hits_from_several_indices_are_aggregated_by_each_index_mapping(engine):
    result = aggs(engine, {"b": {"terms": {"field": "brand"}}, "p": {"sum": {"field": "price"}}}, index="shop,outlet")
    assert buckets(result["b"]) == [("acme", 3), ("bolt", 2), ("cirrus", 1)]
    assert result["p"] == {"value": 158.0}


def test_terms_on_the_index_name(engine):
    result = aggs(engine, {"i": {"terms": {"field": "_index"}}}, index="shop,outlet")["i"]
    assert buckets(result) == [("shop", 5), ("outlet", 2)]


# ---- date_histogram ----

def test_date_histogram_fills_empty_days_between_first_and_last(engine):
    result = aggs(engine, {"h": {"date_histogram": {"field": "sold", "calendar_interval": "day"}}}, query=JANUARY)["h"]
    assert result == {"buckets": [
        {"key_as_string": "2024-01-01T00:00:00.000Z", "key": JAN_1, "doc_count": 2},
        {"key_as_string": "2024-01-02T00:00:00.000Z", "key": JAN_1 + DAY, "doc_count": 0},
        {"key_as_string": "2024-01-03T00:00:00.000Z", "key": JAN_1 + 2 * DAY, "doc_count": 1}]}


def test_date_histogram_min_doc_count_drops_empty_buckets(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "1d", "min_doc_count": 1}}}
    assert buckets(aggs(engine, spec, query=JANUARY)["h"]) == [(JAN_1, 2), (JAN_1 + 2 * DAY, 1)]


def test_date_histogram_calendar_months_and_quarters(engine):
    months = aggs(engine, {"h": {"date_histogram": {"field": "sold", "calendar_interval": "month"}}})["h"]
    assert [(b["key_as_string"], b["doc_count"]) for b in months["buckets"]] == [
        ("2024-01-01T00:00:00.000Z", 3), ("2024-02-01T00:00:00.000Z", 1), ("2024-03-01T00:00:00.000Z", 1)]
    quarters = aggs(engine, {"h": {"date_histogram": {"field": "sold", "calendar_interval": "1q"}}})["h"]
    assert buckets(quarters) == [(JAN_1, 5)]


def test_date_histogram_weeks_start_on_monday(engine):
    result = aggs(engine, {"h": {"date_histogram": {"field": "sold", "calendar_interval": "week",
                                                    "min_doc_count": 1}}})["h"]
    # 2024-01-01 is a Monday; 2024-02-15 is in the week of Monday 02-12, 2024-03-31 (Sunday) in that of 03-25
    assert [(b["key_as_string"][:10], b["doc_count"]) for b in result["buckets"]] == [
        ("2024-01-01", 3), ("2024-02-12", 1), ("2024-03-25", 1)]


def test_date_histogram_fixed_interval(engine):
    result = aggs(engine, {"h": {"date_histogram": {"field": "sold", "fixed_interval": "12h"}}}, query=JANUARY)["h"]
    half = DAY // 2
    assert buckets(result) == [(JAN_1, 1), (JAN_1 + half, 1), (JAN_1 + 2 * half, 0), (JAN_1 + 3 * half, 0),
                               (JAN_1 + 4 * half, 1)]


def test_date_histogram_fixed_offset_time_zone(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "day", "time_zone": "+02:00"}}}
    result = aggs(engine, spec, query=JANUARY)["h"]["buckets"]
    local_midnight = JAN_1 - 2 * 3_600_000
    assert [(b["key_as_string"], b["key"], b["doc_count"]) for b in result] == [
        ("2024-01-01T00:00:00.000+02:00", local_midnight, 1),  # 10:00Z is 12:00 local
        ("2024-01-02T00:00:00.000+02:00", local_midnight + DAY, 1),  # 23:30Z is 01:30 the next day
        ("2024-01-03T00:00:00.000+02:00", local_midnight + 2 * DAY, 1)]


def test_date_histogram_region_time_zone_follows_daylight_saving(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "month", "time_zone": "Europe/Berlin"}}}
    result = aggs(engine, spec)["h"]["buckets"]
    # 2024-03-31T22:00Z is already April 1st in Berlin (CEST, +02:00)
    assert [(b["key_as_string"], b["key"], b["doc_count"]) for b in result] == [
        ("2024-01-01T00:00:00.000+01:00", 1_704_063_600_000, 3),
        ("2024-02-01T00:00:00.000+01:00", 1_706_742_000_000, 1),
        ("2024-03-01T00:00:00.000+01:00", 1_709_247_600_000, 0),
        ("2024-04-01T00:00:00.000+02:00", 1_711_922_400_000, 1)]


def test_date_histogram_extended_bounds_add_empty_buckets_at_both_ends(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "day", "min_doc_count": 0,
                                     "extended_bounds": {"min": JAN_1 - DAY + 5, "max": "2024-01-04T12:00:00Z"}}}}
    assert buckets(aggs(engine, spec, query=JANUARY)["h"]) == [
        (JAN_1 - DAY, 0), (JAN_1, 2), (JAN_1 + DAY, 0), (JAN_1 + 2 * DAY, 1), (JAN_1 + 3 * DAY, 0)]


def test_date_histogram_extended_bounds_with_no_hits(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "day",
                                     "extended_bounds": {"min": JAN_1, "max": JAN_1 + DAY}}}}
    assert buckets(aggs(engine, spec, query={"term": {"brand": "nobody"}})["h"]) == [(JAN_1, 0), (JAN_1 + DAY, 0)]


def test_date_histogram_format_keyed_and_order(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "day", "format": "yyyy-MM-dd",
                                     "min_doc_count": 1, "keyed": True}}}
    result = aggs(engine, spec, query=JANUARY)["h"]
    assert result == {"buckets": {
        "2024-01-01": {"key_as_string": "2024-01-01", "key": JAN_1, "doc_count": 2},
        "2024-01-03": {"key_as_string": "2024-01-03", "key": JAN_1 + 2 * DAY, "doc_count": 1}}}
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "month", "order": {"_count": "desc"}}}}
    assert [b["doc_count"] for b in aggs(engine, spec)["h"]["buckets"]] == [3, 1, 1]


def test_date_histogram_legacy_interval(engine):
    monthly = aggs(engine, {"h": {"date_histogram": {"field": "sold", "interval": "month"}}})["h"]
    assert len(monthly["buckets"]) == 3
    hourly = aggs(engine, {"h": {"date_histogram": {"field": "sold", "interval": "90m", "min_doc_count": 1}}},
                  query=JANUARY)["h"]
    assert [b["key_as_string"] for b in hourly["buckets"]] == [
        "2024-01-01T09:00:00.000Z", "2024-01-01T22:30:00.000Z", "2024-01-03T07:30:00.000Z"]


def test_date_histogram_with_sub_aggregations(engine):
    spec = {"h": {"date_histogram": {"field": "sold", "calendar_interval": "month"},
                  "aggs": {"units": {"sum": {"field": "qty"}}}}}
    assert [b["units"]["value"] for b in aggs(engine, spec)["h"]["buckets"]] == [14.0, 25.0, 7.0]


@pytest.mark.parametrize(("params", "reason"), [
    ({"calendar_interval": "2d"}, "The supplied interval [2d] could not be parsed as a calendar interval."),
    ({"fixed_interval": "1M"}, "failed to parse setting [date_histogram.fixedInterval] with value [1M] as a time "
                               "value: unit is missing or unrecognized"),
    ({}, "Invalid interval specified, must be non-null and non-empty"),
    ({"calendar_interval": "day", "fixed_interval": "1d"},
     "Cannot use [fixed_interval] with [calendar_interval] configuration option."),
    ({"calendar_interval": "day", "time_zone": "Mars/Olympus"}, "Unknown time-zone ID: Mars/Olympus"),
])
def test_date_histogram_bad_intervals_are_refused(engine, params, reason):
    error = refused(engine, {"h": {"date_histogram": {"field": "sold", **params}}}, IllegalArgument)
    assert error.reason == reason


# ---- histogram and ranges ----

def test_histogram_fills_empty_buckets_with_double_keys(engine):
    result = aggs(engine, {"p": {"histogram": {"field": "price", "interval": 25}}})["p"]
    assert result == {"buckets": [{"key": 0.0, "doc_count": 2}, {"key": 25.0, "doc_count": 0},
                                  {"key": 50.0, "doc_count": 1}, {"key": 75.0, "doc_count": 1}]}


def test_histogram_offset_extended_bounds_and_min_doc_count(engine):
    spec = {"p": {"histogram": {"field": "price", "interval": 50, "offset": 10,
                                "extended_bounds": {"min": -50, "max": 150}}}}
    assert buckets(aggs(engine, spec)["p"]) == [(-90.0, 0), (-40.0, 1), (10.0, 2), (60.0, 1), (110.0, 0)]
    spec = {"p": {"histogram": {"field": "price", "interval": 25, "min_doc_count": 1}}}
    assert buckets(aggs(engine, spec)["p"]) == [(0.0, 2), (50.0, 1), (75.0, 1)]


def test_histogram_needs_a_positive_interval(engine):
    error = refused(engine, {"p": {"histogram": {"field": "price", "interval": 0}}}, IllegalArgument)
    assert error.reason == "[interval] must be >0 for histogram aggregation [p]"


def test_range_buckets_are_sorted_and_keyed_like_opensearch(engine):
    spec = {"r": {"range": {"field": "price", "ranges": [{"from": 50}, {"to": 10}, {"from": 10, "to": 50}]}}}
    assert aggs(engine, spec)["r"] == {"buckets": [
        {"key": "*-10.0", "to": 10.0, "doc_count": 1},
        {"key": "10.0-50.0", "from": 10.0, "to": 50.0, "doc_count": 1},
        {"key": "50.0-*", "from": 50.0, "doc_count": 2}]}


def test_range_keyed_with_own_keys_and_sub_aggregations(engine):
    spec = {"r": {"range": {"field": "qty", "keyed": True, "ranges": [{"key": "few", "to": 5},
                                                                      {"key": "many", "from": 5}]},
                  "aggs": {"b": {"cardinality": {"field": "brand"}}}}}
    assert aggs(engine, spec)["r"] == {"buckets": {
        "few": {"to": 5.0, "doc_count": 2, "b": {"value": 2}},
        "many": {"from": 5.0, "doc_count": 3, "b": {"value": 3}}}}


def test_date_range_formats_bounds(engine):
    spec = {"d": {"date_range": {"field": "sold", "ranges": [{"to": "2024-02-01"}, {"from": "2024-02-01||+1M"}]}}}
    feb_1 = 1_706_745_600_000
    march_1 = 1_709_251_200_000
    assert aggs(engine, spec)["d"] == {"buckets": [
        {"key": "*-2024-02-01T00:00:00.000Z", "to": float(feb_1), "to_as_string": "2024-02-01T00:00:00.000Z",
         "doc_count": 3},
        {"key": "2024-03-01T00:00:00.000Z-*", "from": float(march_1),
         "from_as_string": "2024-03-01T00:00:00.000Z", "doc_count": 1}]}


def test_range_without_ranges_is_refused(engine):
    assert refused(engine, {"r": {"range": {"field": "price"}}}, IllegalArgument).reason == (
        "No [ranges] specified for the [r] aggregation")


# ---- filter, filters, missing ----

def test_filter_with_sub_aggregation(engine):
    spec = {"f": {"filter": {"term": {"brand": "acme"}}, "aggs": {"avg_price": {"avg": {"field": "price"}}}}}
    assert aggs(engine, spec)["f"] == {"doc_count": 2, "avg_price": {"value": 35.0}}


def test_filters_keyed_with_other_bucket(engine):
    spec = {"f": {"filters": {"other_bucket": True, "filters": {
        "shoes": {"match": {"title": "shoes"}}, "cheap": {"range": {"price": {"lt": 10}}}}}}}
    assert aggs(engine, spec)["f"] == {"buckets": {"cheap": {"doc_count": 1}, "shoes": {"doc_count": 2},
                                                   "_other_": {"doc_count": 2}}}


def test_filters_anonymous_list(engine):
    spec = {"f": {"filters": {"filters": [{"term": {"tags": "sale"}}, {"query_string": {"query": "socks OR cap"}}]},
                  "aggs": {"q": {"sum": {"field": "qty"}}}}}
    assert aggs(engine, spec)["f"] == {"buckets": [{"doc_count": 2, "q": {"value": 13.0}},
                                                   {"doc_count": 2, "q": {"value": 32.0}}]}


def test_missing_bucket(engine):
    assert aggs(engine, {"m": {"missing": {"field": "price"}}})["m"] == {"doc_count": 1}


# ---- metrics ----

def test_single_value_metrics(engine):
    result = aggs(engine, {"min": {"min": {"field": "price"}}, "max": {"max": {"field": "price"}},
                           "avg": {"avg": {"field": "price"}}, "sum": {"sum": {"field": "price"}},
                           "count": {"value_count": {"field": "price"}},
                           "brands": {"cardinality": {"field": "brand"}},
                           "tags": {"value_count": {"field": "tags"}}, "distinct_tags": {"cardinality": {"field": "tags"}}})
    assert result == {"min": {"value": 5.0}, "max": {"value": 80.0}, "avg": {"value": 38.75},
                      "sum": {"value": 155.0}, "count": {"value": 4}, "brands": {"value": 3},
                      "tags": {"value": 4}, "distinct_tags": {"value": 2}}


def test_metrics_with_missing_value(engine):
    assert aggs(engine, {"a": {"avg": {"field": "price", "missing": 0}}})["a"] == {"value": 31.0}


def test_metrics_on_dates_and_booleans_carry_value_as_string(engine):
    result = aggs(engine, {"last": {"max": {"field": "sold"}}, "stock": {"min": {"field": "in_stock"}}})
    assert result["last"] == {"value": 1_711_922_400_000.0, "value_as_string": "2024-03-31T22:00:00.000Z"}
    assert result["stock"] == {"value": 0.0, "value_as_string": "false"}


def test_metrics_over_no_documents(engine):
    spec = {"a": {"avg": {"field": "price"}}, "s": {"sum": {"field": "price"}}, "m": {"min": {"field": "price"}},
            "st": {"stats": {"field": "qty"}}, "c": {"value_count": {"field": "qty"}}}
    assert aggs(engine, spec, query={"term": {"brand": "nobody"}}) == {
        "a": {"value": None}, "s": {"value": 0.0}, "m": {"value": None},
        "st": {"count": 0, "min": None, "max": None, "avg": None, "sum": 0.0}, "c": {"value": 0}}


def test_stats_and_extended_stats(engine):
    assert aggs(engine, {"s": {"stats": {"field": "qty"}}})["s"] == {
        "count": 5, "min": 1.0, "max": 25.0, "avg": 9.2, "sum": 46.0}
    extended = aggs(engine, {"s": {"extended_stats": {"field": "qty"}}})["s"]
    assert extended["sum_of_squares"] == 784.0  # 9 + 100 + 1 + 625 + 49
    assert extended["variance"] == pytest.approx(72.16)  # 784 / 5 - 9.2²
    assert extended["variance_sampling"] == pytest.approx(90.2)
    assert extended["std_deviation_bounds"]["upper"] == pytest.approx(9.2 + 2 * 72.16 ** 0.5)


def test_numeric_metric_on_keyword_is_refused(engine):
    body = refused(engine, {"a": {"avg": {"field": "brand"}}}).body()
    assert body["error"]["type"] == "search_phase_execution_exception"
    assert body["error"]["root_cause"][0]["reason"] == (
        "Field [brand] of type [keyword] is not supported for aggregation [avg]")


def test_top_hits_default_order_and_source_filter(engine):
    spec = {"b": {"terms": {"field": "brand", "size": 1},
                  "aggs": {"top": {"top_hits": {"size": 1, "_source": ["price"]}}}}}
    top = aggs(engine, spec)["b"]["buckets"][0]["top"]
    assert top == {"hits": {"total": {"value": 2, "relation": "eq"}, "max_score": 1.0,
                            "hits": [{"_index": "shop", "_id": "1", "_score": 1.0, "_source": {"price": 50.0}}]}}


def test_top_hits_sorted_by_field(engine):
    top = aggs(engine, {"t": {"top_hits": {"size": 2, "sort": [{"qty": "desc"}], "_source": False}}})["t"]["hits"]
    assert top["max_score"] is None
    assert [(h["_id"], h["sort"], h["_score"]) for h in top["hits"]] == [("4", [25], None), ("2", [10], None)]


def test_meta_is_echoed(engine):
    assert aggs(engine, {"a": {"max": {"field": "qty"}, "meta": {"color": "blue"}}})["a"] == {
        "meta": {"color": "blue"}, "value": 25.0}


# ---- request errors ----

def test_unknown_aggregation_type_is_a_parsing_exception(engine):
    error = refused(engine, {"x": {"bogus": {"field": "qty"}}}, ParsingError)
    assert error.reason == "Unknown aggregation type [bogus]"
    assert error.body()["error"]["type"] == "parsing_exception"


def test_known_but_unsupported_type_is_named(engine):
    error = refused(engine, {"x": {"percentiles": {"field": "qty"}}})
    assert error.status == 400 and error.error_type == "illegal_argument_exception"
    assert error.reason.startswith("the [percentiles] aggregation is not supported by localsearch")


@pytest.mark.parametrize(("spec", "reason"), [
    ({"x": {}}, "Missing definition for aggregation [x]"),
    ({"x": {"max": {"field": "qty"}, "min": {"field": "qty"}}},
     "Found two aggregation type definitions in [x]: [max] and [min]"),
    ({"x": "max"}, "Aggregation definition for [x starts with a [VALUE_STRING], expected a [START_OBJECT]."),
    ({"x": {"terms": ["brand"]}}, "Expected [START_OBJECT] under [terms], but got a [START_ARRAY] in [x]"),
    ({"a>b": {"max": {"field": "qty"}}},
     "Invalid aggregation name [a>b]. Aggregation names can contain any character except '[', ']', and '>'"),
])
def test_malformed_aggregations_are_parsing_exceptions(engine, spec, reason):
    assert refused(engine, spec, ParsingError).reason == reason


def test_metric_aggregations_cannot_have_sub_aggregations(engine):
    error = refused(engine, {"m": {"max": {"field": "qty"}, "aggs": {"n": {"min": {"field": "qty"}}}}})
    assert error.error_type == "aggregation_initialization_exception"
    assert error.reason == "Aggregator [m] of type [max] cannot accept sub-aggregations"


def test_unknown_parameter_is_refused(engine):
    error = refused(engine, {"t": {"terms": {"field": "brand", "sizes": 3}}})
    assert (error.error_type, error.reason) == ("x_content_parse_exception", "[terms] unknown field [sizes]")


def test_terms_size_must_be_positive(engine):
    assert refused(engine, {"t": {"terms": {"field": "brand", "size": 0}}}, IllegalArgument).reason == (
        "[size] must be greater than 0. Found [0] in [t]")


# ---- helpers that mirror OpenSearch's formats ----

@pytest.mark.parametrize(("value", "text"), [(100.0, "100.0"), (0.5, "0.5"), (1_704_067_200_000.0, "1.7040672E12"),
                                             (1e7, "1.0E7"), (0.0001, "1.0E-4"), (-2.5, "-2.5")])
def test_java_double(value, text):
    assert java_double(value) == text


def test_time_values_and_zones():
    assert parse_time_value("30s", "x") == 30_000
    assert parse_time_value("5m", "x") == 300_000
    assert parse_time_value("3h", "x") == 10_800_000
    with pytest.raises(IllegalArgument):
        parse_time_value("1M", "x")  # months are not a fixed unit
    assert parse_time_zone("-05:30").utcoffset(None).total_seconds() == -19_800
    assert parse_time_zone("UTC").utcoffset(None).total_seconds() == 0

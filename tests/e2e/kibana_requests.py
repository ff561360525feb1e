"""The requests Kibana 8/9 sends to Elasticsearch, rebuilt from Kibana's public source (github.com/elastic/kibana):
Discover's async-search submissions and polls, point-in-time paging, and the housekeeping calls around them.

Each shape names the file it was read from. Paths are those of Kibana 9 (`src/platform/...`); Kibana 8 has the same
code under `src/plugins/data/...`, and its asyncSearch.waitForCompletion default was 100ms instead of 200ms.
"""

from __future__ import annotations

from typing import Any

# src/platform/plugins/shared/data/server/search/strategies/ese_search/request_utils.ts (getDefaultAsyncSubmitParams)
#   + strategies/common/async_utils.ts (getCommonDefaultAsyncSubmitParams)
#   + strategies/es_search/request_utils.ts (getDefaultSearchParams), defaults from data/server/config.ts
#   (asyncSearch: waitForCompletion 200ms, keepAlive 1m, batchedReduceSize 64). Durations go out in milliseconds;
#   keep_on_completion is true only inside a search session; max_concurrent_shard_requests only when the
#   courier:maxConcurrentShardRequests setting is above 0 (it is 0 by default); ignore_throttled: false only with
#   search:includeFrozen. The elasticsearch-js client sends track_total_hits in the body (a body key of the API).
ASYNC_SUBMIT_PARAMS = {"batched_reduce_size": "64", "ccs_minimize_roundtrips": "true",
                       "wait_for_completion_timeout": "200ms", "keep_on_completion": "false", "keep_alive": "60000ms",
                       "ignore_unavailable": "true"}
ASYNC_SUBMIT_PARAMS_IN_A_SESSION = {**ASYNC_SUBMIT_PARAMS, "keep_on_completion": "true"}

# strategies/common/async_utils.ts (getCommonDefaultAsyncGetParams): the poll of a running or kept search,
# GET /_async_search/{id}; ese_search_strategy.ts asyncSearchStatus: GET /_async_search/status/{id}?keep_alive=;
# cancelAsyncSearch: DELETE /_async_search/{id}
ASYNC_GET_PARAMS = {"wait_for_completion_timeout": "200ms", "keep_alive": "60000ms"}
ASYNC_STATUS_PARAMS = {"keep_alive": "60000ms"}

# src/platform/plugins/shared/data/common/search/search_source/search_source.ts (flatten): the body every
# search source sends. With a field list (Discover's `fields: [{field: "*", include_unmapped: true}]`),
# `_source: false` and `stored_fields` lists the remaining fields, else `["*"]`; runtime_mappings and script_fields
# come from the data view (empty objects when it has none); highlight from getHighlightRequest
# (src/platform/packages/shared/kbn-es-query, tags "@kibana-highlighted-field@").
HIGHLIGHT = {"pre_tags": ["@kibana-highlighted-field@"], "post_tags": ["@/kibana-highlighted-field@"],
             "fields": {"*": {}}, "fragment_size": 2147483647}


def discover_body(query_text: str | None, *, sort: list[dict[str, Any]], time_field: str = "published",
                  size: int = 50) -> dict[str, Any]:
    """Discover's document request. Sort: `getSortForSearchSource` (discover's utils/sorting) gives `_score desc`
    for a data view without a time field, else the time field (format strict_date_optional_time) with `_doc` as
    tie-breaker. `getBuiltEsQuery` puts the KQL query and filters in `bool.must` when sorting by `_score` (so
    they score), else in `bool.filter`; free KQL text is a lenient best_fields multi_match."""
    by_score = any("_score" in entry for entry in sort)
    clauses: list[dict[str, Any]] = []
    if query_text:
        clauses.append({"multi_match": {"type": "best_fields", "query": query_text, "lenient": True}})
    clauses.append({"range": {time_field: {"format": "strict_date_optional_time", "gte": "2000-01-01T00:00:00.000Z",
                                           "lte": "2030-01-01T00:00:00.000Z"}}})
    query = {"bool": {"must": clauses if by_score else [], "filter": [] if by_score else clauses,
                      "should": [], "must_not": []}}
    return {"sort": sort, "fields": [{"field": "*", "include_unmapped": True},
                                     {"field": time_field, "format": "strict_date_optional_time"}],
            "size": size, "version": True, "script_fields": {}, "stored_fields": ["*"], "runtime_mappings": {},
            "_source": False, "track_total_hits": True, "query": query, "highlight": HIGHLIGHT}


SCORE_SORT = [{"_score": "desc"}]


def time_sort(field: str = "published") -> list[dict[str, Any]]:
    # discover's utils/sorting/get_es_query_sort.ts: getESQuerySortForTimeField and getESQuerySortForTieBreaker
    return [{field: {"order": "desc", "format": "strict_date_optional_time"}},
            {"_doc": {"order": "desc", "unmapped_type": "boolean"}}]


def histogram_body(query_text: str | None, time_field: str = "published") -> dict[str, Any]:
    """Discover's histogram (unified histogram's date_histogram through search source): size 0, aggs only."""
    body = discover_body(query_text, sort=time_sort(time_field), time_field=time_field, size=0)
    for key in ("sort", "highlight", "fields", "version"):
        body.pop(key)
    body["aggs"] = {"2": {"date_histogram": {"field": time_field, "calendar_interval": "1y", "time_zone": "UTC",
                                             "min_doc_count": 1}}}
    return body


# Point in time (discover's context view and CSV export): search_source.ts sends `pit` in the body and no index
# (the PIT names it); es_search/request_utils.ts leaves ignore_unavailable out when a PIT is set.
# Paging with a PIT: POST /{index}/_pit?keep_alive=..., pages with search_after on the previous page's last `sort`
# (with the `_shard_doc` tie-breaker a PIT gives), then DELETE /_pit {"id"}.
def pit_page(pit_id: str, *, size: int, search_after: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"size": size, "pit": {"id": pit_id, "keep_alive": "1m"},
                            "sort": [{"published": {"order": "desc", "format": "strict_date_optional_time"}},
                                     {"_shard_doc": "desc"}],
                            "query": {"bool": {"filter": [{"multi_match": {"type": "best_fields", "query": "file",
                                                                          "lenient": True}}]}},
                            "_source": False, "fields": [{"field": "*", "include_unmapped": True}],
                            "track_total_hits": True}
    if search_after is not None:
        body["search_after"] = search_after
    return body


# Housekeeping Kibana does beside searches (each from the source that sends it):
# - src/core/packages/elasticsearch/server-internal/src/version_check/ensure_es_version.ts: the nodes' versions
# - src/platform/plugins/shared/data_views/server/fetcher/lib/es_api.ts (callFieldCapsApi): a data view's fields
# - .../data_views/server/rest_api_routes/internal/has_es_data.ts: indices.resolveCluster (Kibana 9; in Kibana 8
#   the data view editor's resolve_index route calls GET /_resolve/index/{pattern}?expand_wildcards=...)
# - the security and licensing plugins: GET /_security/_authenticate, GET /_xpack
# - saved objects (src/core/packages/saved-objects): documents and searches in .kibana* indices
def housekeeping(index: str) -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, path, params, body) of a representative few, scoped to `index` where they name indices (the node
    is shared: a listing of every index could change between two calls)."""
    return [
        ("GET", "/_nodes", {"filter_path": "nodes.*.version,nodes.*.http.publish_address,nodes.*.ip"}, None),
        ("POST", f"/{index}/_field_caps", {"fields": "*", "ignore_unavailable": "true", "include_empty_fields": "true",
                                           "allow_no_indices": "false", "include_unmapped": "false"}, {}),
        ("GET", f"/_resolve/cluster/{index}*", {"allow_no_indices": "true", "ignore_unavailable": "true"}, None),
        ("GET", f"/_resolve/index/{index}*", {"expand_wildcards": "all"}, None),
        ("GET", "/_security/_authenticate", {}, None),
        ("GET", "/_xpack", {}, None),
    ]

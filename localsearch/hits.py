"""What a search passes between its stages (the request, its hits, what the shards found) and the hits' JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from localsearch.failures import (
    ShardError,
    all_shards_failed,
    shard_entry,
)
from localsearch.highlight import highlight
from localsearch.index import IndexState, View
from localsearch.sorting import (
    SortKey,
    field_values,
    sort_hits,
    sort_values,
    tracks_scores,
)
from searchcore.source_filter import SourceSpec, filter_source

DEFAULT_TRACK_TOTAL_HITS = 10_000


@dataclass
class SearchRequest:
    """A parsed `_search` request: what to match, which page, and what each hit shows."""

    query: dict[str, Any]
    post_filter: dict[str, Any] | None = None  # narrows the hits and their total, not the aggregations
    from_: int = 0
    size: int = 10
    sort: list[SortKey] | None = None
    source: SourceSpec = True
    track_total_hits: bool | int = DEFAULT_TRACK_TOTAL_HITS
    total_as_int: bool = False
    search_after: list[Any] | None = None
    min_score: float | None = None
    version: bool = False
    seq_no_primary_term: bool = False
    track_scores: bool = False
    explain: bool = False
    value_fields: list[str] = field(default_factory=list)
    aggs: dict[str, Any] | None = None
    highlight: dict[str, Any] | None = None
    pipeline: str | None = None
    scroll: str | None = None
    terminate_after: int | None = None
    no_stored_fields: bool = False  # stored_fields: _none_ (hits carry neither _id nor _source)
    ignore_unavailable: bool = False


@dataclass
class Hit:
    """One matching document of one index, its score, and its sort values when the search sorts."""

    state: IndexState
    view: View
    id: str
    score: float
    sort: list[Any] | None = None


@dataclass
class Collected:
    """What the shards found: ordered hits, the total, and the shards that failed (a partial result)."""

    hits: list[Hit]
    total: int
    max_score: float | None
    failures: list[tuple[IndexState, ShardError]] = field(default_factory=list)
    terminated_early: bool = False


def raise_if_all_failed(targets: Sequence[IndexState], failures: list[tuple[IndexState, ShardError]]) -> None:
    if failures and len(failures) == len(targets):
        raise all_shards_failed([(s.name, s.uuid, e) for s, e in failures])


def doc_order(hit: Hit, order: dict[str, int]) -> tuple[int, int]:
    return order[hit.state.name], hit.view.docs[hit.id].ordinal


def sort_hit_list(hits: list[Hit], keys: list[SortKey], order: dict[str, int]) -> list[Hit]:
    """Hits in the order of `keys` (top_hits aggregations), their sort values set."""
    for hit in hits:
        hit.sort = sort_values(keys, hit.view, hit.id, hit.score)
    return sort_hits(hits, lambda h: h.sort, keys, lambda h: doc_order(h, order))


def render(targets: Sequence[IndexState], req: SearchRequest, page: list[Hit], collected: Collected
           ) -> dict[str, Any]:
    sorted_by_fields = bool(req.sort)
    hits: dict[str, Any] = {}
    total_json = _total(collected.total, req.track_total_hits)
    if req.total_as_int:
        hits["total"] = total_json["value"] if total_json is not None else -1
    elif total_json is not None:
        hits["total"] = total_json
    # with a sort, hits show scores when it sorts on _score, max_score only when _score leads it (descending)
    leads_with_score = bool(req.sort) and req.sort[0].field == "_score" and req.sort[0].order == "desc"
    hits["max_score"] = collected.max_score if not sorted_by_fields or req.track_scores or leads_with_score \
        else None
    hits["hits"] = [render_hit(h, req, sorted_by_fields) for h in page]
    response: dict[str, Any] = {"took": 0, "timed_out": False}
    if collected.terminated_early:
        response["terminated_early"] = True
    response["_shards"] = shards_header(len(targets), collected.failures)
    response["hits"] = hits
    return response


def shards_header(total: int, failures: list[tuple[IndexState, ShardError]]) -> dict[str, Any]:
    header: dict[str, Any] = {"total": total, "successful": total - len(failures), "skipped": 0,
                              "failed": len(failures)}
    if failures:
        header["failures"] = [shard_entry(e, s.name, s.uuid) for s, e in failures]
    return header


def _total(total: int, track: bool | int) -> dict[str, Any] | None:
    if track is False:
        return None
    if track is True or total <= track:
        return {"value": total, "relation": "eq"}
    return {"value": int(track), "relation": "gte"}


def render_hit(hit: Hit, req: SearchRequest, sorted_by_fields: bool) -> dict[str, Any]:
    stored = hit.view.docs[hit.id]
    out: dict[str, Any] = {"_index": hit.state.name}
    if not req.no_stored_fields:
        out["_id"] = hit.id
    if req.version:
        out["_version"] = stored.version
    if req.seq_no_primary_term:
        out["_seq_no"] = stored.seq_no
        out["_primary_term"] = 1
    shows_score = not sorted_by_fields or req.track_scores or tracks_scores(req.sort)
    out["_score"] = hit.score if shows_score else None
    source = filter_source(stored.source, req.source)
    if source is not None:
        out["_source"] = source
    if req.value_fields:
        values = {}
        for name in req.value_fields:
            for path in [p for p in hit.view.mapping.fields if p == name or (name.endswith("*") and
                                                                               p.startswith(name[:-1]))]:
                found = field_values(hit.view, hit.id, path)
                if found:
                    values[path] = [_format_value(hit.view, path, v) for v in found]
        if values:
            out["fields"] = values
    if req.highlight:
        fragments = highlight(req.highlight, req.query, hit.view, stored.source)
        if fragments:
            out["highlight"] = fragments
    if sorted_by_fields and hit.sort is not None:
        out["sort"] = hit.sort
    if req.explain:
        out["_explanation"] = {"value": hit.score, "description": "localsearch score", "details": []}
    return out


def _format_value(view: View, path: str, value: Any) -> Any:
    spec = view.mapping.fields[path]
    if spec.type == "date":
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value

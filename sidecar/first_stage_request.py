"""What stage 1 is asked for one planned search: both legs' query, filters, depth, fusion, and the summary body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidecar.plan import SearchPlan
from sidecar.respond import first_stage_source
from sidecar.retrieve import (
    FORWARDED_PARAMS,
    HIT_KEYS,
    MAX_RESULT_WINDOW,
    SUMMARY_KEYS,
    FirstStageRequest,
)
from sidecar.settings import Profile


def depth(plan: SearchPlan) -> int:
    """Stage 1 fetches the window, and further when a page reaches past it (first-stage order there)."""
    return min(max(plan.window, plan.from_ + plan.size), MAX_RESULT_WINDOW)


def first_stage_request(index: str, plan: SearchPlan, profile: Profile, vector: list[float] | None,
                        params: Mapping[str, str]) -> FirstStageRequest:
    body = plan.upstream_body
    # what the cluster would count and aggregate for the client's own request
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs is None:   # the total alone: the lexical leg's query (post_filter included) counts the same hits
        summary: dict[str, Any] = {"size": 0, "query": plan.lexical_query}
    else:              # aggregations run on the query, the total counts what passes the post_filter
        summary = {"size": 0, "query": plan.client_query, "aggs": aggs}
        if plan.post_filter is not None:
            summary["post_filter"] = plan.post_filter
    summary.update({k: body[k] for k in SUMMARY_KEYS if k in body})
    o = plan.overrides
    return FirstStageRequest(
        index=index, lexical_query=plan.lexical_query, filters=plan.filters, vector=vector,
        vector_field=profile.vector_field, depth=depth(plan),
        fusion=profile.fusion_config(o.fusion, o.fusion_combination, o.fusion_weights, o.fusion_rank_constant),
        source=first_stage_source(plan.source, profile.text_fields),
        hit_options={k: v for k, v in body.items() if k in HIT_KEYS}, summary_body=summary,
        params={k: v for k, v in params.items() if k in FORWARDED_PARAMS})

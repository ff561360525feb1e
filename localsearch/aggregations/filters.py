"""Single-bucket and filter aggregations: `filter`, `filters`, `missing`."""

from __future__ import annotations

from typing import Any

from localsearch.aggregations.base import NUMERIC_KINDS, Agg, Context, field_path, subs
from localsearch.failures import json_token
from localsearch.hits import Hit
from searchcore.errors import ParsingError


def filter_bucket(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    docs = context.matching(agg.params, hits) if agg.params else hits
    return {"doc_count": len(docs), **subs(agg, docs, context)}


def filters_buckets(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    spec = agg.params.get("filters")
    if isinstance(spec, dict):
        named: list[tuple[str | None, Any]] = sorted(spec.items())  # OpenSearch orders keyed filters by key
    elif isinstance(spec, list):
        named = [(None, clause) for clause in spec]
    else:
        raise ParsingError("[filters] cannot be empty." if spec is None else
                           f"Unknown key for a {json_token(spec)} in [filters]")
    other_key = agg.params.get("other_bucket_key")
    other = bool(agg.params.get("other_bucket")) or other_key is not None
    matched: set[int] = set()
    buckets: list[tuple[str | None, dict[str, Any]]] = []
    for key, clause in named:
        docs = context.matching(clause, hits)
        matched |= {id(h) for h in docs}
        buckets.append((key, {"doc_count": len(docs), **subs(agg, docs, context)}))
    if other:
        rest = [h for h in hits if id(h) not in matched]
        buckets.append((str(other_key or "_other_"), {"doc_count": len(rest), **subs(agg, rest, context)}))
    if isinstance(spec, dict):
        return {"buckets": {key: bucket for key, bucket in buckets}}
    return {"buckets": [bucket for _, bucket in buckets]}


def missing_bucket(agg: Agg, hits: list[Hit], context: Context) -> dict[str, Any]:
    path = field_path(agg)
    context.kind(agg, path, {"keyword"} | NUMERIC_KINDS)
    docs = [h for h in hits if not context.values(h, path)]
    return {"doc_count": len(docs), **subs(agg, docs, context)}

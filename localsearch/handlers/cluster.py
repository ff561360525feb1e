"""Cluster and `_cat` endpoints: `/`, `_cluster/health`, `_cat/*`."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from localsearch import cat
from localsearch.handlers.api import Api

# The OpenSearch release localsearch imitates (the differential tests compare it with this version's node).
VERSION = {"distribution": "opensearch", "number": "3.6.0", "build_type": "localsearch", "build_hash": "localsearch",
           "build_date": "2026-04-04T00:00:00Z", "build_snapshot": False, "lucene_version": "10.4.0",
           "minimum_wire_compatibility_version": "2.19.0", "minimum_index_compatibility_version": "2.0.0"}


def info(api: Api, request: Request) -> tuple[int, Any]:
    return 200, {"name": "localsearch", "cluster_name": "localsearch", "cluster_uuid": api.engine.cluster_uuid,
                 "version": VERSION, "tagline": "The OpenSearch Project: https://opensearch.org/"}


def health(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    if index:
        api.targets(request, index)
    shards = len(api.engine.indices)
    return 200, {"cluster_name": "localsearch", "status": "green", "timed_out": False, "number_of_nodes": 1,
                 "number_of_data_nodes": 1, "discovered_master": True, "discovered_cluster_manager": True,
                 "active_primary_shards": shards, "active_shards": shards, "relocating_shards": 0,
                 "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
                 "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                 "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}


def cat_indices(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    return 200, cat.indices(api.targets(request, index), api.params(request))


def cat_plugins(api: Api, request: Request) -> tuple[int, Any]:
    return 200, cat.plugins(api.params(request))


def cat_health(api: Api, request: Request) -> tuple[int, Any]:
    return 200, cat.health(len(api.engine.indices), api.params(request))


def cat_count(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    return 200, cat.count(api.targets(request, index), api.params(request))


def cat_aliases(api: Api, request: Request) -> tuple[int, Any]:
    return 200, cat.aliases(api.engine.aliases, api.params(request))

"""The parts one sidecar process is built from, as the routes reach them (`services_of(app)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

EXTENSION_KEY = "rerank_sidecar"


@dataclass
class SidecarServices:
    settings: Any       # sidecar.settings.Settings
    upstream: Any       # sidecar.upstream.Upstream: the cluster
    models: Any         # embeds queries and reranks candidates; its readiness gates /-/ready
    pipeline: Any       # sidecar.pipeline.RerankPipeline: every search and _msearch
    metrics: Any        # sidecar.metrics.Metrics
    auth: Any = None    # sidecar.auth's authenticator, when callers must authenticate
    flavour: Any = None  # sidecar.upstream_flavour.UpstreamFlavour: OpenSearch or Elasticsearch, and its version

    @property
    def profiles(self) -> Any:
        return self.pipeline.profiles


def services_of(app: Flask | None = None) -> SidecarServices:
    return (app or current_app).extensions[EXTENSION_KEY]

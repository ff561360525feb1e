"""The Flask app factory: builds every part from Settings and wires the routes; nothing heavy at import."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from flask import Flask

from sidecar.settings import Settings

if TYPE_CHECKING:
    from sidecar.rerank.service import ModelService

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, upstream: Any = None, scorer_loader: Any = None,
               warm_up: bool = True) -> Flask:
    """Build the sidecar. Tests pass Settings (and may inject an upstream or a scorer loader)."""
    from sidecar.async_search import register_async_search_routes
    from sidecar.instrument import upstream_observer
    from sidecar.metrics import get_metrics
    from sidecar.pipeline import basic_auth_headers, build_pipeline
    from sidecar.rerank.service import ModelService
    from sidecar.routes import register_routes
    from sidecar.services import EXTENSION_KEY, SidecarServices
    from sidecar.upstream import Upstream, UpstreamConfig
    from sidecar.upstream_flavour import UpstreamFlavour

    settings = settings or Settings.load()
    if settings.opensearch_url is None and upstream is None:
        raise ValueError("no upstream: `rerank-sidecar serve` starts localsearch and sets opensearch_url")
    metrics = get_metrics()
    if upstream is None:
        upstream = Upstream(UpstreamConfig(url=settings.opensearch_url, timeout_s=settings.upstream_timeout_s,
                                           connect_timeout_s=settings.upstream_connect_timeout_s,
                                           verify_certs=settings.verify_certs, ca_certs=settings.ca_certs,
                                           username=settings.setup_username, password=settings.setup_password),
                            observer=upstream_observer(metrics))
    if settings.inference_threads:
        import torch
        torch.set_num_threads(settings.inference_threads)  # the bi-encoder and torch cross-encoders
    from sidecar.shared_cache.store import open_shared_store
    shared_store = open_shared_store(settings, metrics)   # None with cache_backend memory (the default)
    models = ModelService(settings, metrics, scorer_loader, shared_store=shared_store)
    flavour = UpstreamFlavour(upstream, basic_auth_headers(settings.setup_username, settings.setup_password))
    if isinstance(upstream, Upstream):   # lost and found again, the cluster is asked what it is again
        upstream.observer = flavour.observer(upstream.observer)
    pipeline = build_pipeline(settings, upstream, models, metrics=metrics, flavour=flavour, shared_store=shared_store)
    app = Flask("sidecar")
    app.url_map.merge_slashes = False  # `//` in a path is forwarded as sent, not redirected
    app.url_map.strict_slashes = False
    app.extensions[EXTENSION_KEY] = SidecarServices(settings, upstream, models, pipeline, metrics, flavour=flavour)
    register_routes(app)
    register_async_search_routes(app)   # Elasticsearch's _async_search (Kibana): reranked submissions answered here
    if settings.auth.enabled:
        from sidecar.auth import register_auth
        from sidecar.rerank_routes import MODEL_PATHS
        register_auth(app, settings.auth, bearer_paths=MODEL_PATHS if settings.rerank_endpoint else ())
    if settings.rerank_endpoint:
        from sidecar.rerank_routes import register_rerank_routes
        register_rerank_routes(app)
    if warm_up:
        thread = threading.Thread(target=_warm_up, args=(models, pipeline.profiles, settings, flavour), name="warm-up",
                                  daemon=True)
        thread.start()
    else:
        models.ready.set()
    return app


def _warm_up(models: ModelService, profiles: Any, settings: Settings, flavour: Any) -> None:
    if flavour.current() is None:   # current() logs what it found
        log.warning("upstream %s: could not tell which engine it is yet (asked again on use)",
                    getattr(flavour.upstream, "origin", "?"))
    contracts = profiles.known_contracts({})
    rerankers = [settings.defaults.reranker] + [p.reranker for p in settings.profiles]
    bi_encoders = [c.model for c in contracts.values()] + [p.bi_encoder for p in settings.profiles if p.bi_encoder]
    models.warm_up(rerankers, bi_encoders)

"""rerank-sidecar: hybrid retrieval and cross-encoder reranking in front of OpenSearch.

Public API (imported on first use, so `import sidecar` loads neither Flask nor torch):
- `create_app`: the proxy as a WSGI app, built from `Settings` (`sidecar.app`)
- `Settings`, `Profile`, `ConfigError`: the configuration (`sidecar.settings`)
- `build_pipeline`, `RerankPipeline`: the search pipeline the app serves and relevance/ evaluates (`sidecar.pipeline`)
- `ModelService`: embeds queries and reranks candidates, models loaded once (`sidecar.rerank.service`)

The command line is `sidecar.cli` (`rerank-sidecar`); `serve` runs the app under gunicorn.
"""

from __future__ import annotations

from searchcore.lazy_api import lazy_attributes

__version__ = "0.1.0"

_PUBLIC = {"create_app": "sidecar.app", "Settings": "sidecar.settings", "Profile": "sidecar.settings",
           "ConfigError": "sidecar.settings", "build_pipeline": "sidecar.pipeline", "RerankPipeline": "sidecar.pipeline",
           "ModelService": "sidecar.rerank.service"}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_attributes(__name__, _PUBLIC)

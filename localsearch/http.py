"""The engine's REST API as a WSGI application: OpenSearch's URL map, dispatch to the handlers, error bodies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from localsearch.engine import Engine, InvalidIndexName
from localsearch.handlers import cluster, documents, indices, search
from localsearch.handlers.api import Api
from searchcore.bodies import json_bytes
from searchcore.errors import IllegalArgument, SearchError

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"
Handler = Callable[..., tuple[int, Any]]


def _rules() -> list[Rule]:
    """OpenSearch's routes, each to its handler."""
    r = Rule
    return [
        r("/", endpoint=cluster.info, methods=["GET", "HEAD"]),
        r("/_cluster/health", endpoint=cluster.health, methods=["GET"]),
        r("/_cluster/health/<index>", endpoint=cluster.health, methods=["GET"]),
        r("/_cat/indices", endpoint=cluster.cat_indices, methods=["GET"]),
        r("/_cat/indices/<index>", endpoint=cluster.cat_indices, methods=["GET"]),
        r("/_cat/plugins", endpoint=cluster.cat_plugins, methods=["GET"]),
        r("/_cat/health", endpoint=cluster.cat_health, methods=["GET"]),
        r("/_cat/count", endpoint=cluster.cat_count, methods=["GET"]),
        r("/_cat/count/<index>", endpoint=cluster.cat_count, methods=["GET"]),
        r("/_cat/aliases", endpoint=cluster.cat_aliases, methods=["GET"]),
        r("/_bulk", endpoint=documents.bulk, methods=["POST", "PUT"]),
        r("/<index>/_bulk", endpoint=documents.bulk, methods=["POST", "PUT"]),
        r("/_search", endpoint=search.search, methods=["GET", "POST"]),
        r("/<index>/_search", endpoint=search.search, methods=["GET", "POST"]),
        r("/_msearch", endpoint=search.msearch, methods=["GET", "POST"]),
        r("/<index>/_msearch", endpoint=search.msearch, methods=["GET", "POST"]),
        r("/_count", endpoint=search.count, methods=["GET", "POST"]),
        r("/<index>/_count", endpoint=search.count, methods=["GET", "POST"]),
        r("/_search/scroll", endpoint=search.scroll, methods=["GET", "POST"]),
        r("/_search/scroll/<scroll_id>", endpoint=search.scroll, methods=["GET", "POST"]),
        r("/_search/scroll", endpoint=search.clear_scroll, methods=["DELETE"]),
        r("/_search/scroll/<scroll_id>", endpoint=search.clear_scroll, methods=["DELETE"]),
        r("/_search/pipeline", endpoint=indices.get_pipeline, methods=["GET"]),
        r("/_search/pipeline/<pipeline_id>", endpoint=indices.get_pipeline, methods=["GET"]),
        r("/_search/pipeline/<pipeline_id>", endpoint=indices.put_pipeline, methods=["PUT"]),
        r("/_search/pipeline/<pipeline_id>", endpoint=indices.delete_pipeline, methods=["DELETE"]),
        r("/_aliases", endpoint=indices.update_aliases, methods=["POST"]),
        r("/_aliases", endpoint=indices.get_aliases, methods=["GET"]),
        r("/_alias", endpoint=indices.get_alias, methods=["GET"]),
        r("/_alias/<name>", endpoint=indices.get_alias, methods=["GET", "HEAD"]),
        r("/<index>/_alias", endpoint=indices.get_alias, methods=["GET"]),
        r("/<index>/_alias/<name>", endpoint=indices.get_alias, methods=["GET", "HEAD"]),
        r("/<index>/_alias/<name>", endpoint=indices.put_alias, methods=["PUT", "POST"]),
        r("/<index>/_aliases/<name>", endpoint=indices.put_alias, methods=["PUT", "POST"]),
        r("/<index>/_alias/<name>", endpoint=indices.delete_alias, methods=["DELETE"]),
        r("/<index>/_aliases/<name>", endpoint=indices.delete_alias, methods=["DELETE"]),
        r("/_mapping", endpoint=indices.get_mapping, methods=["GET"]),
        r("/<index>/_mapping", endpoint=indices.get_mapping, methods=["GET"]),
        r("/<index>/_mapping", endpoint=indices.put_mapping, methods=["PUT", "POST"]),
        r("/_settings", endpoint=indices.get_settings, methods=["GET"]),
        r("/<index>/_settings", endpoint=indices.get_settings, methods=["GET"]),
        r("/_settings", endpoint=indices.put_settings, methods=["PUT"]),
        r("/<index>/_settings", endpoint=indices.put_settings, methods=["PUT"]),
        r("/_refresh", endpoint=indices.refresh, methods=["GET", "POST"]),
        r("/<index>/_refresh", endpoint=indices.refresh, methods=["GET", "POST"]),
        r("/<index>/_doc", endpoint=documents.index_auto_id, methods=["POST"]),
        r("/<index>/_doc/<path:doc_id>", endpoint=documents.index_doc, methods=["PUT", "POST"]),
        r("/<index>/_create/<path:doc_id>", endpoint=documents.create_doc, methods=["PUT", "POST"]),
        r("/<index>/_doc/<path:doc_id>", endpoint=documents.get_doc, methods=["GET", "HEAD"]),
        r("/<index>/_source/<path:doc_id>", endpoint=documents.get_source, methods=["GET", "HEAD"]),
        r("/<index>/_doc/<path:doc_id>", endpoint=documents.delete_doc, methods=["DELETE"]),
        r("/<index>/_update/<path:doc_id>", endpoint=documents.update_doc, methods=["POST"]),
        r("/<index>", endpoint=indices.create_index, methods=["PUT"]),
        r("/<index>", endpoint=indices.get_index, methods=["GET", "HEAD"]),
        r("/<index>", endpoint=indices.delete_index, methods=["DELETE"]),
    ]


class LocalsearchApp:
    """WSGI app: route, hand to the handler, render; every failure becomes an OpenSearch error body."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.api = Api(engine)
        self.url_map = Map(_rules(), strict_slashes=False, merge_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            if str(values.get("index", "")).startswith("_") and values["index"] != "_all":
                self._no_index_route(adapter, request, endpoint)
            status, body = endpoint(self.api, request, **values)
        except NotFound:
            status, body = _error(IllegalArgument(
                f"no handler found for uri [{request.path}] and method [{request.method}]"))
        except MethodNotAllowed as exc:  # OpenSearch's 405 body carries the message as a plain string
            allowed = ", ".join(sorted(exc.valid_methods or []))
            status, body = 405, {"error": f"Incorrect HTTP method for uri [{request.path}] and method "
                                          f"[{request.method}], allowed: [{allowed}]", "status": 405}
        except SearchError as exc:
            status, body = _error(exc)
        except HTTPException as exc:  # werkzeug's own: a client that went away, a bad request line
            status, body = _error(SearchError(exc.description or exc.name, status=exc.code or 400,
                                              error_type="illegal_argument_exception"))
        except Exception as exc:  # never a stack trace to the client
            log.exception("unhandled error on %s %s", request.method, request.path)
            status, body = _error(SearchError(f"internal error: {type(exc).__name__}", status=500))
        if request.method == "HEAD":
            return Response(status=status, content_type=JSON_TYPE)
        if isinstance(body, str):
            return Response(body, status=status, content_type="text/plain; charset=UTF-8")
        return Response(json_bytes(body), status=status, content_type=JSON_TYPE)

    def _no_index_route(self, adapter: Any, request: Request, endpoint: Handler) -> None:
        """A path like `/_bulk` with a method it does not take answers 405, as OpenSearch does, instead of
        falling through to the `/{index}` routes; `/_unknown` itself is an index name OpenSearch refuses."""
        allowed = []
        for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
            try:
                _, values = adapter.match(method=method)
            except (NotFound, MethodNotAllowed):
                continue
            if not str(values.get("index", "")).startswith("_"):
                allowed.append(method)
        if allowed:
            raise MethodNotAllowed(valid_methods=allowed)
        if endpoint is indices.create_index:
            return  # the create call refuses the name itself
        if request.method in ("GET", "HEAD") and request.path.strip("/").count("/") == 0:
            name = request.path.strip("/")
            raise InvalidIndexName(f"Invalid index name [{name}], must not start with '_'.",
                                   extra={"index": name, "index_uuid": "_na_"})
        raise NotFound()


def _error(exc: SearchError) -> tuple[int, Any]:
    return exc.status, exc.body()

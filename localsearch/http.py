"""The engine's REST API as a WSGI application: OpenSearch's routes, parameters and response shapes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from localsearch import cat
from localsearch.bulk import WriteOp, parse_ndjson
from localsearch.engine import Engine, InvalidIndexName, nested_settings
from localsearch.execute import collect, count, search
from localsearch.failures import XContentParseError, malformed_body
from localsearch.mapping_rules import display
from localsearch.search import parse_request
from searchcore.bodies import BodyNotJson, parse_json_body, parse_ndjson_pairs
from searchcore.errors import IllegalArgument, IndexNotFound, ParsingError, SearchError
from searchcore.source_filter import filter_source, parse_source_spec

log = logging.getLogger(__name__)

# The OpenSearch release localsearch imitates (the differential tests compare it with this version's node).
VERSION = {"distribution": "opensearch", "number": "3.6.0", "build_type": "localsearch", "build_hash": "localsearch",
           "build_date": "2026-04-04T00:00:00Z", "build_snapshot": False, "lucene_version": "10.4.0",
           "minimum_wire_compatibility_version": "2.19.0", "minimum_index_compatibility_version": "2.0.0"}
MAX_BODY_BYTES = 100 * 1024 * 1024  # OpenSearch's http.max_content_length
JSON_TYPE = "application/json; charset=UTF-8"


class ContentTooLong(SearchError):
    status, error_type = 413, "content_too_long_exception"


def _rules() -> list[Rule]:
    r = Rule
    return [
        r("/", endpoint="info", methods=["GET", "HEAD"]),
        r("/_cluster/health", endpoint="health", methods=["GET"]),
        r("/_cluster/health/<index>", endpoint="health", methods=["GET"]),
        r("/_cat/indices", endpoint="cat_indices", methods=["GET"]),
        r("/_cat/indices/<index>", endpoint="cat_indices", methods=["GET"]),
        r("/_cat/plugins", endpoint="cat_plugins", methods=["GET"]),
        r("/_cat/health", endpoint="cat_health", methods=["GET"]),
        r("/_cat/count", endpoint="cat_count", methods=["GET"]),
        r("/_cat/count/<index>", endpoint="cat_count", methods=["GET"]),
        r("/_cat/aliases", endpoint="cat_aliases", methods=["GET"]),
        r("/_bulk", endpoint="bulk", methods=["POST", "PUT"]),
        r("/<index>/_bulk", endpoint="bulk", methods=["POST", "PUT"]),
        r("/_search", endpoint="search", methods=["GET", "POST"]),
        r("/<index>/_search", endpoint="search", methods=["GET", "POST"]),
        r("/_msearch", endpoint="msearch", methods=["GET", "POST"]),
        r("/<index>/_msearch", endpoint="msearch", methods=["GET", "POST"]),
        r("/_count", endpoint="count", methods=["GET", "POST"]),
        r("/<index>/_count", endpoint="count", methods=["GET", "POST"]),
        r("/_search/scroll", endpoint="scroll", methods=["GET", "POST"]),
        r("/_search/scroll/<scroll_id>", endpoint="scroll", methods=["GET", "POST"]),
        r("/_search/scroll", endpoint="clear_scroll", methods=["DELETE"]),
        r("/_search/scroll/<scroll_id>", endpoint="clear_scroll", methods=["DELETE"]),
        r("/_search/pipeline", endpoint="get_pipeline", methods=["GET"]),
        r("/_search/pipeline/<pipeline_id>", endpoint="get_pipeline", methods=["GET"]),
        r("/_search/pipeline/<pipeline_id>", endpoint="put_pipeline", methods=["PUT"]),
        r("/_search/pipeline/<pipeline_id>", endpoint="delete_pipeline", methods=["DELETE"]),
        r("/_aliases", endpoint="update_aliases", methods=["POST"]),
        r("/_aliases", endpoint="get_aliases", methods=["GET"]),
        r("/_alias", endpoint="get_alias", methods=["GET"]),
        r("/_alias/<name>", endpoint="get_alias", methods=["GET", "HEAD"]),
        r("/<index>/_alias", endpoint="get_alias", methods=["GET"]),
        r("/<index>/_alias/<name>", endpoint="get_alias", methods=["GET", "HEAD"]),
        r("/<index>/_alias/<name>", endpoint="put_alias", methods=["PUT", "POST"]),
        r("/<index>/_aliases/<name>", endpoint="put_alias", methods=["PUT", "POST"]),
        r("/<index>/_alias/<name>", endpoint="delete_alias", methods=["DELETE"]),
        r("/<index>/_aliases/<name>", endpoint="delete_alias", methods=["DELETE"]),
        r("/_mapping", endpoint="get_mapping", methods=["GET"]),
        r("/<index>/_mapping", endpoint="get_mapping", methods=["GET"]),
        r("/<index>/_mapping", endpoint="put_mapping", methods=["PUT", "POST"]),
        r("/_settings", endpoint="get_settings", methods=["GET"]),
        r("/<index>/_settings", endpoint="get_settings", methods=["GET"]),
        r("/_settings", endpoint="put_settings", methods=["PUT"]),
        r("/<index>/_settings", endpoint="put_settings", methods=["PUT"]),
        r("/_refresh", endpoint="refresh", methods=["GET", "POST"]),
        r("/<index>/_refresh", endpoint="refresh", methods=["GET", "POST"]),
        r("/<index>/_doc", endpoint="index_auto_id", methods=["POST"]),
        r("/<index>/_doc/<path:doc_id>", endpoint="index_doc", methods=["PUT", "POST"]),
        r("/<index>/_create/<path:doc_id>", endpoint="create_doc", methods=["PUT", "POST"]),
        r("/<index>/_doc/<path:doc_id>", endpoint="get_doc", methods=["GET", "HEAD"]),
        r("/<index>/_source/<path:doc_id>", endpoint="get_source", methods=["GET", "HEAD"]),
        r("/<index>/_doc/<path:doc_id>", endpoint="delete_doc", methods=["DELETE"]),
        r("/<index>/_update/<path:doc_id>", endpoint="update_doc", methods=["POST"]),
        r("/<index>", endpoint="create_index", methods=["PUT"]),
        r("/<index>", endpoint="get_index", methods=["GET", "HEAD"]),
        r("/<index>", endpoint="delete_index", methods=["DELETE"]),
    ]


class LocalsearchApp:
    """WSGI app: parse, delegate to the engine, render; every failure becomes an OpenSearch error body."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
            handler = getattr(self, f"on_{endpoint}")
            status, body = handler(request, **values)
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
        return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_TYPE)

    # ---- helpers -----------------------------------------------------------------------------
    def _no_index_route(self, adapter: Any, request: Request, endpoint: str) -> None:
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
        if endpoint == "create_index":
            return  # the create call refuses the name itself
        if request.method in ("GET", "HEAD") and request.path.strip("/").count("/") == 0:
            name = request.path.strip("/")
            raise InvalidIndexName(f"Invalid index name [{name}], must not start with '_'.",
                                   extra={"index": name, "index_uuid": "_na_"})
        raise NotFound()

    @staticmethod
    def params(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.args.items()}

    @staticmethod
    def raw(request: Request) -> bytes:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ContentTooLong(f"request body is larger than [{MAX_BODY_BYTES}] bytes")
        data = request.get_data(cache=True)
        if len(data) > MAX_BODY_BYTES:
            raise ContentTooLong(f"request body is larger than [{MAX_BODY_BYTES}] bytes")
        return data

    def json(self, request: Request, required: bool = False, malformed: str = "search") -> Any:
        """The body as JSON; unreadable JSON is reported the way the endpoint (`malformed`) reports it."""
        data = self.raw(request)
        try:
            body = parse_json_body(data)
        except BodyNotJson as exc:
            fault = exc.fault
            if fault.bad_utf8_byte is not None or fault.too_deep:
                raise malformed_body(malformed, fault.message, not_json=fault.not_json) from exc
            raise malformed_body(malformed, f"{fault.message}\n at [Source: REDACTED; line: {fault.line}, column: "
                                            f"{fault.column}]", at_end=fault.at_end, not_json=fault.not_json) from exc
        if body is None and required:
            raise SearchError("request body is required", status=400, error_type="parse_exception")
        return body

    def _targets(self, request: Request, index: str | None) -> list[Any]:
        p = self.params(request)
        return self.engine.resolve(index, ignore_unavailable=p.get("ignore_unavailable") == "true",
                                   allow_no_indices=p.get("allow_no_indices", "true") != "false")

    # ---- cluster -----------------------------------------------------------------------------
    def on_info(self, request: Request) -> tuple[int, Any]:
        return 200, {"name": "localsearch", "cluster_name": "localsearch", "cluster_uuid": self.engine.cluster_uuid,
                     "version": VERSION, "tagline": "The OpenSearch Project: https://opensearch.org/"}

    def on_health(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        if index:
            self._targets(request, index)
        shards = len(self.engine.indices)
        return 200, {"cluster_name": "localsearch", "status": "green", "timed_out": False, "number_of_nodes": 1,
                     "number_of_data_nodes": 1, "discovered_master": True, "discovered_cluster_manager": True,
                     "active_primary_shards": shards, "active_shards": shards, "relocating_shards": 0,
                     "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
                     "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                     "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}

    def on_cat_indices(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        return 200, cat.indices(self._targets(request, index), self.params(request))

    def on_cat_plugins(self, request: Request) -> tuple[int, Any]:
        return 200, cat.plugins(self.params(request))

    def on_cat_health(self, request: Request) -> tuple[int, Any]:
        return 200, cat.health(len(self.engine.indices), self.params(request))

    def on_cat_count(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        return 200, cat.count(self._targets(request, index), self.params(request))

    def on_cat_aliases(self, request: Request) -> tuple[int, Any]:
        return 200, cat.aliases(self.engine.aliases, self.params(request))

    # ---- indices -----------------------------------------------------------------------------
    def on_create_index(self, request: Request, index: str) -> tuple[int, Any]:
        return 200, self.engine.create_index(index, self.json(request, malformed="content_map"))

    def on_delete_index(self, request: Request, index: str) -> tuple[int, Any]:
        return 200, self.engine.delete_index(index)

    def on_get_index(self, request: Request, index: str) -> tuple[int, Any]:
        targets = self._targets(request, index)
        if not targets and "*" not in index:
            raise IndexNotFound(index)
        return 200, {t.name: {"aliases": self.engine.aliases_of(t.name), "mappings": _mapping_of(t),
                              "settings": self._settings(request, t)} for t in targets}

    def on_get_mapping(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        return 200, {t.name: {"mappings": _mapping_of(t)} for t in self._targets(request, index)}

    def on_put_mapping(self, request: Request, index: str) -> tuple[int, Any]:
        return 200, self.engine.put_mapping(index, self.json(request, required=True, malformed="content_map"))

    def on_get_settings(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        return 200, {t.name: {"settings": self._settings(request, t)} for t in self._targets(request, index)}

    def _settings(self, request: Request, state: Any) -> dict[str, Any]:
        flat = state.settings.get("index", {})
        if self.params(request).get("flat_settings") == "true":
            return {f"index.{k}": v for k, v in sorted(flat.items())}
        return {"index": nested_settings(flat)}

    def on_put_settings(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        return 200, self.engine.put_settings(index, self.json(request, required=True))

    def on_refresh(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        if index:
            self._targets(request, index)
        return 200, self.engine.refresh(index)

    # ---- aliases -----------------------------------------------------------------------------
    def on_update_aliases(self, request: Request) -> tuple[int, Any]:
        body = self.json(request, required=True)
        if not isinstance(body, dict):
            raise ParsingError("[aliases] request body must be an object")
        return 200, self.engine.update_aliases(body.get("actions"))

    def on_get_aliases(self, request: Request) -> tuple[int, Any]:
        return 200, {name: {"aliases": self.engine.aliases_of(name)} for name in sorted(self.engine.indices)}

    def on_get_alias(self, request: Request, index: str | None = None, name: str | None = None) -> tuple[int, Any]:
        import fnmatch
        names = self.engine.indices if index is None else [t.name for t in self._targets(request, index)]
        patterns = (name or "*").split(",")
        found = {}
        for index_name in sorted(names):
            aliases = {a: b for a, b in self.engine.aliases_of(index_name).items()
                       if any(fnmatch.fnmatchcase(a, p) for p in patterns)}
            if aliases or (name is None and index is not None):
                found[index_name] = {"aliases": aliases}
        if name is not None and not found:
            return 404, {"error": f"alias [{name}] missing", "status": 404}
        return 200, found

    def on_put_alias(self, request: Request, index: str, name: str) -> tuple[int, Any]:
        body = self.json(request) or {}
        return 200, self.engine.update_aliases([{"add": {"index": index, "alias": name, **body}}])

    def on_delete_alias(self, request: Request, index: str, name: str) -> tuple[int, Any]:
        return 200, self.engine.update_aliases([{"remove": {"index": index, "alias": name}}])

    # ---- pipelines ---------------------------------------------------------------------------
    def on_put_pipeline(self, request: Request, pipeline_id: str) -> tuple[int, Any]:
        return 200, self.engine.put_pipeline(pipeline_id, self.json(request, required=True,
                                                                    malformed="content_map"))

    def on_get_pipeline(self, request: Request, pipeline_id: str | None = None) -> tuple[int, Any]:
        return 200, self.engine.get_pipelines(pipeline_id)

    def on_delete_pipeline(self, request: Request, pipeline_id: str) -> tuple[int, Any]:
        return 200, self.engine.delete_pipeline(pipeline_id)

    # ---- documents ---------------------------------------------------------------------------
    def on_bulk(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        payload = self.raw(request)
        if not payload:
            raise SearchError("request body is required", status=400, error_type="parse_exception")
        ops = parse_ndjson(payload, index)
        return 200, self.engine.write(ops, self.params(request).get("refresh"))

    def _single(self, request: Request, op: WriteOp) -> tuple[int, Any]:
        p = self.params(request)
        op.params.update({k: p[k] for k in ("if_seq_no", "if_primary_term") if k in p})
        result = self.engine.write([op], p.get("refresh"))
        item = next(iter(result["items"][0].values()))
        if "error" in item:
            error = item["error"]
            cause = {k: v for k, v in error.items() if k != "caused_by"}
            return item["status"], {"error": {"root_cause": [cause], **error}, "status": item["status"]}
        status = item.pop("status")
        return status, item

    def on_index_doc(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        action = "create" if self.params(request).get("op_type") == "create" else "index"
        return self._single(request, WriteOp(action, index, doc_id, self._document(request)))

    def on_index_auto_id(self, request: Request, index: str) -> tuple[int, Any]:
        return self._single(request, WriteOp("index", index, None, self._document(request)))

    def on_create_doc(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        return self._single(request, WriteOp("create", index, doc_id, self._document(request)))

    def _document(self, request: Request) -> Any:
        return self.json(request, required=True, malformed="document")

    def on_update_doc(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        return self._single(request, WriteOp("update", index, doc_id, self.json(request, required=True)))

    def on_delete_doc(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        self.engine.concrete(index)
        return self._single(request, WriteOp("delete", index, doc_id))

    def on_get_doc(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        state, stored = self.engine.get_doc(index, doc_id)
        if stored is None:
            return 404, {"_index": state.name, "_id": doc_id, "found": False}
        p = self.params(request)
        body: dict[str, Any] = {"_index": state.name, "_id": doc_id, "_version": stored.version,
                                "_seq_no": stored.seq_no, "_primary_term": 1, "found": True}
        source = filter_source(stored.source, parse_source_spec(p.get("_source", True), p.get("_source_includes"),
                                                                p.get("_source_excludes")))
        if source is not None:
            body["_source"] = source
        return 200, body

    def on_get_source(self, request: Request, index: str, doc_id: str) -> tuple[int, Any]:
        status, body = self.on_get_doc(request, index, doc_id)
        if status != 200:
            raise SearchError(f"Document not found [{index}]/[{doc_id}]", status=404,
                              error_type="resource_not_found_exception")
        return 200, body.get("_source", {})

    # ---- search ------------------------------------------------------------------------------
    def on_search(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        params = self.params(request)
        body = self.json(request)
        with malformed_request_is_400("search request"):
            req = parse_request(body, params)
            targets = self._targets(request, index)
            if req.scroll is not None:
                found = collect(self.engine, targets, req, 0)
                return 200, self.engine.scrolls.open(targets, req, found.hits, found.total, found.max_score)
            return 200, search(self.engine, targets, req)

    def on_msearch(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        import time
        started = time.monotonic()
        shared = self.params(request)
        items: list[tuple[str | None, Any]] = []
        # every item's body is parsed first, as OpenSearch's REST layer does: one that does not parse fails
        # the whole request; what goes wrong later is that item's own error
        for header, body in parse_ndjson_pairs(self.raw(request)):
            params = {**{k: v for k, v in shared.items() if k in ("rest_total_hits_as_int", "search_pipeline")},
                      **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in header.items()
                         if k not in ("index",)}}
            target = header.get("index", index)
            try:
                with malformed_request_is_400("search request"):
                    items.append((",".join(target) if isinstance(target, list) else target,
                                  parse_request(body, params)))
            except (ParsingError, XContentParseError):
                raise
            except SearchError as exc:
                items.append((None, exc))
        responses = [self._msearch_item(target, req) for target, req in items]
        return 200, {"took": int((time.monotonic() - started) * 1000), "responses": responses}

    def _msearch_item(self, target: str | None, req: Any) -> dict[str, Any]:
        if isinstance(req, SearchError):
            return req.body()
        try:
            with malformed_request_is_400("search request"):
                targets = self.engine.resolve(target, ignore_unavailable=req.ignore_unavailable)
                item = search(self.engine, targets, req)
        except SearchError as exc:
            return exc.body()
        item["status"] = 200
        return item

    def on_count(self, request: Request, index: str | None = None) -> tuple[int, Any]:
        body = self.json(request, malformed="count")
        with malformed_request_is_400("count request"):
            return 200, count(self.engine, self._targets(request, index), body, self.params(request))

    def on_scroll(self, request: Request, scroll_id: str | None = None) -> tuple[int, Any]:
        body = self.json(request, malformed="scroll") or {}
        params = self.params(request)
        scroll_id = body.get("scroll_id") or params.get("scroll_id") or scroll_id
        if not scroll_id:
            raise SearchError("Validation Failed: 1: scrollId is missing;", status=400,
                              error_type="action_request_validation_exception")
        return 200, self.engine.scrolls.next(scroll_id, body.get("scroll") or params.get("scroll"))

    def on_clear_scroll(self, request: Request, scroll_id: str | None = None) -> tuple[int, Any]:
        body = self.json(request, malformed="scroll") or {}
        ids = body.get("scroll_id") or (scroll_id.split(",") if scroll_id else None)
        if isinstance(ids, str):
            ids = [ids]
        result = self.engine.scrolls.clear(ids)
        return (200 if result["num_freed"] or ids is None else 404), result


def _mapping_of(state: Any) -> dict[str, Any]:
    return display(state.mapping.to_json(), str(state.setting("knn", "false")).lower() == "true")


def _error(exc: SearchError) -> tuple[int, Any]:
    return exc.status, exc.body()


# A request's JSON holding the wrong type or form where a query, number or list is expected surfaces as one of
# these while the query is interpreted: the client's mistake (OpenSearch answers 400), not an internal error.
_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


@contextmanager
def malformed_request_is_400(what: str) -> Iterator[None]:
    try:
        yield
    except SearchError:
        raise
    except _SHAPE_ERRORS as exc:
        log.debug("malformed %s", what, exc_info=True)
        raise ParsingError(f"failed to parse the {what}: a value has the wrong type or form "
                           f"({type(exc).__name__})") from exc

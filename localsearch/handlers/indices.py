"""Index administration: indices, mappings, settings, refresh, aliases, search pipelines."""

from __future__ import annotations

import fnmatch
from typing import Any

from werkzeug.wrappers import Request

from localsearch.handlers.api import Api
from localsearch.index_settings import nested_settings
from localsearch.mapping_rules import display
from searchcore.errors import IndexNotFound, ParsingError


def create_index(api: Api, request: Request, index: str) -> tuple[int, Any]:
    return 200, api.engine.create_index(index, api.json(request, malformed="content_map"))


def delete_index(api: Api, request: Request, index: str) -> tuple[int, Any]:
    return 200, api.engine.delete_index(index)


def get_index(api: Api, request: Request, index: str) -> tuple[int, Any]:
    targets = api.targets(request, index)
    if not targets and "*" not in index:
        raise IndexNotFound(index)
    return 200, {t.name: {"aliases": api.engine.aliases_of(t.name), "mappings": _mapping_of(t),
                          "settings": _settings(api, request, t)} for t in targets}


def get_mapping(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    return 200, {t.name: {"mappings": _mapping_of(t)} for t in api.targets(request, index)}


def put_mapping(api: Api, request: Request, index: str) -> tuple[int, Any]:
    return 200, api.engine.put_mapping(index, api.json(request, required=True, malformed="content_map"))


def get_settings(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    return 200, {t.name: {"settings": _settings(api, request, t)} for t in api.targets(request, index)}


def _settings(api: Api, request: Request, state: Any) -> dict[str, Any]:
    flat = state.settings.get("index", {})
    if api.params(request).get("flat_settings") == "true":
        return {f"index.{k}": v for k, v in sorted(flat.items())}
    return {"index": nested_settings(flat)}


def put_settings(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    return 200, api.engine.put_settings(index, api.json(request, required=True))


def refresh(api: Api, request: Request, index: str | None = None) -> tuple[int, Any]:
    if index:
        api.targets(request, index)
    return 200, api.engine.refresh(index)


def update_aliases(api: Api, request: Request) -> tuple[int, Any]:
    body = api.json(request, required=True)
    if not isinstance(body, dict):
        raise ParsingError("[aliases] request body must be an object")
    return 200, api.engine.update_aliases(body.get("actions"))


def get_aliases(api: Api, request: Request) -> tuple[int, Any]:
    return 200, {name: {"aliases": api.engine.aliases_of(name)} for name in sorted(api.engine.indices)}


def get_alias(api: Api, request: Request, index: str | None = None, name: str | None = None) -> tuple[int, Any]:
    names = api.engine.indices if index is None else [t.name for t in api.targets(request, index)]
    patterns = (name or "*").split(",")
    found = {}
    for index_name in sorted(names):
        aliases = {a: b for a, b in api.engine.aliases_of(index_name).items()
                   if any(fnmatch.fnmatchcase(a, p) for p in patterns)}
        if aliases or (name is None and index is not None):
            found[index_name] = {"aliases": aliases}
    if name is not None and not found:
        return 404, {"error": f"alias [{name}] missing", "status": 404}
    return 200, found


def put_alias(api: Api, request: Request, index: str, name: str) -> tuple[int, Any]:
    body = api.json(request) or {}
    return 200, api.engine.update_aliases([{"add": {"index": index, "alias": name, **body}}])


def delete_alias(api: Api, request: Request, index: str, name: str) -> tuple[int, Any]:
    return 200, api.engine.update_aliases([{"remove": {"index": index, "alias": name}}])


def put_pipeline(api: Api, request: Request, pipeline_id: str) -> tuple[int, Any]:
    return 200, api.engine.put_pipeline(pipeline_id, api.json(request, required=True,
                                                                malformed="content_map"))


def get_pipeline(api: Api, request: Request, pipeline_id: str | None = None) -> tuple[int, Any]:
    return 200, api.engine.get_pipelines(pipeline_id)


def delete_pipeline(api: Api, request: Request, pipeline_id: str) -> tuple[int, Any]:
    return 200, api.engine.delete_pipeline(pipeline_id)


def _mapping_of(state: Any) -> dict[str, Any]:
    return display(state.mapping.to_json(), str(state.setting("knn", "false")).lower() == "true")

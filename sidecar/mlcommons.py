"""ml-commons and search-pipeline calls for `rerank-sidecar connect`: find its parts by name, register, deploy,
check and take down a remote model; every cluster error worded as one line."""

from __future__ import annotations

import json
import time
from typing import Any

from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

ML = "/_plugins/_ml"
DEPLOY_TIMEOUT_S = 60.0
# what `connect` reranks through the cluster to check the whole path before a search depends on it
CHECK_QUERY = "rerank-sidecar connect: is the model reachable?"
CHECK_DOCUMENTS = ("The cluster reached the sidecar.", "Its scores came back.")


class ConnectError(Exception):
    """What went wrong, in one line for the operator."""


# ---- the parts, found by name -----------------------------------------------------------------------------------
def find_connector(client: Any, name: str) -> dict[str, Any] | None:
    hits = _search(client, f"{ML}/connectors/_search", name)
    return {"id": hits[0]["_id"], **hits[0]["_source"]} if hits else None


def find_model(client: Any, name: str) -> dict[str, Any] | None:
    hits = _search(client, f"{ML}/models/_search", name)
    # a remote model has no chunks, but ml-commons indexes chunk documents beside their model for local ones
    hits = [h for h in hits if "chunk_number" not in h["_source"]]
    return {"id": hits[0]["_id"], **hits[0]["_source"]} if hits else None


def _search(client: Any, path: str, name: str) -> list[dict[str, Any]]:
    body = {"query": {"term": {"name.keyword": name}}, "size": 5}
    # ml-commons creates its system index on first use: none yet (404) means nothing of ours
    answer = call(client, "POST", path, body, params={"ignore": 404})
    return answer.get("hits", {}).get("hits", [])


def find_pipeline(client: Any, name: str) -> dict[str, Any] | None:
    return call(client, "GET", f"/_search/pipeline/{name}", params={"ignore": 404}).get(name)


def default_pipelines(client: Any, pattern: str, expand_wildcards: str) -> dict[str, str | None]:
    """Each index matching `pattern` and its default search pipeline (None when it has none)."""
    settings = client.indices.get_settings(index=pattern, expand_wildcards=expand_wildcards,
                                           params={"ignore": 404})
    return {index: value.get("settings", {}).get("index", {}).get("search", {}).get("default_pipeline")
            for index, value in settings.items() if isinstance(value, dict) and "settings" in value}



def check_model(client: Any, endpoint: str, model_id: str, *, redeploy: bool, say: Any = print) -> None:
    """Rerank two documents through the cluster as the processor does (TextSimilarityInputDataSet), before any
    search depends on it: a sidecar the cluster cannot reach, or a setting that forbids it, is an error now
    instead of silently unreranked searches later. A model that was already deployed is redeployed once first
    when the check fails, because ml-commons reads some settings (private_ip_enabled) only at deploy."""
    body = {"query_text": CHECK_QUERY, "text_docs": list(CHECK_DOCUMENTS)}
    for attempt in ("first", "after redeploy") if redeploy else ("first",):
        try:
            answer = call(client, "POST", f"{ML}/_predict/text_similarity/{model_id}", body)
            break
        except TransportError as exc:
            if attempt == "first" and redeploy:
                call(client, "POST", f"{ML}/models/{model_id}/_undeploy")
                deploy_model(client, model_id)
                say(f"model {model_id}: failed the check, redeployed ({one_line(exc)})")
                continue
            hint = ""
            if "private ip address" in str(exc.info):
                hint = " (set plugins.ml_commons.connector.private_ip_enabled: true, then run connect again)"
            raise ConnectError(f"the cluster cannot rerank with the sidecar at {endpoint}: {one_line(exc)}"
                               f"{hint}; the connector and model stay, the pipeline was not written") from exc
    outputs = (answer.get("inference_results") or [{}])[0].get("output") or []
    if len(outputs) != len(CHECK_DOCUMENTS):
        raise ConnectError(f"the sidecar at {endpoint} gave {len(outputs)} scores for "
                           f"{len(CHECK_DOCUMENTS)} documents through the cluster")


def register_model(client: Any, name: str, connector_id: str) -> str:
    body = {"name": name, "function_name": "remote", "connector_id": connector_id,
            "description": "rerank-sidecar's cross-encoder, served over HTTP"}
    task = call(client, "POST", f"{ML}/models/_register", body, params={"deploy": "true"})
    model_id = task.get("model_id") or _wait_task(client, task["task_id"])["model_id"]
    _wait_deployed(client, model_id)
    return model_id


def deploy_model(client: Any, model_id: str) -> None:
    call(client, "POST", f"{ML}/models/{model_id}/_deploy")
    _wait_deployed(client, model_id)


def _wait_task(client: Any, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        task = call(client, "GET", f"{ML}/tasks/{task_id}")
        if task.get("state") == "FAILED":
            raise ConnectError(f"ml-commons task {task_id} failed: {task.get('error')}")
        if task.get("model_id"):
            return task
        time.sleep(0.5)
    raise ConnectError(f"ml-commons task {task_id} gave no model within {DEPLOY_TIMEOUT_S:.0f}s")


def _wait_deployed(client: Any, model_id: str) -> None:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    state = "unknown"
    while time.monotonic() < deadline:
        state = call(client, "GET", f"{ML}/models/{model_id}").get("model_state", "unknown")
        if state == "DEPLOYED":
            return
        if state == "DEPLOY_FAILED":
            break
        time.sleep(0.5)
    raise ConnectError(f"model {model_id} did not deploy (state {state}); see the cluster's log")



def take_down_model(client: Any, model: dict[str, Any] | None, say: Any) -> None:
    if model is None:
        return
    if model.get("model_state") in ("DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING"):
        call(client, "POST", f"{ML}/models/{model['id']}/_undeploy")
    delete(client, f"{ML}/models/{model['id']}")
    say(f"deleted model {model['id']}")
    group = model.get("model_group_id")
    if group:   # a group ml-commons made for the model (registered without one) goes with it
        try:
            delete(client, f"{ML}/model_groups/{group}")
        except TransportError:
            pass   # a group that other models still use stays


# ---- cluster checks and calls -----------------------------------------------------------------------------------
def require_ml_commons(client: Any) -> None:
    plugins = {row["component"] for row in client.cat.plugins(format="json")}
    missing = sorted({"opensearch-ml", "opensearch-neural-search"} - plugins)
    if missing:
        raise ConnectError(f"the cluster lacks the plugin(s) {', '.join(missing)} that the rerank processor needs")


def call(client: Any, method: str, path: str, body: Any = None, params: dict | None = None) -> dict[str, Any]:
    return client.transport.perform_request(method, path, body=body, params=params or {})


def delete(client: Any, path: str) -> None:
    call(client, "DELETE", path)


def one_line(exc: Exception) -> str:
    """A cluster's error as one line: status, type and reason where it gave them."""
    if isinstance(exc, TransportConnectionError):
        return f"cannot reach the cluster: {exc.error}"
    if isinstance(exc, TransportError):
        info = exc.info if isinstance(exc.info, dict) else {}
        error = info.get("error")
        if isinstance(error, dict):
            reason = error.get("reason") or json.dumps(error)
            if "trusted connector endpoint" in reason:
                reason += (" (add the sidecar's URL to the cluster setting "
                           "plugins.ml_commons.trusted_connector_endpoints_regex: docs/plugin-style.md)")
            return f"the cluster answered {exc.status_code} {error.get('type', '')}: {reason}".replace("\n", " ")
        return f"the cluster answered {exc.status_code}: {error or exc.error}".replace("\n", " ")
    return str(exc).replace("\n", " ")

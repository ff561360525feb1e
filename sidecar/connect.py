"""`rerank-sidecar connect`: make the sidecar the model behind an OpenSearch search pipeline's `rerank` processor.

For teams whose clients cannot move to the sidecar's URL but who can edit a search pipeline: ml-commons gets a
connector to the sidecar's `POST /v1/rerank` and a remote model on it (deployed), and neural-search a search
pipeline whose `rerank` processor calls that model (docs/plugin-style.md compares the two deployments). Every
part is found by name first, so running the command again changes nothing; `--remove` takes it all down.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sidecar.mlcommons import (
    CHECK_DOCUMENTS,
    ML,
    ConnectError,
    call,
    check_model,
    default_pipelines,
    delete,
    deploy_model,
    find_connector,
    find_model,
    find_pipeline,
    one_line,
    register_model,
    require_ml_commons,
    take_down_model,
)

DEFAULT_NAME = "rerank-sidecar"
# The built-in Cohere functions fit our /v1/rerank exactly: the pre-process turns the processor's query text and
# page of documents into `query`, `documents` and `top_n` (= the page size, so every document gets a score), and
# the post-process reads `results[].index/relevance_score` back into one score per document in document order,
# which is what the processor assigns to the hits before it re-sorts them.
REQUEST_BODY = '{ "query": "${parameters.query}", "documents": ${parameters.documents}, "top_n": ${parameters.top_n} }'
PRE_PROCESS = "connector.pre_process.cohere.rerank"
POST_PROCESS = "connector.post_process.cohere.rerank"


@dataclass(frozen=True)
class Plan:
    """What `connect` makes: the names of its parts and how the pipeline reranks."""

    sidecar_url: str
    name: str = DEFAULT_NAME
    text_fields: tuple[str, ...] = ("text",)
    index_pattern: str | None = None
    hybrid: bool = False
    ignore_failure: bool = True
    api_key: str = ""
    check: bool = True

    def __repr__(self) -> str:   # the API key never reaches a log
        return (f"Plan(sidecar_url={self.sidecar_url!r}, name={self.name!r}, text_fields={self.text_fields!r}, "
                f"index_pattern={self.index_pattern!r}, hybrid={self.hybrid}, ignore_failure={self.ignore_failure})")

    @property
    def endpoint(self) -> str:
        return f"{self.sidecar_url.rstrip('/')}/v1/rerank"


def connector_body(plan: Plan) -> dict[str, Any]:
    """The connector blueprint (deploy/opensearch/sidecar-rerank-connector.json is this, for the default URL)."""
    return {
        "name": plan.name,
        "description": "rerank-sidecar's cross-encoder (POST /v1/rerank, Cohere's shape) for the neural-search "
                       "rerank processor",
        "version": "1",
        "protocol": "http",
        "parameters": {},
        # ml-commons refuses a connector without a credential; it is the sidecar's API key (auth.api_keys) when it
        # has one, sent as Cohere clients send theirs; a sidecar without auth ignores the header
        "credential": {"api_key": plan.api_key or "none"},
        # no retries: a retry doubles a slow search; the processor's ignore_failure decides what a failure does
        "client_config": {"max_connection": 20, "connection_timeout": 5000, "read_timeout": 30000,
                          "max_retry_times": 0},
        "actions": [{
            "action_type": "predict",
            "method": "POST",
            "url": plan.endpoint,
            "headers": {"Content-Type": "application/json", "Authorization": "Bearer ${credential.api_key}"},
            "request_body": REQUEST_BODY,
            "pre_process_function": PRE_PROCESS,
            "post_process_function": POST_PROCESS,
        }],
    }


def pipeline_body(plan: Plan, model_id: str) -> dict[str, Any]:
    rerank = {"ml_opensearch": {"model_id": model_id},
              "context": {"document_fields": list(plan.text_fields)},
              "ignore_failure": plan.ignore_failure}
    body: dict[str, Any] = {"description": f"{plan.name}: rerank the returned page with the sidecar at "
                                           f"{plan.sidecar_url}",
                            "response_processors": [{"rerank": rerank}]}
    if plan.hybrid:
        # a `hybrid` query needs its scores normalized and combined before anything reads them
        body["phase_results_processors"] = [{"normalization-processor": {
            "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]
    return body


def same_connector(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("url", "method", "request_body", "pre_process_function", "post_process_function")
    have, want = (found.get("actions") or [{}])[0], wanted["actions"][0]
    # the cluster fills in the client_config keys we leave out: compare only ours
    config = found.get("client_config") or {}
    return (all(have.get(k) == want.get(k) for k in keys)
            and all(config.get(k) == v for k, v in wanted["client_config"].items()))


# ---- connect ----------------------------------------------------------------------------------------------------
def connect(client: Any, plan: Plan, say: Any = print) -> dict[str, str]:
    """Create what is missing or different; say one line per part. Returns the parts' ids."""
    require_ml_commons(client)
    indices = default_pipelines(client, plan.index_pattern, "open") if plan.index_pattern else {}
    if plan.index_pattern and not indices:   # checked first, so that a typo leaves nothing half made
        raise ConnectError(f"no open index matches [{plan.index_pattern}]")
    wanted = connector_body(plan)
    connector = find_connector(client, plan.name)
    model = find_model(client, plan.name)
    if connector and not same_connector(connector, wanted):
        say(f"connector {connector['id']} points elsewhere or is configured differently: replacing it")
        take_down_model(client, model, say)
        delete(client, f"{ML}/connectors/{connector['id']}")
        connector = model = None
    if connector is None:
        connector = {"id": call(client, "POST", f"{ML}/connectors/_create", wanted)["connector_id"]}
        say(f"created connector {connector['id']} -> {plan.endpoint}")
    else:
        say(f"connector {connector['id']} -> {plan.endpoint}: unchanged")

    if model is not None and model.get("connector_id") != connector["id"]:
        take_down_model(client, model, say)
        model = None
    if model is None:
        model_id = register_model(client, plan.name, connector["id"])
        say(f"created model {model_id} (remote, deployed)")
    else:
        model_id = model["id"]
        if model.get("model_state") != "DEPLOYED":
            deploy_model(client, model_id)
            say(f"model {model_id}: deployed")
        else:
            say(f"model {model_id}: unchanged")

    if plan.check:
        check_model(client, plan.endpoint, model_id, redeploy=model is not None, say=say)
        say(f"model {model_id}: checked, reranked {len(CHECK_DOCUMENTS)} documents through the cluster")

    body = pipeline_body(plan, model_id)
    if find_pipeline(client, plan.name) == body:
        say(f"search pipeline {plan.name}: unchanged")
    else:
        call(client, "PUT", f"/_search/pipeline/{plan.name}", body)
        say(f"search pipeline {plan.name}: written (rerank on {', '.join(plan.text_fields)}"
            f"{', after hybrid normalization' if plan.hybrid else ''})")

    set_default_pipeline(client, indices, plan.name, say)
    return {"connector_id": connector["id"], "model_id": model_id, "pipeline": plan.name}


def set_default_pipeline(client: Any, indices: dict[str, str | None], pipeline: str, say: Any) -> None:
    """Make `pipeline` the default search pipeline of `indices` (name -> current default): their clients need not
    name it."""
    for index, current in sorted(indices.items()):
        if current == pipeline:
            say(f"index {index}: default search pipeline {pipeline}: unchanged")
            continue
        client.indices.put_settings(index=index, body={"index.search.default_pipeline": pipeline})
        say(f"index {index}: default search pipeline set to {pipeline}" +
            (f" (was {current})" if current and current != "_none" else ""))


# ---- remove -----------------------------------------------------------------------------------------------------
def remove(client: Any, name: str = DEFAULT_NAME, say: Any = print) -> None:
    """Take down what `connect` made under `name`, in the order the cluster allows; say what went."""
    require_ml_commons(client)
    for index, current in sorted(default_pipelines(client, "_all", "all").items()):
        if current == name:
            client.indices.put_settings(index=index, body={"index.search.default_pipeline": None})
            say(f"index {index}: default search pipeline {name} unset")
    if find_pipeline(client, name) is not None:
        delete(client, f"/_search/pipeline/{name}")
        say(f"deleted search pipeline {name}")
    take_down_model(client, find_model(client, name), say)
    connector = find_connector(client, name)
    if connector is not None:
        delete(client, f"{ML}/connectors/{connector['id']}")
        say(f"deleted connector {connector['id']}")


# ---- command line -----------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--opensearch", required=True, metavar="URL", help="the cluster (with ml-commons and "
                        "neural-search), e.g. http://localhost:9200")
    parser.add_argument("--sidecar", metavar="URL", help="the sidecar as the cluster reaches it, e.g. "
                        "http://rerank-sidecar:8080 (required unless --remove)")
    parser.add_argument("--index", metavar="PATTERN", help="make the pipeline these indices' default search "
                        "pipeline, so that their clients need not name it (they still send "
                        "ext.rerank.query_context)")
    parser.add_argument("--text-field", default="text", metavar="F[,F...]",
                        help="the document fields the processor sends to the model, joined with no separator, "
                             "as the processor does (default: text)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="the name of the connector, model and search "
                        f"pipeline (default: {DEFAULT_NAME})")
    parser.add_argument("--hybrid", action="store_true", help="put a normalization-processor (min_max, "
                        "arithmetic_mean) before the rerank, for searches with a hybrid query")
    parser.add_argument("--fail-closed", action="store_true", help="a search fails when the sidecar does "
                        "(default: the processor's ignore_failure, so the cluster answers unreranked)")
    parser.add_argument("--api-key", default=os.environ.get("RERANK_SIDECAR_API_KEY", ""),
                        help="the sidecar's API key, when it has auth.api_keys (or RERANK_SIDECAR_API_KEY); "
                             "stored encrypted in the connector")
    parser.add_argument("--no-check", action="store_true", help="do not rerank two documents through the "
                        "cluster before writing the pipeline (e.g. when the sidecar is not up yet)")
    parser.add_argument("--remove", action="store_true", help="remove the pipeline, model and connector")


def plan_from_args(args: argparse.Namespace) -> Plan:
    if not args.sidecar:
        raise ConnectError("--sidecar URL is required (the sidecar's address as the cluster reaches it)")
    parts = urlsplit(args.sidecar)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"--sidecar must be an http(s) URL such as http://rerank-sidecar:8080, got [{args.sidecar}]")
    fields = tuple(f.strip() for f in args.text_field.split(",") if f.strip())
    if not fields:
        raise ConnectError("--text-field names no field")
    return Plan(sidecar_url=args.sidecar.rstrip("/"), name=args.name, text_fields=fields,
                index_pattern=args.index, hybrid=args.hybrid, ignore_failure=not args.fail_closed,
                api_key=args.api_key, check=not args.no_check)


def run(args: argparse.Namespace) -> int:
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import OpenSearchException, OpenSearchWarning

    # ml-commons' own search APIs read its system indices, and the cluster warns about that in every answer: the
    # warning is about ml-commons' internals, not about anything the operator can change
    warnings.filterwarnings("ignore", category=OpenSearchWarning)
    # every failure reaches the operator as the one line below; the client's own log of it would be a traceback
    logging.getLogger("opensearch").setLevel(logging.CRITICAL)
    try:
        client = OpenSearch(args.opensearch, timeout=60, max_retries=0)
        if args.remove:
            remove(client, args.name)
        else:
            connect(client, plan_from_args(args))
    except (ConnectError, OpenSearchException) as exc:   # one line for the operator, not a traceback
        print(f"rerank-sidecar connect: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0

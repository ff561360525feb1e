"""`rerank-sidecar connect` without a cluster: what it asks the cluster for, its checks of the command line, and
how it words the cluster's errors (tests/e2e/test_mlcommons.py runs it against the real node)."""

from __future__ import annotations

import argparse

import pytest
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

from sidecar.connect import (
    ConnectError,
    Plan,
    add_arguments,
    connector_body,
    one_line,
    pipeline_body,
    plan_from_args,
)


def args_of(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--opensearch", "http://cluster:9200", *argv])


def test_the_connector_calls_v1_rerank_with_the_builtin_cohere_functions():
    body = connector_body(Plan(sidecar_url="http://rerank-sidecar:8080", api_key="secret-key-0123456789"))
    action = body["actions"][0]
    assert action["url"] == "http://rerank-sidecar:8080/v1/rerank"
    assert action["pre_process_function"] == "connector.pre_process.cohere.rerank"
    assert action["post_process_function"] == "connector.post_process.cohere.rerank"
    assert action["headers"]["Authorization"] == "Bearer ${credential.api_key}"
    assert body["credential"] == {"api_key": "secret-key-0123456789"}
    assert body["client_config"]["max_retry_times"] == 0


def test_the_pipeline_reranks_the_fields_and_normalizes_first_only_for_hybrid():
    plain = pipeline_body(Plan(sidecar_url="http://s:1", text_fields=("title", "text")), "model-1")
    rerank = plain["response_processors"][0]["rerank"]
    assert rerank == {"ml_opensearch": {"model_id": "model-1"}, "context": {"document_fields": ["title", "text"]},
                      "ignore_failure": True}
    assert "phase_results_processors" not in plain
    hybrid = pipeline_body(Plan(sidecar_url="http://s:1", hybrid=True, ignore_failure=False), "model-1")
    assert list(hybrid["phase_results_processors"][0]) == ["normalization-processor"]
    assert hybrid["response_processors"][0]["rerank"]["ignore_failure"] is False


def test_the_command_line_becomes_a_plan():
    plan = plan_from_args(args_of("--sidecar", "http://rerank-sidecar:8080/", "--text-field", "title, text",
                                  "--index", "docs*", "--hybrid", "--fail-closed", "--no-check", "--name", "r1"))
    assert plan == Plan(sidecar_url="http://rerank-sidecar:8080", name="r1", text_fields=("title", "text"),
                        index_pattern="docs*", hybrid=True, ignore_failure=False, check=False)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "--sidecar URL is required"),
    (["--sidecar", "rerank-sidecar:8080"], r"must be an http\(s\) URL"),
    (["--sidecar", "http://"], r"must be an http\(s\) URL"),
    (["--sidecar", "http://s:1", "--text-field", ","], "--text-field names no field"),
])
def test_bad_command_lines_are_refused_with_the_flag_named(argv, message):
    with pytest.raises(ConnectError, match=message):
        plan_from_args(args_of(*argv))


def test_the_api_key_never_shows_in_a_plans_repr():
    plan = Plan(sidecar_url="http://s:1", api_key="secret-key-0123456789")
    assert "secret-key" not in repr(plan) and "http://s:1" in repr(plan)


def test_cluster_errors_become_one_line_with_status_type_and_reason():
    refused = TransportError(400, "illegal_argument_exception", {"error": {
        "type": "illegal_argument_exception",
        "reason": "Connector URL is not matching the trusted connector endpoint regex"}})
    line = one_line(refused)
    assert line.startswith("the cluster answered 400 illegal_argument_exception: Connector URL is not matching")
    assert "plugins.ml_commons.trusted_connector_endpoints_regex" in line   # says what to change
    multi = one_line(TransportError(500, "x", {"error": {"type": "t", "reason": "first\nsecond"}}))
    assert "\n" not in multi and "first second" in multi
    unreachable = one_line(TransportConnectionError("N/A", "Connection refused", OSError("refused")))
    assert unreachable.startswith("cannot reach the cluster")

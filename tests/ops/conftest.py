"""Helpers for the deployment-file tests: the deploy/ folder, YAML loading, the CLI and the app's routes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def parse_command(argv: list[str]) -> Any:
    """The arguments `rerank-sidecar argv...` would run with; argparse's exit on a bad flag fails the test."""
    from sidecar.cli import build_parser
    parser, module = build_parser(argv)
    assert module is not None, f"no subcommand in {argv}"
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`rerank-sidecar {' '.join(argv)}` is not a valid command line") from exc


def tool(name: str) -> str:
    """A Prometheus tool from the Debian package `prometheus` (make test installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: `make test` installs the Debian package prometheus when run as "
                    "root or with sudo; or run `apt-get install prometheus`")
    return path


@pytest.fixture(scope="session")
def offline_app():
    """The sidecar app in front of a closed port: its routes answer without a cluster."""
    from sidecar.app import create_app
    from sidecar.settings import Settings
    return create_app(Settings(opensearch_url="http://127.0.0.1:9"), warm_up=False)


PROMQL_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                             "unless", "offset", "bool", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, groupings and functions left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)              # strings
    text = re.sub(r"\{[^}]*\}", " ", text)                       # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                      # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names

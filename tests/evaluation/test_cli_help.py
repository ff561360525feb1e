"""`rerank-sidecar eval --help` tells the truth about its defaults."""

from __future__ import annotations

import re

import pytest

from sidecar.cli import main
from sidecar.rerank.registry import backend_names
from sidecar.settings import Settings


def test_eval_help_names_the_default_backend_and_only_real_ones(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    backend_help = re.search(r"--backend BACKEND rerank backend: (.*?)\)", text).group(1)
    assert f"default: the rerank_backend setting, {Settings().rerank_backend}:" in backend_help
    listed = re.match(r"(.*?) \(default", backend_help).group(1).split(", ")
    assert sorted(listed) == sorted(backend_names())

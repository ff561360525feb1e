"""Every script under bench/ answers `--help`: exit 0, a usage line, and nothing written anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "bench").glob("*.py"))


def files_under(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def test_there_are_bench_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_bench_script_answers_help_without_side_effects(script: Path, tmp_path: Path):
    cwd = tmp_path / "cwd"   # relative paths land here: `eval_data.py --help` once wrote into a folder `--help`
    cwd.mkdir()
    bench_before = files_under(REPO / "bench")
    result = subprocess.run([sys.executable, str(script), "--help"], cwd=cwd, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                                              "RERANK_DATA_ROOT": str(tmp_path / "no-data")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:"), result.stdout[:500]
    assert not list(cwd.iterdir()), f"--help wrote {[p.name for p in cwd.iterdir()]}"
    assert not (tmp_path / "no-data").exists()
    assert files_under(REPO / "bench") == bench_before, "--help changed files under bench/"

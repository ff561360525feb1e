"""Every measured figure in docs/ says what produced it: each section with measurements (tables or prose) names
the script, command or test that measured them (`bench/....py`, `rerank-sidecar COMMAND`, `make TARGET`,
`tests/....py` or CI's `.ci/run`)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

DOCS = sorted((REPO / "docs").glob("*.md"))
# a measurement: a number with a unit of time, rate, size or speed-up, or a score with 3+ decimals
MEASURED = re.compile(r"\d\s*(ms|µs|s\b|docs/s|req/s|pairs/s|GFLOP/s|MiB|GiB|GB|MB|%|×)|\b0\.\d{3,}")
SOURCE = re.compile(r"bench/\w+\.py|rerank-sidecar (eval|ingest|serve|localsearch|train-reranker|demo)\b|"
                    r"\bmake [a-z-]+|tests/[\w/]+\.py|\.ci/run")


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) for each `## ` section (its `### ` subsections included)."""
    parts = re.split(r"^(## .*)$", text, flags=re.MULTILINE)
    return [("(top)", parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))


# in prose too: a latency, a rate, a memory size or a speed-up (not "24 GiB" machines or "10 MB" limits)
MEASURED_IN_PROSE = re.compile(r"\d(\.\d+)?\s*(ms|µs|docs/s|req/s|pairs/s|GFLOP/s|MiB)\b|\d(\.\d+)?×")


def measured_rows(body: str) -> list[str]:
    rows = [line for line in body.splitlines() if line.startswith("|") and not re.match(r"\|[\s|:-]+\|$", line)]
    return [row for row in rows if MEASURED.search(row)]


def figures(body: str) -> list[str]:
    """The section's measured table rows and the figures in its prose."""
    prose = "\n".join(line for line in body.splitlines() if not line.startswith("|"))
    return measured_rows(body) + [match.group(0) for match in MEASURED_IN_PROSE.finditer(prose)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_table_of_figures_names_what_produced_it(doc):
    unsourced = [heading for heading, body in sections(doc.read_text())
                 if figures(body) and not SOURCE.search(body)]
    assert not unsourced, f"{doc.name}: sections with measured figures and no script or command: {unsourced}"


def test_the_check_finds_an_unsourced_table():
    for text in ("## Speed\n| system | p50 |\n| --- | --- |\n| ours | 12 ms |\n",
                 "## Speed\nThreads gave 1.4× the throughput.\n"):
        assert [h for h, b in sections(text) if figures(b) and not SOURCE.search(b)] == ["## Speed"]
        sourced = text + "Measured with `bench/rerank.py`.\n"
        assert not [h for h, b in sections(sourced) if figures(b) and not SOURCE.search(b)]
    assert not figures("## Machine\n2 cores, 24 GiB; bodies up to 10 MB.\n")

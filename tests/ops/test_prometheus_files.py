"""Prometheus config and alert rules pass promtool (check and unit tests); every alert has a runbook."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO
from tests.ops.conftest import DEPLOY, load_yaml, tool

PROMETHEUS = DEPLOY / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def test_promtool_check_config():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "1 rule files found" in result.stdout


def test_promtool_check_rules():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_promtool_rule_unit_tests_fire_and_stay_quiet():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))
    alerts = {r["alert"] for g in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for r in g["rules"]}
    assert tested == alerts   # every alert is unit-tested


def test_promtool_fails_a_broken_rule(tmp_path):
    """The check above could fail: a rule with a syntax error is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m])\n")
    result = subprocess.run([tool("promtool"), "check", "rules", str(broken)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0


def test_every_alert_has_a_runbook_section():
    docs = (REPO / "docs" / "operations.md").read_text()
    anchors = {_anchor(title) for title in re.findall(r"^#+ (.+)$", docs, flags=re.M)}
    for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"]:
        for rule in group["rules"]:
            runbook = rule["annotations"]["runbook"]
            path, anchor = runbook.split("#")
            assert path == "docs/operations.md" and anchor in anchors, f"{rule['alert']}: {runbook}"
            assert {"severity"} <= set(rule["labels"]) and rule["for"]


def _anchor(title: str) -> str:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")

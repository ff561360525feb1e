"""The Grafana dashboard: valid JSON with the panels the issue asks for, queries on our own metrics only.

That those metric names are really exported, and that every query runs, is checked against a live
sidecar and a real Prometheus in tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import json

from tests.ops.conftest import DEPLOY, metric_names

DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "rerank-sidecar.json").read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def all_queries() -> list[str]:
    return [t["expr"] for p in PANELS for t in p["targets"]]


def test_panels_cover_what_operators_need():
    titles = " | ".join(p["title"].lower() for p in PANELS)
    for topic in ("request rate", "error rate", "stage latency p50", "stage latency p99", "fail-open rate",
                  "cache hit rate", "batch size", "batch tokens", "upstream latency", "in-flight"):
        assert topic in titles, topic


def test_every_panel_queries_the_templated_prometheus_datasource():
    assert {v["name"]: v["type"] for v in DASHBOARD["templating"]["list"]} == {"datasource": "datasource"}
    for panel in PANELS:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_queries_use_only_sidecar_metrics():
    for expr in all_queries():
        names = metric_names(expr)
        assert names and all(n.startswith("rerank_sidecar_") for n in names), (expr, names)


def test_metric_names_reads_promql():
    assert metric_names('histogram_quantile(0.99, sum by (le, stage) (rate(a_b_bucket{x=~"5.."}[5m]))) '
                        '/ on (job) group_left c or vector(0)') == {"a_b_bucket", "c"}


def test_panel_ids_are_unique_and_panels_do_not_overlap():
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in DASHBOARD["panels"]:
        box = panel["gridPos"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        assert box["x"] + box["w"] <= 24

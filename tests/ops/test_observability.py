"""Metric labels stay bounded, request ids and JSON log lines, and the multiprocess directory's life cycle."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sidecar.instrument import IndexLabels, InstrumentedScorer, endpoint_label
from sidecar.logs import configure_logging, log_request, request_id


@pytest.mark.parametrize(("path", "label"), [
    ("/", "root"), ("/docs", "index"), ("/docs/_search?typed_keys=true", "_search"), ("/_msearch", "_msearch"),
    ("/a,b/_search", "_search"), ("/_search/pipeline/rerank-sidecar-min_max", "_search_pipeline"),
    ("/_search/scroll", "_search_scroll"), ("/docs/_doc/some-document-id", "_doc"), ("/_cat/indices?v", "_cat"),
    ("/docs/_mapping", "_mapping"), ("/_made_up_api/x", "other"), ("/docs/_doc/1/_update", "_doc"),
])
def test_endpoint_labels(path, label):
    assert endpoint_label(path) == label


def test_endpoint_labels_never_carry_ids_or_index_names():
    labels = {endpoint_label(f"/index-{i}/_doc/{i}?q=secret-{i}") for i in range(50)}
    labels |= {endpoint_label(f"/index-{i}") for i in range(50)}
    assert labels == {"_doc", "index"}


def test_index_labels_are_bounded():
    labels = IndexLabels(limit=3)
    named = [labels.for_contract_index(f"docs-{i}", "_contract") for i in range(10)]
    assert named == ["docs-0", "docs-1", "docs-2"] + ["_contract"] * 7
    assert labels.for_contract_index("docs-1", "_contract") == "docs-1"     # known names stay named
    for pattern in ("docs-*", "a,b", "_all", "-docs", ""):
        assert labels.for_contract_index(pattern, "_contract") == "_contract"


def test_instrumented_scorer_observes_each_model_call():
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry()

    def histogram(name):
        return Histogram(name, name, ["model"], registry=registry)

    class Metrics:
        model_seconds, batch_pairs, batch_tokens = histogram("s"), histogram("p"), histogram("t")

    class Scorer:
        name, max_length = "tiny", 512

        def score_batch(self, pairs):
            return [0.5] * len(pairs)

    scorer = InstrumentedScorer(Scorer(), Metrics)
    assert scorer.max_length == 512 and scorer.name == "tiny"
    assert scorer.score_batch(["abc", "abcdef"]) == [0.5, 0.5]   # str stands in for a pair: len() = tokens
    scorer.score_batch(["ab"])
    value = registry.get_sample_value
    assert value("p_count", {"model": "tiny"}) == 2 and value("p_sum", {"model": "tiny"}) == 3
    assert value("t_sum", {"model": "tiny"}) == 2 * 6 + 1 * 2    # padded to the longest pair of each call
    assert value("s_count", {"model": "tiny"}) == 2


def test_request_id_prefers_the_callers_opaque_id():
    assert request_id({"X-Opaque-Id": "trace-1", "X-Request-Id": "other"}) == "trace-1"
    assert request_id({"X-Request-Id": "req-7"}) == "req-7"
    generated = {request_id({}) for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    assert request_id({"X-Opaque-Id": "x" * 500}) != "x" * 500        # too long for a log field
    assert request_id({"X-Opaque-Id": "bad\nline"}) != "bad\nline"     # no log injection


@pytest.fixture
def captured_root():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield root
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_json_log_line_per_request(captured_root):
    configure_logging("INFO", json_lines=True)
    stream = io.StringIO()
    captured_root.handlers[0].setStream(stream)
    log_request(logging.getLogger("sidecar.routes"), {
        "request_id": "abc", "method": "POST", "path": "/docs/_search", "status": 200, "route": "search",
        "index": "docs", "rerank": "reranked", "took_ms": 12.5, "stages_ms": {"embed": 1.0, "rerank": 9.25}})
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "abc" and line["status"] == 200 and line["level"] == "INFO"
    assert line["stages_ms"] == {"embed": 1.0, "rerank": 9.25} and isinstance(line["pid"], int)
    assert line["logger"] == "sidecar.routes" and "rerank=9.2ms" in line["message"]


def test_text_log_line_per_request(captured_root):
    configure_logging("INFO", json_lines=False)
    stream = io.StringIO()
    captured_root.handlers[0].setStream(stream)
    log_request(logging.getLogger("sidecar.routes"), {
        "request_id": "abc", "method": "GET", "path": "/_cat/indices", "status": 200, "route": "passthrough",
        "index": "_none", "rerank": "-", "took_ms": 3.0, "stages_ms": {}})
    text = stream.getvalue()
    assert "request_id=abc GET /_cat/indices status=200 route=passthrough" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_multiprocess_dir_is_emptied_at_start_and_removed_when_ours(tmp_path):
    from sidecar.serve import clear_metrics_dir, prepare_metrics_dir
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    directory, owned = prepare_metrics_dir(str(given))
    assert directory == given and not owned
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]
    fresh, owned = prepare_metrics_dir(None)
    assert owned and fresh.is_dir() and not list(fresh.iterdir())
    clear_metrics_dir(fresh, remove=True)
    assert not fresh.exists()


def test_search_outcomes_count_fail_open_by_reason():
    from prometheus_client import CollectorRegistry, Counter

    from sidecar.metrics import count_search_outcome
    registry = CollectorRegistry()

    class Metrics:
        fail_open = Counter("f", "f", ["reason"], registry=registry)
        rerank_status = Counter("s", "s", ["status"], registry=registry)

    for status in ("reranked", "partial", "skipped-timeout", "skipped-nan", "skipped-timeout", "passthrough"):
        count_search_outcome(Metrics, status)
    value = registry.get_sample_value
    assert value("f_total", {"reason": "timeout"}) == 2 and value("f_total", {"reason": "nan"}) == 1
    assert value("f_total", {"reason": "partial"}) is None         # partial is reranked, not failed open
    assert value("s_total", {"status": "skipped"}) == 3 and value("s_total", {"status": "partial"}) == 1


def documented_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """docs/operations.md's metrics table: name -> (type, labels)."""
    from tests.conftest import REPO

    rows = {}
    for line in (REPO / "docs" / "operations.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`rerank_sidecar_"):
            labels = tuple(sorted(label.strip() for label in cells[2].split(",") if label.strip()))
            rows[cells[0].strip("`")] = (cells[1], labels)
    return rows


def test_the_metrics_table_documents_every_metric_the_sidecar_registers():
    from dataclasses import fields

    from sidecar.metrics import get_metrics

    metrics = get_metrics()
    registered = {}
    for field in fields(metrics):
        metric = getattr(metrics, field.name)
        kind = metric._type
        name = metric._name + ("_total" if kind == "counter" else "")
        registered[name] = (kind, tuple(sorted(metric._labelnames)))
    documented = documented_metrics()
    assert sorted(registered) == sorted(documented), "docs/operations.md's metrics table and sidecar/metrics.py differ"
    assert registered == documented  # types and labels too


def test_the_metrics_table_names_every_fixed_label_value():
    from sidecar.metrics import CACHES, FAIL_OPEN_REASONS, RERANK_STATUSES
    from tests.conftest import REPO

    rows = {line.split("|")[1].strip().strip("`"): line for line in
            (REPO / "docs" / "operations.md").read_text().splitlines() if line.startswith("| `rerank_sidecar_")}
    for metric, values in (("rerank_sidecar_fail_open_total", FAIL_OPEN_REASONS),
                           ("rerank_sidecar_rerank_status_total", RERANK_STATUSES),
                           ("rerank_sidecar_cache_requests_total", CACHES)):
        missing = [value for value in values if f"`{value}`" not in rows[metric]]
        assert not missing, f"docs/operations.md's row for {metric} leaves out {missing}"

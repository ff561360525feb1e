"""A real Prometheus scraping a gunicorn sidecar with two workers: exact counts, dashboard queries, alert rules.

Prometheus (Debian package `prometheus`, installed by `make test`) runs on a loopback port with a 1 s scrape
interval. A known mix of requests goes to the sidecar, spread over both workers (their JSON log lines carry
the pid); once Prometheus has scraped after the last answer, its HTTP API must report exactly those counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from searchcore.local_server import free_port, ok, wait_until_ready
from tests.conftest import SidecarServer
from tests.e2e.conftest import QUERY
from tests.ops.conftest import DEPLOY, metric_names, tool

INDEX = "e2e-docs"
WINDOW = 10
JOB = "rerank-sidecar"
WORDS = ["quickly", "slowly", "safely", "again", "today", "in python", "with care", "for me", "now", "here",
         "there", "please", "twice", "later", "first", "last", "alone", "together", "daily", "soon"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Prometheus:
    """`prometheus` in a subprocess, scraping `target` every second and evaluating deploy's alert rules.

    Its first scrape comes about 5 s after the start (target discovery is throttled to 5 s).
    """

    def __init__(self, workdir: Path, target: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alerts.yml").write_text((DEPLOY / "prometheus" / "alerts.yml").read_text())
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                  "rule_files": ["alerts.yml"],
                  "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics",
                                      "static_configs": [{"targets": [target]}]}]}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(workdir / "prometheus.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        wait_until_ready(f"{self.url}/-/ready", self.process, timeout=timeout, ready=ok, name="prometheus")

    def query(self, expr: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def wait_for_scrape_after(self, moment: float, timeout: float = 30.0) -> None:
        """Until a scrape that started after `moment` (a time.time()) is stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # timestamp() of a plain selector is the sample's (of an expression, the evaluation time)
            scraped = self.query(f'timestamp(up{{job="{JOB}"}})')
            if scraped and float(scraped[0]["value"][1]) > moment:
                assert self.value(f'up{{job="{JOB}"}}') == 1, "the scrape failed"
                return
            time.sleep(0.2)
        raise TimeoutError(f"no successful scrape after {moment}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


@dataclass
class Traffic:
    reranked: int = 0        # _search answered reranked
    failed_open: int = 0     # _search answered in first-stage order (budget too small)
    bad: int = 0             # _search with a body that is not JSON (the cluster's 400)
    msearch: int = 0         # _msearch requests, each with two reranked items
    passthrough: int = 0     # GET /_cluster/health, forwarded
    pids: frozenset[int] = frozenset()

    @property
    def computed(self) -> int:
        """Searches that ran the stages (embed, retrieve, rerank): each _msearch item counts."""
        return self.reranked + self.failed_open + 2 * self.msearch


@pytest.fixture(scope="module")
def sidecar2(localsearch_server, localsearch_corpus, tiny_cross_encoder, tmp_path_factory):
    server = SidecarServer(localsearch_server.url, tmp_path_factory.mktemp("prom-sidecar"),
                           reranker=str(tiny_cross_encoder), workers=2, env={"RERANK_LOG_JSON": "true"},
                           config={"defaults": {"window": WINDOW, "budget_ms": 60000}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prometheus(sidecar2, tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{sidecar2.port}")
    yield server
    server.stop()


def request_pids(sidecar: SidecarServer) -> set[int]:
    pids = set()
    for line in sidecar.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "route" in record:
                pids.add(record["pid"])
    return pids


def _fresh(method: str, url: str, **kwargs) -> requests.Response:
    with requests.Session() as session:   # a new connection each time: gunicorn spreads them over workers
        return session.request(method, url, headers={"Connection": "close", **kwargs.pop("headers", {})},
                               timeout=120, **kwargs)


@pytest.fixture(scope="module")
def traffic(sidecar2, prometheus) -> Traffic:
    url = sidecar2.url
    # distinct queries, so no cache decides a count (a list iterator, unlike a generator, is thread-safe)
    texts = iter([f"{QUERY} {word}" for word in WORDS])

    def reranked(_: int) -> None:
        response = _fresh("POST", f"{url}/{INDEX}/_search", json={"query": {"match": {"text": next(texts)}}})
        assert response.headers["X-Rerank-Status"] == "reranked", response.text

    def failed_open(_: int) -> None:
        body = {"query": {"match": {"text": next(texts)}}, "ext": {"rerank": {"budget_ms": 0.001}}}
        response = _fresh("POST", f"{url}/{INDEX}/_search", json=body)
        assert response.headers["X-Rerank-Status"] == "skipped-timeout", response.text

    def bad(_: int) -> None:
        response = _fresh("POST", f"{url}/{INDEX}/_search", data=b"{not json",
                          headers={"Content-Type": "application/json"})
        assert response.status_code == 400

    def msearch(_: int) -> None:
        lines = [json.dumps(line) for _ in range(2) for line in ({"index": INDEX},
                                                                  {"query": {"match": {"text": next(texts)}}})]
        response = _fresh("POST", f"{url}/_msearch", data="\n".join(lines) + "\n",
                          headers={"Content-Type": "application/x-ndjson"})
        assert [r["status"] for r in response.json()["responses"]] == [200, 200]

    def passthrough(_: int) -> None:
        assert _fresh("GET", f"{url}/_cluster/health").status_code == 200

    counts = Traffic()
    plan = [(reranked, "reranked", 8), (failed_open, "failed_open", 3), (bad, "bad", 2), (msearch, "msearch", 2),
            (passthrough, "passthrough", 6)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for send, field, n in plan:
            list(pool.map(send, range(n)))
            setattr(counts, field, getattr(counts, field) + n)
        # both workers must have answered, or the sum over workers is not tested: more until they have
        for _ in range(20):
            if len(request_pids(sidecar2)) >= 2:
                break
            list(pool.map(passthrough, range(4)))
            counts.passthrough += 4
    counts.pids = frozenset(request_pids(sidecar2))
    assert len(counts.pids) >= 2, "every request went to one worker"
    prometheus.wait_for_scrape_after(time.time())
    return counts


def test_prometheus_counts_every_request_of_both_workers_exactly(prometheus, traffic, tiny_cross_encoder):
    value = prometheus.value
    searches = traffic.reranked + traffic.failed_open
    assert value(f'sum(rerank_sidecar_requests_total{{route="search",index="{INDEX}",status="200"}})') == searches
    assert value('sum(rerank_sidecar_requests_total{route="search",index="_none",status="400"})') == traffic.bad
    assert value('sum(rerank_sidecar_requests_total{route="msearch",status="200"})') == traffic.msearch
    assert value('sum(rerank_sidecar_requests_total{route="passthrough",index="_none",status="200"})') == \
        traffic.passthrough
    assert value("sum(rerank_sidecar_requests_total)") == searches + traffic.bad + traffic.msearch + \
        traffic.passthrough

    # histograms: one `total` per _search/_msearch request, the stages per computed search
    total_requests = searches + traffic.bad + traffic.msearch
    assert value('rerank_sidecar_stage_duration_seconds_count{stage="total"}') == total_requests
    assert value('rerank_sidecar_stage_duration_seconds_bucket{stage="total",le="+Inf"}') == total_requests
    for stage in ("embed", "retrieve", "rerank"):
        assert value(f'rerank_sidecar_stage_duration_seconds_count{{stage="{stage}"}}') == traffic.computed
    assert value("rerank_sidecar_candidates_count") == traffic.computed
    assert value("rerank_sidecar_candidates_sum") == WINDOW * traffic.computed
    assert value('rerank_sidecar_upstream_duration_seconds_count{endpoint="_cluster"}') == traffic.passthrough
    assert value('rerank_sidecar_upstream_requests_total{endpoint="_cluster",outcome="2xx"}') == traffic.passthrough

    # outcomes, fail-open, caches, model calls
    assert value('rerank_sidecar_rerank_status_total{status="reranked"}') == traffic.reranked + 2 * traffic.msearch
    assert value('rerank_sidecar_rerank_status_total{status="skipped"}') == traffic.failed_open
    # a body the sidecar cannot read as the cluster does goes to the cluster, whose own 400 comes back
    assert value('rerank_sidecar_rerank_status_total{status="passthrough"}') == traffic.bad
    assert value('rerank_sidecar_rerank_status_total{status="error"}') == 0
    assert value('rerank_sidecar_fail_open_total{reason="timeout"}') == traffic.failed_open
    assert value("sum(rerank_sidecar_fail_open_total)") == traffic.failed_open
    assert value('rerank_sidecar_cache_requests_total{cache="window",result="miss"}') == traffic.computed
    assert value('rerank_sidecar_cache_requests_total{cache="embedding",result="miss"}') == traffic.computed
    scored = WINDOW * (traffic.reranked + 2 * traffic.msearch)   # short documents: one pair each
    assert value('rerank_sidecar_cache_requests_total{cache="score",result="miss"}') == scored
    assert value("sum(rerank_sidecar_batch_pairs_sum)") == scored
    calls = value("sum(rerank_sidecar_batch_pairs_count)")
    assert traffic.reranked + 2 * traffic.msearch <= calls <= scored
    assert value("sum(rerank_sidecar_model_call_duration_seconds_count)") == calls
    assert value("sum(rerank_sidecar_in_flight_requests)") == 0
    assert value("rerank_sidecar_upstream_up") == 1
    assert value(f'rerank_sidecar_model_info{{role="reranker",model="{tiny_cross_encoder}"}}') == 1
    assert value('rerank_sidecar_build_info{version="0.1.0"}') == 1


def test_a_later_scrape_counts_nothing_twice(prometheus, traffic):
    before = prometheus.value("sum(rerank_sidecar_requests_total)")
    prometheus.wait_for_scrape_after(time.time())
    assert prometheus.value("sum(rerank_sidecar_requests_total)") == before


def test_dashboard_queries_name_exported_metrics_and_return_data(sidecar2, prometheus, traffic):
    exported = {sample.name for family in text_string_to_metric_families(
        requests.get(f"{sidecar2.url}/metrics", timeout=30).text) for sample in family.samples}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "rerank-sidecar.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets") or []]
    assert len(queries) >= 20
    for _ in range(2):   # rate() needs two samples of each series: two scrapes after the last request
        prometheus.wait_for_scrape_after(time.time())
    for expr in queries:
        missing = metric_names(expr) - exported
        assert not missing, f"{expr}: the sidecar exports no {sorted(missing)}"
        result = prometheus.query(expr.replace("$__rate_interval", "1m"))
        assert result, f"no data for {expr}"


def test_alert_rules_load_and_evaluate_against_real_series(prometheus, traffic):
    deadline = time.monotonic() + 20
    while True:   # rules evaluate every second; wait for a round that has seen the traffic
        groups = requests.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expected = {r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
                for r in g["rules"]}
    assert {r["name"] for r in rules} == expected
    for rule in rules:
        assert rule["health"] == "ok", rule
    firing = {r["name"] for r in rules if r["state"] == "firing"}
    assert not firing & {"RerankSidecarUpstreamDown", "RerankSidecarDown", "RerankSidecarHighErrorRate"}


def test_request_ids_follow_a_request_into_the_log_and_upstream(sidecar2, traffic):
    response = _fresh("POST", f"{sidecar2.url}/{INDEX}/_search", json={"query": {"match": {"text": QUERY}}},
                      headers={"X-Opaque-Id": "follow-me-42"})
    assert response.headers["X-Request-Id"] == "follow-me-42"
    assert response.headers["X-Opaque-Id"] == "follow-me-42"
    generated = _fresh("GET", f"{sidecar2.url}/_cluster/health").headers["X-Request-Id"]
    assert len(generated) == 32
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in sidecar2.log().splitlines() if line.startswith("{")]
        mine = [line for line in lines if line.get("request_id") == "follow-me-42"]
        if mine and any(line.get("request_id") == generated for line in lines):
            break
        time.sleep(0.1)
    (line,) = mine
    assert line["route"] == "search" and line["index"] == INDEX and line["rerank"] == "reranked"
    assert set(line["stages_ms"]) == {"embed", "retrieve", "rerank", "total"}
    assert line["took_ms"] >= line["stages_ms"]["rerank"] > 0
    assert QUERY not in json.dumps(line)   # the query text is not logged


def test_sidecar_process_tree_is_gunicorn_with_two_workers(sidecar2, traffic):
    """The pids that logged requests are two distinct children of one gunicorn master."""
    parents = {int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in traffic.pids}
    assert len(traffic.pids) >= 2 and len(parents) == 1


def test_exposition_passes_promtools_naming_lint(sidecar2, traffic):
    """`promtool check metrics` lints names, units, _total suffixes and help texts of the live /metrics."""
    text = requests.get(f"{sidecar2.url}/metrics", timeout=30).text
    assert "rerank_sidecar_batch_pairs_bucket" in text   # after traffic: every family has samples
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), \
        result.stdout + result.stderr

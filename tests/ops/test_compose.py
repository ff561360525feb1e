"""deploy/docker-compose.yml parses and every image, port, path and command in it exists in the project."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO
from tests.ops.conftest import DEPLOY, load_yaml, parse_command

STACK = ("opensearch", "sidecar", "ingest", "dashboards", "prometheus", "grafana")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_the_whole_stack_is_there(services):
    assert set(STACK) <= set(services)


def test_images_are_pinned_and_the_sidecar_image_is_built_from_our_dockerfile(services):
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), f"{name}: {image}"
    build = services["sidecar"]["build"]
    assert (DEPLOY / build["context"]).resolve() == REPO
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    assert build["args"]["VARIANT"] in ("cpu", "cuda")
    assert services["ingest"]["image"] == services["sidecar"]["image"]


def test_opensearch_has_the_plugins_the_sidecar_needs(services):
    """The default distribution ships k-NN and neural-search (hybrid queries need 2.19 for pagination_depth)."""
    image = services["opensearch"]["image"]
    name, version = image.split(":")
    assert name == "opensearchproject/opensearch"
    assert tuple(int(p) for p in version.split(".")[:2]) >= (2, 19)


def test_bind_mounts_exist_and_configs_are_valid(services):
    from sidecar.settings import Settings
    mounts = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}: missing"
                mounts[(name, target)] = DEPLOY / source
    sidecar_args = parse_command(services["sidecar"]["command"])
    config = mounts[("sidecar", sidecar_args.config)]
    Settings.from_dict(load_yaml(config))   # raises ConfigError naming the key when invalid
    prometheus = services["prometheus"]["command"]
    config_file = next(a.split("=", 1)[1] for a in prometheus if a.startswith("--config.file="))
    assert ("prometheus", config_file) in mounts
    rules = load_yaml(mounts[("prometheus", config_file)])["rule_files"]
    for rule_file in rules:
        assert ("prometheus", f"/etc/prometheus/{rule_file}") in mounts


def test_sidecar_port_health_and_upstream(services):
    sidecar = services["sidecar"]
    args = parse_command(sidecar["command"])
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert f"{args.port}:{args.port}" in sidecar["ports"]
    assert "/-/ready" in " ".join(sidecar["healthcheck"]["test"])
    upstream = urlsplit(sidecar["environment"]["OPENSEARCH_URL"])
    assert upstream.hostname == "opensearch" and upstream.port == 9200
    assert sidecar["depends_on"]["opensearch"]["condition"] == "service_healthy"


def test_dashboards_point_at_the_sidecar(services):
    hosts = json.loads(services["dashboards"]["environment"]["OPENSEARCH_HOSTS"])
    port = parse_command(services["sidecar"]["command"]).port
    assert hosts == [f"http://sidecar:{port}"]


def test_ingest_job_command_and_sample_corpus(services):
    job = services["ingest"]
    args = parse_command(job["command"])
    assert args.command == "ingest" and urlsplit(args.opensearch).hostname == "opensearch"
    mount = next(v for v in job["volumes"] if v.split(":")[1] == "/sample")
    local = DEPLOY / mount.split(":")[0] / args.source.removeprefix("/sample/")
    rows = [json.loads(line) for line in local.read_text().splitlines()]
    assert len(rows) >= 10
    assert all(args.id_field in row and all(row.get(f) for f in args.text_field) for row in rows)
    assert job["restart"] == "no"


def test_prometheus_scrapes_the_sidecar(services):
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    port = parse_command(services["sidecar"]["command"]).port
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "rerank-sidecar")
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"sidecar:{port}"]


def test_grafana_provisions_the_datasource_and_the_dashboard(services):
    mounts = dict(v.split(":")[:2][::-1] for v in services["grafana"]["volumes"])
    provisioning = DEPLOY / mounts["/etc/grafana/provisioning"]
    datasource = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["type"] == "prometheus" and urlsplit(datasource["url"]).hostname == "prometheus"
    provider = load_yaml(provisioning / "dashboards" / "rerank-sidecar.yml")["providers"][0]
    dashboards = DEPLOY / mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "rerank-sidecar.json").read_text())
    assert dashboard["uid"] == "rerank-sidecar"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/rerank-sidecar.json"


def test_depends_on_names_real_services(services):
    for name, service in services.items():
        for other in service.get("depends_on", {}):
            assert other in services, f"{name} depends on unknown service {other}"


def test_the_sidecar_shares_its_caches_through_the_cache_service(services):
    from sidecar.settings import Settings
    environment = services["sidecar"]["environment"]
    url = urlsplit(environment["RERANK_CACHE_URL"])
    assert url.hostname in services and services[url.hostname]["image"].startswith("valkey/valkey:")
    assert services["sidecar"]["depends_on"][url.hostname]["condition"] == "service_healthy"
    command = services[url.hostname]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    Settings.load(env={"RERANK_CACHE_BACKEND": environment["RERANK_CACHE_BACKEND"],
                       "RERANK_CACHE_URL": environment["RERANK_CACHE_URL"]})

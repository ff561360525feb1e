"""deploy/kubernetes parses, and its objects reference each other, the image and the app's routes correctly."""

from __future__ import annotations

import pytest

from tests.ops.conftest import DEPLOY, load_yaml, load_yaml_documents, parse_command

K8S = DEPLOY / "kubernetes"


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    found = {}
    for resource in kustomization["resources"]:
        for doc in load_yaml_documents(K8S / resource):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{resource}: not a Kubernetes object"
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


@pytest.fixture(scope="module")
def deployment(objects) -> dict:
    return objects[("Deployment", "rerank-sidecar")]


@pytest.fixture(scope="module")
def container(deployment) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_kustomization_lists_every_manifest():
    listed = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_every_kind_the_issue_asks_for(objects):
    kinds = {kind for kind, _ in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ServiceMonitor", "PrometheusRule"} <= kinds


def test_selectors_match_the_pod_labels(objects, deployment):
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"],
                 objects[("Service", "rerank-sidecar")]["spec"]["selector"],
                 objects[("PodDisruptionBudget", "rerank-sidecar")]["spec"]["selector"]["matchLabels"]]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    service_labels = objects[("Service", "rerank-sidecar")]["metadata"]["labels"]
    monitor = objects[("ServiceMonitor", "rerank-sidecar")]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service_labels.items()


def test_ports_are_named_consistently(objects, container):
    args = parse_command(container["args"])
    (port,) = container["ports"]
    assert port["containerPort"] == args.port and args.host == "0.0.0.0"
    service_port = objects[("Service", "rerank-sidecar")]["spec"]["ports"][0]
    assert service_port["targetPort"] == port["name"]
    monitor = objects[("ServiceMonitor", "rerank-sidecar")]["spec"]["endpoints"][0]
    assert monitor["port"] == service_port["name"] and monitor["path"] == "/metrics"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == port["name"]


def test_probes_hit_routes_that_answer(container, offline_app):
    """Readiness on /-/ready (503 while the cluster is away), liveness on /-/healthy (always 200)."""
    client = offline_app.test_client()
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert client.get("/-/healthy").status_code == 200
    ready = client.get("/-/ready")
    assert ready.status_code == 503 and "upstream" in ready.get_json()["problems"]
    assert client.get(container["startupProbe"]["httpGet"]["path"]).status_code == 200


def test_config_map_and_secret_are_wired_and_valid(objects, container, deployment):
    from sidecar.settings import ENV_KEYS, Settings
    config_map = objects[("ConfigMap", "rerank-sidecar-config")]
    args = parse_command(container["args"])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == args.config)
    assert volumes[mount["name"]]["configMap"]["name"] == "rerank-sidecar-config"
    import yaml
    Settings.from_dict(yaml.safe_load(config_map["data"][mount["subPath"]]))
    for env in container["env"]:
        ref = env.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            assert ref["key"] in objects[("ConfigMap", ref["name"])]["data"]
    for source in container["envFrom"]:
        secret = objects[("Secret", source["secretRef"]["name"])]
        assert set(secret["stringData"]) <= set(ENV_KEYS), "a Secret key the sidecar does not read"
    known = set(ENV_KEYS) | {"RERANK_MODELS_DIR", "PROMETHEUS_MULTIPROC_DIR", "RERANK_CONFIG"}
    assert {env["name"] for env in container["env"]} <= known


def test_volumes_exist_and_the_root_filesystem_can_be_read_only(objects, deployment, container):
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} == set(volumes)
    claim = volumes["models"]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in objects
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]]   # metrics files and caches go here
    multiproc = next(e["value"] for e in container["env"] if e["name"] == "PROMETHEUS_MULTIPROC_DIR")
    assert multiproc.startswith("/tmp/")


def test_non_root_like_the_image(deployment):
    from dockerfile_parse import DockerfileParser
    image_user = next(i["value"] for i in reversed(DockerfileParser(path=str(DEPLOY / "Dockerfile")).structure)
                      if i["instruction"] == "USER").split(":")[0]
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and str(security["runAsUser"]) == image_user


def test_rollouts_keep_capacity(objects, deployment, container):
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    hpa = objects[("HorizontalPodAutoscaler", "rerank-sidecar")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rerank-sidecar"}
    assert hpa["minReplicas"] >= 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = objects[("PodDisruptionBudget", "rerank-sidecar")]["spec"]
    assert pdb["minAvailable"] < hpa["minReplicas"]   # a node drain can always proceed
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    from sidecar import gunicorn_conf
    assert grace > gunicorn_conf.graceful_timeout + 5


def test_image_is_the_one_compose_builds(container):
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    assert container["image"] == compose["services"]["sidecar"]["image"]


def test_prometheus_rule_is_alerts_yml(objects):
    rule = objects[("PrometheusRule", "rerank-sidecar")]
    assert rule["spec"]["groups"] == load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]


# ---- the models loader: an init container that fills the models PVC ---------------------------------------

LOADER = K8S / "models" / "load-models.yaml"


@pytest.fixture(scope="module")
def loader() -> dict:
    (job,) = load_yaml_documents(LOADER)
    assert job["kind"] == "Job"
    return job["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_loader_fills_the_pvc_the_sidecar_mounts_where_it_looks(objects, deployment, container, loader):
    (claim,) = [name for kind, name in objects if kind == "PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in loader["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim
    assert "ReadWriteMany" in objects[("PersistentVolumeClaim", claim)]["spec"]["accessModes"]
    models_dir = next(e["value"] for e in container["env"] if e["name"] == "RERANK_MODELS_DIR")
    (fetch,), (check,) = loader["initContainers"], loader["containers"]
    for step, writes in ((fetch, True), (check, False)):
        mount = next(m for m in step["volumeMounts"] if m["name"] == "models")
        assert mount["mountPath"] == models_dir and bool(mount.get("readOnly")) is not writes
        assert env_of(step)["RERANK_MODELS_DIR"] == models_dir
        assert step["image"] == container["image"]
    assert env_of(fetch)["MODELS"] == env_of(check)["MODELS"]
    assert env_of(check)["HF_HUB_OFFLINE"] == "1"          # checked the way the sidecar loads: offline
    assert loader["securityContext"]["runAsUser"] == deployment["spec"]["template"]["spec"]["securityContext"][
        "runAsUser"]


def test_the_loader_scripts_fetch_then_load_a_model(loader, tiny_cross_encoder, tmp_path, monkeypatch):
    """The two scripts run here as written, with the hub replaced by a copy of a local model folder."""
    import shutil
    import sys
    import types

    import huggingface_hub

    from sidecar.rerank.loading import clear_loaded

    (fetch,), (check,) = loader["initContainers"], loader["containers"]
    fetched = []

    def snapshot_download(name, local_dir, allow_patterns):
        fetched.append(name)
        shutil.copytree(tiny_cross_encoder, local_dir)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    monkeypatch.setenv("RERANK_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("MODELS", "org/tiny-ce")
    exec(compile(fetch["args"][0], "fetch", "exec"), {})
    exec(compile(fetch["args"][0], "fetch", "exec"), {})   # again: the folder is there, nothing fetched
    assert fetched == ["org/tiny-ce"] and (tmp_path / "tiny-ce" / "config.json").is_file()
    assert not list(tmp_path.glob("*.partial"))
    monkeypatch.setitem(sys.modules, "huggingface_hub", huggingface_hub)  # the hub stays off (tests/conftest.py)
    clear_loaded()
    try:
        exec(compile(check["args"][0], "check", "exec"), {})
    finally:
        clear_loaded()


def test_the_shared_cache_is_wired_to_the_sidecar(objects, container):
    """cache.yaml's Valkey is where the Secret's RERANK_CACHE_URL points, with the password of its own Secret, and
    the Deployment turns the redis backend on; the settings accept the pair."""
    from urllib.parse import urlsplit

    from sidecar.settings import Settings
    url = urlsplit(objects[("Secret", "rerank-sidecar-credentials")]["stringData"]["RERANK_CACHE_URL"])
    service = objects[("Service", "rerank-sidecar-cache")]
    assert url.scheme == "redis" and url.hostname == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]
    cache = objects[("StatefulSet", "rerank-sidecar-cache")]
    assert service["spec"]["selector"].items() <= cache["spec"]["template"]["metadata"]["labels"].items()
    (valkey,) = cache["spec"]["template"]["spec"]["containers"]
    ref = valkey["env"][0]["valueFrom"]["secretKeyRef"]
    assert objects[("Secret", ref["name"])]["stringData"][ref["key"]] == url.password
    args = valkey["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru" and "--maxmemory" in args
    backend = next(e["value"] for e in container["env"] if e["name"] == "RERANK_CACHE_BACKEND")
    Settings.load(env={"RERANK_CACHE_BACKEND": backend, "RERANK_CACHE_URL": url.geturl()})

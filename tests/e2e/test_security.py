"""Sidecar-side authentication, TLS termination, and what the logs never hold (real gunicorn sidecars)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import time
from pathlib import Path

import pytest
import requests
from opensearchpy import AuthenticationException, OpenSearch

from sidecar.settings import AuthSettings, ConfigError, Settings
from tests.conftest import SidecarServer
from tests.e2e.conftest import QUERY, TOPICS
from tests.standins import stand_in

INDEX = "e2e-docs"
KEY = "k3y-for-the-sidecar-0123456789"
OTHER_KEY = "k3y-for-the-sidecar-0123456780"   # same length, one character off
ALICE = ("alice", "wonderland-pass")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- authentication, in process before a stand-in cluster ------------------------------------------

@pytest.fixture
def guarded():
    from sidecar.app import create_app
    with stand_in() as cluster:
        settings = Settings.from_dict({"opensearch_url": cluster.url,
                                       "auth": {"api_keys": [KEY], "users": {ALICE[0]: ALICE[1]}}})
        yield create_app(settings, warm_up=False).test_client(), cluster


def test_requests_without_valid_credentials_get_the_clusters_kind_of_401(guarded):
    client, cluster = guarded
    for headers in ({}, {"X-Api-Key": OTHER_KEY}, {"X-Api-Key": KEY[:-1]}, {"X-Api-Key": ""},
                    {"Authorization": basic("alice", "wrong")}, {"Authorization": basic("mallory", ALICE[1])},
                    {"Authorization": "Basic !!not-base64"}, {"Authorization": "Bearer " + KEY}):
        response = client.get("/_cat/indices", headers=headers)
        assert response.status_code == 401, headers
        body = response.get_json()
        assert body["status"] == 401 and body["error"]["type"] == "security_exception"
        assert response.headers["WWW-Authenticate"] == 'Basic realm="rerank-sidecar"'
    assert not cluster.seen, "a refused request reached the cluster"


def test_valid_credentials_pass_and_never_reach_the_cluster(guarded):
    client, cluster = guarded
    assert client.get("/_cat/indices", headers={"X-Api-Key": KEY}).status_code == 200
    assert client.get("/_cat/indices", headers={"Authorization": basic(*ALICE)}).status_code == 200
    sent = [call["headers"] for call in cluster.seen if call["path"] == "/_cat/indices"]
    assert len(sent) == 2
    for headers in sent:
        assert "X-Api-Key" not in headers and "Authorization" not in headers


def test_probes_are_exempt_and_metrics_are_not(guarded):
    client, _ = guarded
    assert client.get("/-/healthy").status_code == 200
    assert client.get("/-/ready").status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-Api-Key": KEY}).status_code == 200


def test_api_keys_leave_the_callers_cluster_credentials_alone():
    from sidecar.app import create_app
    with stand_in() as cluster:
        client = create_app(Settings.from_dict({"opensearch_url": cluster.url, "auth": {"api_keys": [KEY]}}),
                            warm_up=False).test_client()
        caller = basic("analyst", "cluster-secret")
        assert client.get("/_cat/indices", headers={"X-Api-Key": KEY, "Authorization": caller}).status_code == 200
        assert cluster.seen[-1]["headers"]["Authorization"] == caller   # the cluster's own credential, unchanged
        assert "X-Api-Key" not in cluster.seen[-1]["headers"]


def test_secrets_are_compared_in_constant_time(monkeypatch):
    import sidecar.auth as auth
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    keys = [KEY, "another-long-api-key-000000", "a-third-long-api-key-11111"]
    authenticator = auth.Authenticator(AuthSettings(api_keys=tuple(keys)))
    for given in (keys[0], keys[2], "wrong", "x" * 500):
        calls.clear()
        expected = given in keys
        assert (authenticator.check({"X-Api-Key": given}) is not None) == expected
        assert len(calls) == len(keys)                        # every key compared, match or not
        assert {len(a) for a, _ in calls} == {32}             # digests: the length says nothing of the key


def test_auth_settings_are_validated_and_masked():
    with pytest.raises(ConfigError, match=r"auth.api_keys\[0\] is 5 characters"):
        Settings.from_dict({"auth": {"api_keys": ["short"]}})
    with pytest.raises(ConfigError, match="auth.users.bob must be a non-empty string"):
        Settings.from_dict({"auth": {"users": {"bob": 123}}})
    with pytest.raises(ConfigError, match="unknown setting \\[auth.bogus\\]"):
        Settings.from_dict({"auth": {"bogus": 1}})
    settings = Settings.load(env={"RERANK_AUTH_API_KEYS": f"{KEY},{OTHER_KEY}"})
    assert settings.auth.api_keys == (KEY, OTHER_KEY) and settings.auth.enabled
    shown = repr(Settings.from_dict({"auth": {"api_keys": [KEY], "users": {"alice": ALICE[1]}}}))
    assert KEY not in shown and ALICE[1] not in shown and "alice" in shown


# ---- TLS termination with authentication, and the logs, over real HTTPS ---------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def tls_sidecar(localsearch_server, localsearch_corpus, tiny_cross_encoder, certificate, tmp_path_factory):
    cert, key = certificate
    server = SidecarServer(localsearch_server.url, tmp_path_factory.mktemp("tls-sidecar"),
                           reranker=str(tiny_cross_encoder), wait_ready=False,
                           config={"log_json": True, "auth": {"api_keys": [KEY]},
                                   "defaults": {"window": 5, "budget_ms": 60000}},
                           extra=["--certfile", str(cert), "--keyfile", str(key)])
    server.url = server.url.replace("http://", "https://")
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"{server.url}/-/ready", verify=str(cert), timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert server.process.poll() is None, server.log()[-3000:]
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    yield server
    server.stop()


def test_tls_and_an_api_key_with_the_opensearch_client(tls_sidecar, certificate):
    cert, _ = certificate
    client = OpenSearch(tls_sidecar.url, use_ssl=True, verify_certs=True, ca_certs=str(cert), timeout=60,
                        headers={"X-Api-Key": KEY})
    answer = client.search(index=INDEX, body={"query": {"match": {"text": QUERY}}, "size": 3})
    assert len(answer["hits"]["hits"]) == 3 and 0 < answer["hits"]["max_score"] < 1   # reranked: sigmoid scores
    with pytest.raises(AuthenticationException):
        OpenSearch(tls_sidecar.url, use_ssl=True, verify_certs=True, ca_certs=str(cert)).search(
            index=INDEX, body={"query": {"match_all": {}}})
    with pytest.raises(requests.exceptions.SSLError):   # the certificate is checked by clients
        requests.get(f"{tls_sidecar.url}/-/healthy", timeout=10)
    with pytest.raises(requests.RequestException):       # no plain HTTP on the TLS port
        requests.get(tls_sidecar.url.replace("https://", "http://") + "/-/healthy", timeout=10)


SECRET_PASSWORD = "p4ssw0rd-that-must-not-be-logged"
SECRET_QUERY = "quokka marmalade nebula"
SECRET_DOC = "platypus lullaby in the document body"


def exercise(url: str, **kwargs) -> None:
    """Requests carrying credentials, query text and document text, good and bad, in every route."""
    auth = {"Authorization": basic("analyst", SECRET_PASSWORD)}
    headers = {**auth, **kwargs.pop("headers", {})}
    post = lambda path, **kw: requests.post(url + path, headers={**headers, **kw.pop("headers", {})}, timeout=60,  # noqa: E731
                                            **kwargs, **kw)
    post(f"/{INDEX}/_search", json={"query": {"match": {"text": SECRET_QUERY}}, "size": 3})
    post(f"/{INDEX}/_search", json={"query": {"match": {"text": SECRET_QUERY}}, "ext": {"rerank": {"bogus": 1}}})
    post(f"/{INDEX}/_search", data=b'{"query": {"match": {"text": "' + SECRET_QUERY.encode() + b'"',
         headers={"Content-Type": "application/json"})
    lines = [{"index": INDEX}, {"query": {"match": {"text": SECRET_QUERY}}}, {"index": "missing"}, {"size": 1}]
    post("/_msearch", data="".join(json.dumps(x) + "\n" for x in lines), headers={"Content-Type": "application/x-ndjson"})
    bulk = [{"index": {"_index": "e2e-logged", "_id": "1"}}, {"text": SECRET_DOC}]
    post("/_bulk?refresh=true", data="".join(json.dumps(x) + "\n" for x in bulk),
         headers={"Content-Type": "application/x-ndjson"})
    post("/e2e-logged/_search", json={"query": {"match": {"text": SECRET_DOC}}})
    post("/rerank", json={"query": SECRET_QUERY, "texts": [SECRET_DOC]})
    requests.get(url + f"/{INDEX}/_search?q={SECRET_QUERY.replace(' ', '+')}", headers=headers, timeout=60,
                 **kwargs)


def assert_clean(log: str) -> None:
    assert "request_id=" in log or '"request_id"' in log, "no request lines were logged: the test saw nothing"
    texts = [SECRET_PASSWORD, base64.b64encode(f"analyst:{SECRET_PASSWORD}".encode()).decode(), KEY,
             SECRET_QUERY, SECRET_QUERY.replace(" ", "+"), SECRET_DOC]
    texts += [text for _, text, _, _ in TOPICS]   # the corpus documents the searches returned
    for text in texts:
        assert text not in log, f"the log holds [{text}]"


def test_text_logs_hold_no_credentials_or_document_text(sidecar):
    exercise(sidecar.url)
    time.sleep(0.5)
    assert_clean(sidecar.log())


def test_json_logs_hold_no_credentials_or_document_text(tls_sidecar, certificate):
    cert, _ = certificate
    exercise(tls_sidecar.url, headers={"X-Api-Key": KEY}, verify=str(cert))
    requests.get(f"{tls_sidecar.url}/_cat/indices", headers={"X-Api-Key": OTHER_KEY}, verify=str(cert), timeout=30)
    time.sleep(0.5)
    log = tls_sidecar.log()
    assert '"level": "INFO"' in log
    assert_clean(log)


def test_a_certificate_without_its_key_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO
    result = subprocess.run([sys.executable, "-m", "sidecar.cli", "serve", "--opensearch", "http://127.0.0.1:9",
                             "--certfile", str(tmp_path / "cert.pem")], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "--certfile and --keyfile go together" in result.stderr and "Traceback" not in result.stderr

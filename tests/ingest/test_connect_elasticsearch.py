"""The elasticsearch client ingest builds for an Elasticsearch upstream, without a server: auth, TLS, timeouts,
the refusal of an older major version, flavour from `GET /`, and a cluster gone mid-write."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.connect import (
    ConnectError,
    ConnectionOptions,
    check_reachable,
    make_elasticsearch_client,
)
from ingest.documents import Document
from ingest.write import BulkWriter, ClusterUnavailable, RetryPolicy
from searchcore.cluster import ClusterFlavour
from searchcore.local_server import free_port


def node_config(client):
    (node,) = client.transport.node_pool.all()
    return node.config


def test_basic_auth_tls_and_timeout_carry_over(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a connection is made")
    client = make_elasticsearch_client(ConnectionOptions(
        url="https://search.example.com:9200", user="ingest", password="s3cret", ca_certs=str(ca), timeout=12.5))
    config = node_config(client)
    assert (config.scheme, config.host, config.port) == ("https", "search.example.com", 9200)
    assert config.ca_certs == str(ca) and config.verify_certs is True
    assert client._headers["authorization"].startswith("Basic ")
    assert client._request_timeout == 12.5


def test_api_key_and_insecure(tmp_path):
    client = make_elasticsearch_client(ConnectionOptions(url="https://h:9200", api_key="a2V5", insecure=True))
    assert client._headers["authorization"] == "ApiKey a2V5"
    assert node_config(client).verify_certs is False


def test_an_elasticsearch_older_than_the_client_is_refused_in_one_line():
    with pytest.raises(ConnectError) as caught:
        make_elasticsearch_client(ConnectionOptions(url="http://h:9200"), ClusterFlavour("elasticsearch", "8.17.0"))
    message = str(caught.value)
    assert message.startswith("http://h:9200 runs Elasticsearch 8.17.0, but the installed elasticsearch client ")
    assert message.endswith("install elasticsearch~=8.0 to ingest into it")


def test_an_elasticsearch_gone_mid_write_is_cluster_unavailable():
    client = make_elasticsearch_client(ConnectionOptions(url=f"http://127.0.0.1:{free_port()}", timeout=2))
    writer = BulkWriter(client, "docs", retry=RetryPolicy(max_attempts=2, initial_backoff=0.01))
    docs = [Document(id="a", source={"text": "alpha"}, text="alpha", position=0)]
    with pytest.raises(ClusterUnavailable, match="cannot reach the cluster: "):
        writer.write(docs, np.ones((1, 3), np.float32))


class RootAnswer:
    """A client whose `GET /` gives a fixed answer (what opensearch-py returns for an ignored status too)."""

    def __init__(self, answer):
        self.answer = answer

    def info(self, **params):
        return self.answer


def test_a_root_answer_names_the_flavour():
    options = ConnectionOptions(url="http://h:9200")
    es_root = {"version": {"number": "9.1.0", "build_flavor": "default"}, "tagline": "You Know, for Search"}
    assert check_reachable(RootAnswer(es_root), options) == ClusterFlavour("elasticsearch", "9.1.0")
    os_root = {"version": {"distribution": "opensearch", "number": "3.6.0"}}
    assert check_reachable(RootAnswer(os_root), options) == ClusterFlavour("opensearch", "3.6.0")


def test_a_405_from_something_that_is_not_elasticsearch_stays_an_error():
    options = ConnectionOptions(url=f"http://127.0.0.1:{free_port()}", timeout=2)  # the _nodes probe finds nobody
    answer = {"error": "Incorrect HTTP method for uri [/] and method [GET]", "status": 405}
    with pytest.raises(ConnectError) as caught:
        check_reachable(RootAnswer(answer), options)
    assert str(caught.value) == (f"OpenSearch at {options.describe()} answered 405: Incorrect HTTP method for uri "
                                 "[/] and method [GET]")

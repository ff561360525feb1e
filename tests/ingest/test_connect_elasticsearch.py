"""The elasticsearch client ingest builds for an Elasticsearch upstream, without a server: auth, TLS, timeouts,
the media types of the server's major (8.x with the 9.x client) and the refusal of an older one, flavour from
`GET /`, and a cluster gone mid-write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from werkzeug.wrappers import Request, Response

from ingest.connect import (
    ConnectError,
    ConnectionOptions,
    check_reachable,
    make_elasticsearch_client,
)
from ingest.documents import Document
from ingest.es_compat import with_compatible_version
from ingest.write import BulkWriter, ClusterUnavailable, RetryPolicy
from searchcore.cluster import ClusterFlavour
from searchcore.local_server import free_port
from tests.standins import stand_in


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


def test_an_elasticsearch_two_majors_older_than_the_client_is_refused_in_one_line():
    with pytest.raises(ConnectError) as caught:
        make_elasticsearch_client(ConnectionOptions(url="http://h:9200"), ClusterFlavour("elasticsearch", "7.17.0"))
    message = str(caught.value)
    assert message.startswith("http://h:9200 runs Elasticsearch 7.17.0, but the installed elasticsearch client ")
    assert "speaks to Elasticsearch 8.x or later" in message
    assert message.endswith("install elasticsearch~=7.0 to ingest into it")


def answered_as_elasticsearch(request: Request) -> Response:
    return Response(json.dumps({"count": 0}), headers={"X-Elastic-Product": "Elasticsearch"},
                    content_type="application/vnd.elasticsearch+json;compatible-with=8")


@pytest.mark.parametrize("version,sent", [("8.19.9", 8), ("9.5.3", 9), (None, 8)],
                         ids=["an-8.x-server", "a-9.x-server", "asking-the-version"])
def test_the_client_marks_its_media_types_with_the_servers_major(version, sent):
    """An 8.x server refuses the 9.x client's `compatible-with=9`: to one, every request (JSON and bulk's NDJSON)
    says 8, as the 8.x client would; asking an unknown server its version says 8, which 8.x and 9.x both read."""
    flavour = ClusterFlavour("elasticsearch", version) if version else None
    with stand_in(answered_as_elasticsearch) as cluster:
        client = make_elasticsearch_client(ConnectionOptions(url=cluster.url), flavour)
        assert client.count(index="docs", query={"match_all": {}})["count"] == 0
        client.options(ignore_status=400).bulk(operations=[{"index": {"_index": "docs"}}, {"a": 1}])
    (search, bulk) = [seen["headers"] for seen in cluster.seen]
    assert search["Accept"] == search["Content-Type"] == f"application/vnd.elasticsearch+json; compatible-with={sent}"
    assert bulk["Content-Type"] == f"application/vnd.elasticsearch+x-ndjson; compatible-with={sent}"
    assert bulk["Accept"] == f"application/vnd.elasticsearch+json; compatible-with={sent}"


def test_only_the_version_of_a_media_type_changes():
    assert with_compatible_version("application/vnd.elasticsearch+json; compatible-with=9", 8) == \
        "application/vnd.elasticsearch+json; compatible-with=8"
    assert with_compatible_version("application/json", 8) == "application/json"
    assert with_compatible_version("text/plain", 8) == "text/plain"


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

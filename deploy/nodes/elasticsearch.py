"""A single-node Elasticsearch from Maven Central, security off: the reference for the Elasticsearch upstream.

    python deploy/nodes/elasticsearch.py run -- COMMAND   # start, run COMMAND with ELASTICSEARCH_URL set, stop
    python deploy/nodes/elasticsearch.py start | stop | install

Why 9.5.3: Elasticsearch publishes its integ-test-zip distribution to Maven Central (checked with
`mvn dependency:get` on 2026-12-05: 7.17.0, 8.0.0, 8.15.0, 8.17.0, 8.19.0, 8.19.9, 9.0.0, 9.1.0, 9.2.0, 9.5.0 and
9.5.3 resolve; 9.3.0, 9.4.0, 9.5.5 and 9.5.6 do not). 9.5.3 is the newest that resolves. The zip is the server
(`dense_vector` with HNSW, kNN search, the `knn` query) with x-pack core and security only: no analysis-common,
async-search, rank-rrf or reindex modules, and no module of them is on Maven Central, so what needs them is
verified against what the node answers (docs/sidecar.md says which). 9.x needs Java 21 or later: the Temurin JDK
under /usr/lib/jvm is found by itself.
"""

from __future__ import annotations

import sys

from javanode import Artifact, Engine, main

VERSION = "9.5.3"

ELASTICSEARCH = Engine(
    name="elasticsearch",
    version=VERSION,
    distribution=Artifact(f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{VERSION}:zip"),
    plugins=(),
    min_java=21,
    java_home_variable="ES_JAVA_HOME",
    java_opts_variable="ES_JAVA_OPTS",
    config_variable="ES_PATH_CONF",
    executable="bin/elasticsearch",
    plugin_tool="bin/elasticsearch-plugin",
    settings={
        "bootstrap.memory_lock": False,
        "xpack.security.enabled": False,      # a loopback test node: plain HTTP, no users
        "action.destructive_requires_name": False,
    },
    url_variable="ELASTICSEARCH_URL",
    default_port=9260,
)

if __name__ == "__main__":
    sys.exit(main(ELASTICSEARCH))

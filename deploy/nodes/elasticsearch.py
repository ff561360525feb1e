"""A single-node Elasticsearch from Maven Central, security off: the reference for the Elasticsearch upstream.

    python deploy/nodes/elasticsearch.py run -- COMMAND   # start, run COMMAND with ELASTICSEARCH_URL set, stop
    python deploy/nodes/elasticsearch.py start | stop | install
    python deploy/nodes/elasticsearch.py --version 8.19.9 run -- COMMAND   # the 8.x node: ELASTICSEARCH8_URL, 9270

The version is `--version`, else $RERANK_ELASTICSEARCH_VERSION, else 9.5.3. Each major has its own port, URL
variable and state file, so a 9.x and an 8.x node run side by side (`make test` starts both):

| major | default | port | URL variable | Java | state file |
| --- | --- | --- | --- | --- | --- |
| 9 | 9.5.3 | 9260 | ELASTICSEARCH_URL | 21+ | .nodes/elasticsearch.json |
| 8 | 8.19.9 | 9270 | ELASTICSEARCH8_URL | 17+ | .nodes/elasticsearch8.json |

Why these versions: Elasticsearch publishes its integ-test-zip distribution to Maven Central (checked with
`mvn dependency:get` on 2026-12-05: 7.17.0, 8.0.0, 8.15.0, 8.17.0, 8.19.0, 8.19.9, 9.0.0, 9.1.0, 9.2.0, 9.5.0 and
9.5.3 resolve; 9.3.0, 9.4.0, 9.5.5, 9.5.6 and 8.19.12 do not). 9.5.3 is the newest 9.x and 8.19.9 the newest 8.x
that resolve. The zip is the server (`dense_vector` with HNSW, kNN search, the `knn` query) with x-pack core and
security only: no rest-root (`GET /` answers 405), analysis-common, async-search, rank-rrf or reindex modules, on
either version, and no module of them is on Maven Central, so what needs them is verified against what the node
answers (docs/sidecar.md says which). 9.x needs Java 21 or later; 8.19.9 needs 17 or later, and was started
here on both Java 17 (Debian's OpenJDK) and Temurin 25 (2026-12-06; on 25 it runs with entitlements, as on 24, since
the security manager is gone): the script takes the first JDK new enough, Temurin 25 on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys

from javanode import Artifact, Engine, main

DEFAULT_VERSION = "9.5.3"
VERSION_VARIABLE = "RERANK_ELASTICSEARCH_VERSION"


def engine_for(version: str) -> Engine:
    """The node for one Elasticsearch version; what differs between majors is its port, URL variable and Java."""
    major = int(version.split(".")[0])
    if major not in (8, 9):
        raise SystemExit(f"Elasticsearch {version}: only 8.x and 9.x are set up here")
    eight = major == 8
    return Engine(
        name="elasticsearch",
        version=version,
        distribution=Artifact(f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"),
        plugins=(),
        min_java=17 if eight else 21,
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
        url_variable="ELASTICSEARCH8_URL" if eight else "ELASTICSEARCH_URL",
        default_port=9270 if eight else 9260,
        instance="elasticsearch8" if eight else "",
    )


if __name__ == "__main__":
    chooser = argparse.ArgumentParser(add_help=False)
    chooser.add_argument("--version", default=os.environ.get(VERSION_VARIABLE) or DEFAULT_VERSION)
    chosen, rest = chooser.parse_known_args()
    sys.exit(main(engine_for(chosen.version), rest))

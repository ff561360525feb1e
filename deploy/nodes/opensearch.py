"""A single-node OpenSearch with the k-NN, neural-search, ml-commons and job-scheduler plugins, from Maven Central:
the product's reference (ml-commons is what the in-cluster `rerank` processor calls the sidecar through).

    python deploy/nodes/opensearch.py run -- COMMAND   # start, run COMMAND with OPENSEARCH_URL set, stop
    python deploy/nodes/opensearch.py start | stop | install

Why 3.6.0: it is the newest version for which the integ-test-zip distribution, opensearch-knn and neural-search
(and ml-commons with job-scheduler, for the in-cluster rerank processor) all exist on Maven Central at one exact
version (checked with `mvn dependency:get` on 2026-12-05: knn 3.7-3.9 and neural-search 3.0-3.5 and 2.19.2+ are
not published there). 3.x needs Java 21 or later: the Temurin JDK under /usr/lib/jvm is found by itself.
The Maven k-NN zip carries no native libraries, so only `engine: lucene` works on this node: a `faiss` index
makes the node exit on its first write (docs/localsearch.md says which engines were verified).
"""

from __future__ import annotations

import sys

from javanode import Artifact, Engine, main

VERSION = "3.6.0"
PLUGIN_VERSION = f"{VERSION}.0"

OPENSEARCH = Engine(
    name="opensearch",
    version=VERSION,
    distribution=Artifact(f"org.opensearch.distribution.integ-test-zip:opensearch:{VERSION}:zip"),
    # installed in this order: ml-commons extends job-scheduler, and neural-search's rerank processor calls
    # ml-commons, so each comes after what it needs
    plugins=(Artifact(f"org.opensearch.plugin:opensearch-job-scheduler:{PLUGIN_VERSION}:zip"),
             Artifact(f"org.opensearch.plugin:opensearch-ml-plugin:{PLUGIN_VERSION}:zip"),
             Artifact(f"org.opensearch.plugin:opensearch-knn:{PLUGIN_VERSION}:zip"),
             Artifact(f"org.opensearch.plugin:neural-search:{PLUGIN_VERSION}:zip")),
    min_java=21,
    java_home_variable="OPENSEARCH_JAVA_HOME",
    java_opts_variable="OPENSEARCH_JAVA_OPTS",
    config_variable="OPENSEARCH_PATH_CONF",
    executable="bin/opensearch",
    plugin_tool="bin/opensearch-plugin",
    settings={
        "bootstrap.memory_lock": False,
        # ml-commons, for the in-cluster rerank processor (docs/plugin-style.md): let connectors reach the sidecar
        # on loopback (without the regex the connector is refused; without private_ip_enabled every call is).
        # only_run_on_ml_node is not needed: 3.6.0 deploys and calls remote models on this node without the ml role
        "plugins.ml_commons.trusted_connector_endpoints_regex": ["^https?://(127\\.0\\.0\\.1|localhost)(:[0-9]+)?/.*$"],
        "plugins.ml_commons.connector.private_ip_enabled": True,
    },
)

if __name__ == "__main__":
    sys.exit(main(OPENSEARCH))

# Two commands work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_MODELS := $(abspath ../shared/models)
RERANK_MODELS_DIR ?= $(if $(wildcard $(SHARED_MODELS)),$(SHARED_MODELS),)
export RERANK_MODELS_DIR
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
PYTEST_ARGS ?=
ARGS ?=

.PHONY: install test test-es8 lint demo bench clean prometheus-tools scaleout-tools audit fuzz load opensearch opensearch-stop elasticsearch elasticsearch-stop elasticsearch8 elasticsearch8-stop

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# the real 8.x official client, beside the 9.x one the project uses: tests/e2e/test_elasticsearch8_client.py runs
# it in its own interpreter (this folder first on PYTHONPATH), as an 8.x user's code would
ES8_CLIENT := $(VENV)/elasticsearch8-client
ES8_CLIENT_PIN := elasticsearch==8.19.3
$(ES8_CLIENT)/.installed: $(STAMP)
	$(BIN)/pip install --quiet --upgrade --no-warn-conflicts --target $(ES8_CLIENT) '$(ES8_CLIENT_PIN)'
	touch $@

# the whole suite with a real OpenSearch node and real Elasticsearch 9.x and 8.x nodes (deploy/nodes/: Maven
# Central, loopback, non-root), started first and stopped after; OPENSEARCH_URL, ELASTICSEARCH_URL or
# ELASTICSEARCH8_URL already set means your own cluster, and that node is not started
NODE := $(PYTHON) deploy/nodes/opensearch.py
ES_NODE := $(PYTHON) deploy/nodes/elasticsearch.py
ES8_NODE := $(PYTHON) deploy/nodes/elasticsearch.py --version 8.19.9
test: $(STAMP) $(ES8_CLIENT)/.installed prometheus-tools scaleout-tools
	$(NODE) run -- $(ES_NODE) run -- $(ES8_NODE) run -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# the reference node on its own, in the background (prints OPENSEARCH_URL=...); `make opensearch-stop` stops it
opensearch:
	$(NODE) start

opensearch-stop:
	$(NODE) stop

# the Elasticsearch node on its own, in the background (prints ELASTICSEARCH_URL=...)
elasticsearch:
	$(ES_NODE) start

elasticsearch-stop:
	$(ES_NODE) stop

# the Elasticsearch 8.x node on its own (prints ELASTICSEARCH8_URL=...; port 9270, beside the 9.x node)
elasticsearch8:
	$(ES8_NODE) start

elasticsearch8-stop:
	$(ES8_NODE) stop

# prometheus and promtool (Debian package) for tests/ops and tests/e2e/test_prometheus.py; installed
# when missing and we are root or have password-less sudo, else those tests skip and say why
prometheus-tools:
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "prometheus/promtool missing and not root: the Prometheus tests will skip"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "prometheus/promtool missing and no apt-get"; exit 0; }; \
	  echo "installing the Debian package prometheus (for promtool and the Prometheus tests)"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && \
	       $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; \
	fi

# redis-server and nginx for the shared-cache tests (tests/e2e/test_scaleout.py: two sidecars behind a round-robin
# nginx sharing one Redis; tests/sidecar/test_shared_store.py); each runs on loopback in a temporary folder
scaleout-tools:
	@if ! command -v redis-server >/dev/null 2>&1 || ! { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "redis-server/nginx missing and not root: the shared-cache tests will skip"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "redis-server/nginx missing and no apt-get"; exit 0; }; \
	  echo "installing the Debian packages redis-server and nginx (for the shared-cache tests)"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server nginx >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && \
	       $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server nginx >/dev/null; }; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check searchcore sidecar ingest localsearch relevance tests bench

demo: $(STAMP)
	$(BIN)/rerank-sidecar demo $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/localsearch.py

# known vulnerabilities in the pinned dependencies: pip-audit, in its own venv so its dependencies never mix with
# the product's, over exactly what .venv has installed; --strict: a package it could not look up fails the
# audit (it needs PyPI's JSON API, or OSV with ARGS="--vulnerability-service osv"), never a silent pass
AUDIT_VENV := .venv-audit
audit: $(STAMP)
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet pip-audit==2.10.1; }
	$(BIN)/pip freeze --exclude-editable > $(AUDIT_VENV)/requirements.txt
	$(AUDIT_VENV)/bin/pip-audit --requirement $(AUDIT_VENV)/requirements.txt --no-deps --disable-pip --strict --progress-spinner off $(ARGS)

# coverage-guided fuzzing of the request parsers for FUZZ_SECONDS (a crash stops it and leaves crash-* here)
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	mkdir -p .fuzz-corpus
	$(BIN)/python tests/fuzz/fuzz_parsing.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=3000 .fuzz-corpus tests/fuzz/seeds

# mixed load against gunicorn + localsearch (bench/load.py --help); e.g. make load ARGS="--duration 600"
load: $(STAMP)
	$(BIN)/python bench/load.py $(ARGS)

clean:
	rm -rf $(VENV) $(AUDIT_VENV) .fuzz-corpus .pytest_cache build *.egg-info

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

.PHONY: install test lint demo bench clean prometheus-tools

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP) prometheus-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

lint: $(STAMP)
	$(BIN)/ruff check sidecar ingest localsearch relevance tests bench

demo: $(STAMP)
	$(BIN)/rerank-sidecar demo $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/localsearch.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

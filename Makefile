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

.PHONY: install test lint demo bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sidecar ingest localsearch relevance tests bench

demo: $(STAMP)
	$(BIN)/rerank-sidecar demo $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/localsearch.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

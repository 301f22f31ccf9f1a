# Two commands: `make run` and `make test`. Every install step lives here and is idempotent.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip's output goes to a log, shown only when the install fails.
PIP := $(BIN)/pip install -q --disable-pip-version-check
PIP_LOG := $(VENV)/pip.log

.PHONY: run test lint install install-test browser wrk snippet bench chaos demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: $(PIP_LOG))..."
	@{ $(PIP) --upgrade pip && $(PIP) -e '.[test]'; } > $(PIP_LOG) 2>&1 || { tail -40 $(PIP_LOG) >&2; exit 1; }
	@$(BIN)/python -c 'import intent, collector, chdb, clickhouse_connect' || (echo "install failed" >&2; exit 1)
	@touch $(STAMP)

install: $(STAMP)

# A Debian package's command, installed once (CI runs as root; nothing is downloaded otherwise).
define debian_command
	@command -v $(1) >/dev/null || { \
	  echo "installing Debian $(1) ($(2))..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null; }
	@command -v $(1) >/dev/null || { echo "$(1) is required ($(2)) and could not be installed" >&2; exit 1; }
endef

# Debian's Chromium for the browser tests (no browser download).
browser:
	$(call debian_command,chromium,browser tests)

# Debian's wrk: make bench's load generator, also run by make test's bench smoke test.
wrk:
	$(call debian_command,wrk,benchmarks)

# The snippet's build tools (terser), exactly as package-lock.json pins them; again only when the
# lock file changes. Quiet unless npm fails.
SNIPPET_STAMP := js-snippet/node_modules/.installed
$(SNIPPET_STAMP): js-snippet/package-lock.json
	@cd js-snippet && out=$$(npm ci --no-audit --no-fund 2>&1) || { echo "$$out" >&2; exit 1; }
	@touch $@

snippet: $(SNIPPET_STAMP)
	@:

run: $(STAMP)
	@$(BIN)/intent init --if-missing
	@$(BIN)/intent migrate
	@$(BIN)/intent serve

test: $(STAMP) browser wrk snippet
	@$(BIN)/ruff check collector intent tests bench
	@$(BIN)/ruff format --check collector intent tests bench
	@$(BIN)/mypy
	@cd js-snippet && npm test --silent
	@$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	@$(BIN)/ruff check collector intent tests bench
	@$(BIN)/ruff format --check collector intent tests bench
	@$(BIN)/mypy

bench: $(STAMP) wrk
	@$(BIN)/python -m bench

# Faults and attacks on 127.0.0.1 (docs/reliability.md); `make chaos CHAOS=--quick` for ~2 minutes.
chaos: $(STAMP) wrk
	@$(BIN)/python -m bench.chaos $(CHAOS)

demo: $(STAMP)
	@$(BIN)/intent init --if-missing
	@$(BIN)/intent demo

clean:
	rm -rf $(VENV) data spool js-snippet/node_modules

# Two commands set everything up and prove it: `make setup`, then `make test`.
# Every step is bounded in time; nothing here needs anything installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# npm (any version: the bundle builder runs it on the catalog's own Node) is checked by command.
HOST_PACKAGES := python3-venv debootstrap systemd-container iproute2 ca-certificates strace
PYTEST_ARGS ?=

.PHONY: setup host-packages venv lint test test-unit bench clean

setup: host-packages venv  ## install host packages and the project's venv

host-packages:  ## apt packages the sandbox harness and bundle builder need (root only; skipped when present)
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done; \
	  command -v npm >/dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing host packages: $$missing (run make setup as root)"; exit 1; fi; \
	  timeout 600 apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(BIN)/aiws

$(BIN)/aiws: pyproject.toml bridge/pyproject.toml
	timeout 60 $(PYTHON) -m venv $(VENV)
	timeout 600 $(BIN)/pip install -q --disable-pip-version-check -e '.[dev]' -e ./bridge
	@touch $@

lint: venv  ## ruff, mypy, the import layers, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check src bridge/src tests
	$(BIN)/ruff format --check src bridge/src tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/yamllint -s playbooks roles inventories src/aiws/data .yamllint .ansible-lint
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-lint --offline -q

test: venv  ## the whole suite: unit, integration on real hosts (see README)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: venv  ## benchmarks; results appended to ~/.cache/aiws/bench.jsonl
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -m benchmark -p no:randomly tests/benchmarks -s

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

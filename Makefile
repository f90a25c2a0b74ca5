# Orchestra — the README's commands. Everything installs into .venv from pinned constraints.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo/project

COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
STACK = $(COMPOSE) -p orchestra -f docker/compose.yaml --profile core --profile memory --profile logs

.PHONY: help venv demo demo-stop demo-docker test check bench test-image schema stack-up stack-down clean

help:
	@echo "make demo   - run one offline cycle on the demo project (process runtime, scripted agent);"
	@echo "              leaves its Prefect server running for the UI (make demo-stop stops it)"
	@echo "make test   - lint, type-check and run every test"
	@echo "make check  - ruff (lint + format check) and mypy strict on orchestra/ and flows/"
	@echo "make bench  - run the benchmarks and write docs/benchmarks.md"
	@echo "make stack-up / stack-down - the Compose ops stack (docs/docker.md)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The demo's Prefect server (started by its first cycle, left running for the UI) is stopped
# before its project folder is replaced.
STOP_DEMO_SERVER = test ! -d $(DEMO_DIR) || $(BIN)/orchestra server stop --project $(DEMO_DIR)

demo: venv
	@$(STOP_DEMO_SERVER)
	rm -rf $(DEMO_DIR)
	$(BIN)/python examples/demo/setup_demo.py $(DEMO_DIR)
	$(BIN)/python -m flows.run --project $(DEMO_DIR)

demo-docker: venv
	scripts/build-orchestrator-image.sh
	@$(STOP_DEMO_SERVER)
	rm -rf $(DEMO_DIR)
	$(BIN)/python examples/demo/setup_demo.py $(DEMO_DIR) --docker orchestra-base:bookworm
	$(BIN)/python -m flows.run --project $(DEMO_DIR)

demo-stop:
	@$(STOP_DEMO_SERVER)

stack-up:
	ORCHESTRA_PROJECT=$${ORCHESTRA_PROJECT:-$(CURDIR)} DOCKER_GID=$${DOCKER_GID:-$$(stat -c %g /var/run/docker.sock)} $(STACK) up -d --build

stack-down:
	$(STACK) down

check: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schema: venv
	$(BIN)/orchestra schema > schema/orchestra.schema.json

test-image:
	scripts/build-test-image.sh

test: check
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m bench

clean:
	@test ! -x $(BIN)/orchestra || $(STOP_DEMO_SERVER)
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache

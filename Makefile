# Orchestra — the README's commands. Everything installs into .venv from pinned constraints.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo/project

COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# The Compose project name and the profiles (`make stack-up STACK_PROFILES=core` starts the core
# alone); `make stack-down PURGE=1` also deletes the stack's named volumes (its data).
STACK_PROJECT ?= orchestra
STACK_PROFILES ?= core memory logs
STACK = $(COMPOSE) -p $(STACK_PROJECT) -f docker/compose.yaml $(foreach p,$(STACK_PROFILES),--profile $(p))

AIDER_VERSION ?= 0.86.2
AIDER_VENV := $(VENV)/tools/aider
AIDER_STAMP := $(AIDER_VENV)/.installed-$(AIDER_VERSION)

# Claude Code and Codex CLI the way users get them without npm: from PyPI, pinned. The
# claude-agent-sdk wheel carries the `claude` executable (Claude Code 2.1.327), the
# openai-codex-cli-bin wheel the `codex` one (codex-cli 0.163.0); each in a venv of its own.
CLAUDE_SDK_VERSION ?= 0.2.184
CLAUDE_VENV := $(VENV)/tools/claude
CLAUDE_STAMP := $(CLAUDE_VENV)/.installed-$(CLAUDE_SDK_VERSION)
CODEX_VERSION ?= 0.163.0
CODEX_VENV := $(VENV)/tools/codex
CODEX_STAMP := $(CODEX_VENV)/.installed-$(CODEX_VERSION)

# Test processes side by side (pytest-xdist): the slow end-to-end cases mostly wait on Docker,
# Compose builds and Prefect servers, and share no state (each makes its own names and ports).
TEST_WORKERS ?= 2

.PHONY: help venv demo demo-stop demo-docker test check bench images test-image \
	orchestrator-image postgres-image worker-image aider claude codex agent-clis schema stack-up stack-down clean \
	test-multihost

help:
	@echo "make demo   - run one offline cycle on the demo project (process runtime, scripted agent);"
	@echo "              leaves the user-level Prefect server running for the UI (it stops itself"
	@echo "              when idle; make demo-stop stops it)"
	@echo "make test   - lint, type-check, build what the tests need (images, aider), run every test"
	@echo "make worker-image - the image agent steps run in (aider; orchestra worker-image build)"
	@echo "make check  - ruff (lint + format check) and mypy strict on orchestra/ and flows/"
	@echo "make bench  - run the benchmarks and write docs/benchmarks.md"
	@echo "make stack-up / stack-down - the Compose ops stack (docs/docker.md)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# aider in a virtualenv of its own: it pins ~100 packages exactly (pydantic, fastapi, rich, ...)
# at versions Prefect's constraints do not allow, so it cannot share .venv (docs/decisions.md).
$(AIDER_STAMP):
	@test -x $(AIDER_VENV)/bin/python || $(PYTHON) -m venv $(AIDER_VENV)
	$(AIDER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIDER_VENV)/bin/python -m pip install --quiet "aider-chat==$(AIDER_VERSION)"
	@touch $(AIDER_STAMP)

aider: $(AIDER_STAMP)

$(CLAUDE_STAMP):
	@test -x $(CLAUDE_VENV)/bin/python || $(PYTHON) -m venv $(CLAUDE_VENV)
	$(CLAUDE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CLAUDE_VENV)/bin/python -m pip install --quiet "claude-agent-sdk==$(CLAUDE_SDK_VERSION)"
	ln -sf ../lib/python3.11/site-packages/claude_agent_sdk/_bundled/claude $(CLAUDE_VENV)/bin/claude
	$(CLAUDE_VENV)/bin/claude --version
	@touch $(CLAUDE_STAMP)

claude: $(CLAUDE_STAMP)

$(CODEX_STAMP):
	@test -x $(CODEX_VENV)/bin/python || $(PYTHON) -m venv $(CODEX_VENV)
	$(CODEX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CODEX_VENV)/bin/python -m pip install --quiet "openai-codex-cli-bin==$(CODEX_VERSION)"
	ln -sf ../lib/python3.11/site-packages/codex_cli_bin/bin/codex $(CODEX_VENV)/bin/codex
	$(CODEX_VENV)/bin/codex --version
	@touch $(CODEX_STAMP)

codex: $(CODEX_STAMP)

agent-clis: aider claude codex

# The demo uses the user-level Prefect server (shared by every project, its home in the user's
# data folder), so replacing its folder leaves the server alone. A server of the demo's own that
# an earlier version started inside that folder is stopped first.
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
	$(BIN)/orchestra server stop

# Build first, then start: `up --build` would try to pull the server's image before building
# ours, and the server may run from ours (PREFECT_SERVER_IMAGE) where no registry is reachable.
STACK_ENV = ORCHESTRA_PROJECT=$${ORCHESTRA_PROJECT:-$(CURDIR)} DOCKER_GID=$${DOCKER_GID:-$$(stat -c %g /var/run/docker.sock)}

# Builds with the host's CA certificates, leaves no exited build container and no volume of a
# profile that does not start (scripts/stack-up.sh).
stack-up:
	$(STACK_ENV) STACK_PROJECT=$(STACK_PROJECT) scripts/stack-up.sh $(STACK)

stack-down:
	$(STACK) down$(if $(PURGE), -v)

check: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schema: venv
	$(BIN)/orchestra schema > schema/orchestra.schema.json

# Every image the tests need; each step is a no-op when its image exists (FORCE=1 rebuilds the
# test image, FORCE_BASE=1 the Debian base, `orchestra worker-image build --force` the worker).
images: test-image orchestrator-image postgres-image worker-image

test-image:
	scripts/build-test-image.sh

orchestrator-image:
	scripts/build-orchestrator-image.sh

# Postgres of docker/compose.postgres.yaml, from the Debian base the orchestrator image makes.
postgres-image: orchestrator-image
	scripts/build-postgres-image.sh

worker-image: venv orchestrator-image
	$(BIN)/orchestra worker-image build

# Strict like CI: a test that lacks Docker, an image or an agent CLI fails with the fix, never skips.
test: check images agent-clis
	CI=$${CI:-1} $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

# The multi-host pool test alone (issue 12; `make test` runs it too): its cluster's Prefect
# server runs on Postgres since SQLite stalled it under load (docs/decisions.md).
test-multihost: check images
	CI=$${CI:-1} $(BIN)/pytest -m multihost tests/integration/test_pool_hosts.py

bench: venv
	$(BIN)/python -m bench

clean:
	@test ! -x $(BIN)/orchestra || $(STOP_DEMO_SERVER)
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache

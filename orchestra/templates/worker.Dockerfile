# Orchestra worker image: the agent CLIs a step runs (one container per step, see
# orchestra/runtime/docker.py and docs/docker.md, "Worker image").
#
# Shipped inside the package (orchestra/templates/worker.Dockerfile; docker/worker/Dockerfile is a
# link to it), so `orchestra worker-image build` works for a pip install too. Nothing is copied
# from the build context.
#
#   orchestra worker-image build                  aider, Claude Code and Codex, from orchestra-base:bookworm
#   orchestra worker-image build --with opencode  + OpenCode from npm (needs npm reachable)
#   make worker-image                             the same as the first line
#
# Claude Code and Codex come from PyPI, as wheels that carry the native executables: Claude Code
# 2.1.327 inside claude-agent-sdk 0.2.184 (claude_agent_sdk/_bundled/claude), codex-cli 0.163.0
# as openai-codex-cli-bin 0.163.0 (codex_cli_bin/bin/codex). No Node, no npm.
#
# The default base is the local Debian bookworm image scripts/build-orchestrator-image.sh makes with
# debootstrap (python3, venv, pip, git; no registry needed). Any Debian/Ubuntu image with python3
# works: `--build-arg BASE_IMAGE=python:3.11-slim-bookworm`. Node is not in the base: OpenCode,
# the one npm CLI, is off by default and installs Debian's nodejs + npm when chosen.
#
# Orchestra runs each step as the host user's uid:gid (no entry in /etc/passwd), with all
# capabilities dropped and HOME=/tmp. Nothing below depends on a particular user: the CLIs are
# installed system-wide and readable by everyone, HOME (/home/agent) and the mount points are
# writable by any uid. No ENTRYPOINT: Orchestra runs the agent's argv under docker-init.
ARG BASE_IMAGE=orchestra-base:bookworm
FROM ${BASE_IMAGE}

ARG INSTALL_AIDER=1
ARG AIDER_VERSION=0.86.2
ARG INSTALL_CLAUDE=1
ARG INSTALL_CODEX=1
ARG INSTALL_OPENCODE=0
ARG CLAUDE_SDK_VERSION=0.2.184
ARG CODEX_VERSION=0.163.0
ARG OPENCODE_VERSION=1.18.33
# Extra CA certificates (PEM text) for networks that inspect TLS on the way to PyPI/npm.
# Certificates are public: passing them as a build argument leaks nothing.
ARG EXTRA_CA_CERTS=""
ARG DEBIAN_FRONTEND=noninteractive

ENV LANG=C.UTF-8 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    DISABLE_AUTOUPDATER=1 \
    OPENCODE_DISABLE_AUTOUPDATE=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

USER root

# git (agents diff in /workspace), python3 + venv (aider), CA certificates: installed only when
# the base lacks them (the debootstrap base has all of them, so no apt mirror is needed).
RUN set -eux; \
    missing=""; \
    command -v git >/dev/null 2>&1 || missing="$missing git"; \
    [ -s /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"; \
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf '%s\n' "$EXTRA_CA_CERTS" | awk '/-----BEGIN CERTIFICATE-----/ { n++; f = sprintf("/usr/local/share/ca-certificates/orchestra-extra-%d.crt", n) } n { print > f }'; \
        update-ca-certificates; \
    fi; \
    git --version; \
    python3 --version

# aider in its own virtualenv (it pins ~100 packages exactly), linked onto PATH.
RUN set -eux; \
    if [ "$INSTALL_AIDER" = 1 ]; then \
        python3 -m venv /opt/aider; \
        /opt/aider/bin/pip install "aider-chat==${AIDER_VERSION}"; \
        ln -s /opt/aider/bin/aider /usr/local/bin/aider; \
        HOME=/tmp aider --version; \
        rm -rf /tmp/.aider; \
    fi

# Claude Code and Codex from PyPI, each in a virtualenv of its own, their executables linked
# onto PATH.
RUN set -eux; \
    if [ "$INSTALL_CLAUDE" = 1 ]; then \
        python3 -m venv /opt/claude; \
        /opt/claude/bin/pip install "claude-agent-sdk==${CLAUDE_SDK_VERSION}"; \
        sdk="$(/opt/claude/bin/python -c 'import claude_agent_sdk, os; print(os.path.dirname(claude_agent_sdk.__file__))')"; \
        ln -s "$sdk/_bundled/claude" /usr/local/bin/claude; \
        HOME=/tmp claude --version; \
    fi; \
    if [ "$INSTALL_CODEX" = 1 ]; then \
        python3 -m venv /opt/codex; \
        /opt/codex/bin/pip install "openai-codex-cli-bin==${CODEX_VERSION}"; \
        bin="$(/opt/codex/bin/python -c 'import codex_cli_bin, os; print(os.path.dirname(codex_cli_bin.__file__))')"; \
        ln -s "$bin/bin/codex" /usr/local/bin/codex; \
        HOME=/tmp codex --version; \
    fi; \
    rm -rf /tmp/.claude* /tmp/.codex

# OpenCode, only when asked for: Debian's nodejs and npm, then the pinned package.
RUN set -eux; \
    if [ "$INSTALL_OPENCODE" = 1 ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends nodejs npm; \
        rm -rf /var/lib/apt/lists/*; \
        npm install -g "opencode-ai@${OPENCODE_VERSION}"; \
        npm cache clean --force; \
        rm -rf /root/.npm; \
        opencode --version; \
    fi

# A HOME and mount points any uid can write (sticky, like /tmp); git trusts every repository
# (the workspace belongs to the host user, not to whoever runs the container).
RUN set -eux; \
    mkdir -p /home/agent /workspace /orchestra/out; \
    chmod 1777 /home/agent /workspace /orchestra/out; \
    git config --system --add safe.directory '*'

ENV HOME=/home/agent
# No passwd entry is needed: any uid works (Orchestra passes the host user's).
USER 10001:10001
WORKDIR /workspace
CMD ["bash"]

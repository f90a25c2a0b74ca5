# Orchestra worker image: the agent CLIs a step runs (one container per step, see
# orchestra/runtime/docker.py and docs/docker.md, "Worker image").
#
# Shipped inside the package (orchestra/templates/worker.Dockerfile; docker/worker/Dockerfile is a
# link to it), so `orchestra worker-image build` works for a pip install too. Nothing is copied
# from the build context.
#
#   orchestra worker-image build                          aider, from orchestra-base:bookworm
#   orchestra worker-image build --with claude,codex      + the npm CLIs (needs npm reachable)
#   make worker-image                                     the same as the first line
#
# The default base is the local Debian bookworm image scripts/build-orchestrator-image.sh makes with
# debootstrap (python3, venv, pip, git; no registry needed). Any Debian/Ubuntu image with python3
# works: `--build-arg BASE_IMAGE=python:3.11-slim-bookworm`. Node is not in the base: the npm
# CLIs (claude, codex, opencode) are off by default and install Debian's nodejs + npm when chosen.
#
# Orchestra runs each step as the host user's uid:gid (no entry in /etc/passwd), with all
# capabilities dropped and HOME=/tmp. Nothing below depends on a particular user: the CLIs are
# installed system-wide and readable by everyone, HOME (/home/agent) and the mount points are
# writable by any uid. No ENTRYPOINT: Orchestra runs the agent's argv under docker-init.
ARG BASE_IMAGE=orchestra-base:bookworm
FROM ${BASE_IMAGE}

ARG INSTALL_AIDER=1
ARG AIDER_VERSION=0.86.2
ARG INSTALL_CLAUDE=0
ARG INSTALL_CODEX=0
ARG INSTALL_OPENCODE=0
ARG CLAUDE_VERSION=2.1.197
ARG CODEX_VERSION=0.169.0
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

# The npm CLIs, only when asked for: Debian's nodejs and npm, then the pinned packages.
RUN set -eux; \
    packages=""; \
    if [ "$INSTALL_CLAUDE" = 1 ]; then packages="$packages @anthropic-ai/claude-code@${CLAUDE_VERSION}"; fi; \
    if [ "$INSTALL_CODEX" = 1 ]; then packages="$packages @openai/codex@${CODEX_VERSION}"; fi; \
    if [ "$INSTALL_OPENCODE" = 1 ]; then packages="$packages opencode-ai@${OPENCODE_VERSION}"; fi; \
    if [ -n "$packages" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends nodejs npm; \
        rm -rf /var/lib/apt/lists/*; \
        npm install -g $packages; \
        npm cache clean --force; \
        rm -rf /root/.npm; \
        if [ "$INSTALL_CLAUDE" = 1 ]; then claude --version; fi; \
        if [ "$INSTALL_CODEX" = 1 ]; then codex --version; fi; \
        if [ "$INSTALL_OPENCODE" = 1 ]; then opencode --version; fi; \
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

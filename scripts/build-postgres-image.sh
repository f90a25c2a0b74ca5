#!/usr/bin/env bash
# Build `orchestra-postgres:latest`, the Postgres of docker/compose.postgres.yaml, without a registry.
#
# docker/postgres/Dockerfile on the local Debian base `orchestra-base:bookworm` (made by
# scripts/build-orchestrator-image.sh, which runs first: `make images` orders them); apt reaches
# the Debian mirror the base was bootstrapped from. The multi-host pool test
# (tests/support/pool_cluster.py) runs its Prefect server on it, as a multi-host user would.
#
# Skipped when the image was built from the same sources: it carries the label orchestra.source,
# a hash of docker/postgres/ (FORCE=1 rebuilds anyway).
#
# Env: BASE_IMAGE_TAG (default orchestra-base:bookworm), POSTGRES_IMAGE (default
# orchestra-postgres:latest), FORCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG="${BASE_IMAGE_TAG:-orchestra-base:bookworm}"
IMAGE="${POSTGRES_IMAGE:-orchestra-postgres:latest}"

log() { echo "build-postgres-image: $*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
    log "the docker CLI is not installed"
    exit 1
fi
if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    log "$BASE_TAG is missing: run scripts/build-orchestrator-image.sh first (it makes the base)"
    exit 1
fi

source_hash="$(find docker/postgres -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16)"
if [[ "${FORCE:-0}" != 1 ]] &&
    [[ "$(docker image inspect -f '{{ index .Config.Labels "orchestra.source" }}' "$IMAGE" 2>/dev/null)" == "$source_hash" ]]; then
    log "$IMAGE is up to date with docker/postgres ($source_hash), build skipped (FORCE=1 rebuilds it)"
    exit 0
fi

start=$(date +%s)
log "docker build $IMAGE from $BASE_TAG"
docker build \
    --build-arg "BASE_IMAGE=$BASE_TAG" \
    --label "orchestra.source=$source_hash" \
    -t "$IMAGE" \
    docker/postgres
log "smoke test: the postgres binary, pg_isready"
docker run --rm --entrypoint sh "$IMAGE" -c 'ls -d /usr/lib/postgresql/*/bin/postgres && pg_isready --version'
log "built $IMAGE in $(($(date +%s) - start)) s"

#!/usr/bin/env bash
# Build `orchestra-orchestrator:test`, the orchestrator image of the ops stack, without a registry.
#
# 1. Base image `orchestra-base:bookworm`: a Debian bookworm root filesystem made with debootstrap
#    (python3, python3-venv, python3-pip, git, ca-certificates), imported with `docker import`.
#    Skipped when the image already exists (FORCE_BASE=1 rebuilds it). The Debian mirror is the
#    one apt already uses on this machine (/etc/apt/sources.list*), DEBIAN_MIRROR overrides it.
# 2. `docker build --build-arg BASE_IMAGE=orchestra-base:bookworm` of docker/orchestrator/Dockerfile
#    with the repository root as context (pip reaches PyPI during the build).
# 3. Smoke test: `orchestra --help` and `prefect version` inside the image.
#
# Step 2 and 3 are skipped when the image was built from the same sources: the image carries the
# label orchestra.source, a hash of everything the Dockerfile copies (FORCE=1 rebuilds anyway).
#
# Networks that inspect TLS (a proxy with its own CA) need that CA inside the build: the PEM text
# of EXTRA_CA_CERTS, else of the host's /usr/local/share/ca-certificates/*.crt, goes in as the
# build argument EXTRA_CA_CERTS (certificates are public; nothing secret is passed).
#
# Env: BASE_IMAGE_TAG (default orchestra-base:bookworm), ORCHESTRATOR_IMAGE (default
# orchestra-orchestrator:test), DEBIAN_MIRROR, FORCE_BASE=1, EXTRA_CA_CERTS.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG="${BASE_IMAGE_TAG:-orchestra-base:bookworm}"
IMAGE="${ORCHESTRATOR_IMAGE:-orchestra-orchestrator:test}"
SUITE=bookworm
PACKAGES=python3,python3-venv,python3-pip,git,ca-certificates

log() { echo "build-orchestrator-image: $*" >&2; }
now() { date +%s; }

if ! command -v docker >/dev/null 2>&1; then
    log "the docker CLI is not installed"
    exit 1
fi

sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi

# The first archive URI apt uses for the bookworm suite (deb822 .sources, then one-line .list).
debian_mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local f mirror=""
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        mirror="$(awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; ok_type = 0; ok_suite = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) ok_type = 1
                    if ($i ~ /^Suites:/ && $i ~ ("[ \t]" suite "([ \t]|$)")) ok_suite = 1
                    if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
                }
                if (ok_type && ok_suite && uris != "") { print uris; exit }
            }' "$f")"
        [[ -n "$mirror" ]] && break
    done
    if [[ -z "$mirror" ]]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -r "$f" ]] || continue
            mirror="$(sed -E 's/\[[^]]*\]//' "$f" |
                awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')"
            [[ -n "$mirror" ]] && break
        done
    fi
    shopt -u nullglob
    echo "${mirror:-http://deb.debian.org/debian}"
}

build_base() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "debootstrap is missing and apt-get is not available to install it"
            exit 1
        fi
        log "installing debootstrap"
        if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap; then
            "${sudo_cmd[@]}" apt-get update
            "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap
        fi
    fi
    local mirror keyring=() rootfs
    mirror="$(debian_mirror)"
    if [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/orchestra-rootfs.XXXXXX")"
    # The root filesystem belongs to root: remove it as root.
    trap '"${sudo_cmd[@]}" rm -rf "$rootfs"' EXIT
    log "debootstrap $SUITE from $mirror into $rootfs"
    "${sudo_cmd[@]}" debootstrap --variant=minbase --include="$PACKAGES" "${keyring[@]}" \
        "$SUITE" "$rootfs" "$mirror"
    # Smaller image: no downloaded .debs, no package lists (the Dockerfile runs apt-get update
    # itself if it ever needs a package).
    "${sudo_cmd[@]}" rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    "${sudo_cmd[@]}" tar --numeric-owner -C "$rootfs" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            - "$BASE_TAG" >/dev/null
    "${sudo_cmd[@]}" rm -rf "$rootfs"
    trap - EXIT
}

start=$(now)
if [[ "${FORCE_BASE:-0}" != 1 ]] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    log "$BASE_TAG already exists, debootstrap skipped (FORCE_BASE=1 rebuilds it)"
else
    build_base
    log "built $BASE_TAG in $(($(now) - start)) s"
fi

# Everything docker/orchestrator/Dockerfile copies, as one hash of the working tree's files.
source_hash="$(find pyproject.toml constraints.txt orchestra flows docker/orchestrator -type f \
    -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16)"
if [[ "${FORCE:-0}" != 1 ]] &&
    [[ "$(docker image inspect -f '{{ index .Config.Labels "orchestra.source" }}' "$IMAGE" 2>/dev/null)" == "$source_hash" ]]; then
    log "$IMAGE is up to date with the sources ($source_hash), build skipped (FORCE=1 rebuilds it)"
    exit 0
fi

extra_ca="${EXTRA_CA_CERTS:-}"
if [[ -z "$extra_ca" ]]; then
    shopt -s nullglob globstar
    crts=(/usr/local/share/ca-certificates/**/*.crt)
    shopt -u nullglob globstar
    if ((${#crts[@]})); then
        log "passing ${#crts[@]} extra CA certificate file(s) from /usr/local/share/ca-certificates"
        extra_ca="$(cat "${crts[@]}")"
    fi
fi

t=$(now)
log "docker build $IMAGE from $BASE_TAG"
docker build \
    --build-arg "BASE_IMAGE=$BASE_TAG" \
    --build-arg "EXTRA_CA_CERTS=$extra_ca" \
    --label "orchestra.source=$source_hash" \
    -t "$IMAGE" \
    -f docker/orchestrator/Dockerfile \
    .
log "built $IMAGE in $(($(now) - t)) s"

log "smoke test: orchestra --help, prefect version"
docker run --rm "$IMAGE" orchestra --help >/dev/null
docker run --rm "$IMAGE" prefect version
log "done in $(($(now) - start)) s"

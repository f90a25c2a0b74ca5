#!/usr/bin/env bash
# `make stack-up`: build the Compose stack's images, then start it. Usage (the Makefile's):
#   scripts/stack-up.sh <compose command with -p NAME -f docker/compose.yaml --profile P ...>
#
# - CA certificates reach the build, as scripts/build-*.sh and `orchestra worker-image build`
#   pass them (networks that inspect TLS: without them pip fails with SSLCertVerificationError,
#   then with a misleading "conflicting dependencies"): EXTRA_CA_CERTS as given, else the PEM
#   text of the host's /usr/local/share/ca-certificates/**/*.crt, else of the file SSL_CERT_FILE,
#   PIP_CERT or REQUESTS_CA_BUNDLE names (when small enough for a build argument).
#   Certificates are public: nothing secret is passed.
# - A failed build leaves no exited container behind (`build --force-rm`).
# - Volumes of profiles that do not start are not left behind: docker-compose 1.x creates every
#   volume of the file on `up`; those this `up` created and no container uses are removed (a
#   volume that existed before, with its data, is never touched).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "stack-up: $*" >&2; }

if (($# == 0)); then
    log "usage: $0 <compose command and its -p/-f/--profile options>"
    exit 2
fi
compose=("$@")
project="${STACK_PROJECT:-orchestra}"

# A build argument travels in one environment string: Linux caps one at 128 KiB.
MAX_CA_BYTES=100000

extra_ca() {
    if [[ -n "${EXTRA_CA_CERTS:-}" ]]; then
        printf '%s' "$EXTRA_CA_CERTS"
        return
    fi
    local crts
    shopt -s nullglob globstar
    crts=(/usr/local/share/ca-certificates/**/*.crt)
    shopt -u nullglob globstar
    if ((${#crts[@]})); then
        log "passing ${#crts[@]} extra CA certificate file(s) from /usr/local/share/ca-certificates"
        cat "${crts[@]}"
        return
    fi
    local name file
    for name in SSL_CERT_FILE PIP_CERT REQUESTS_CA_BUNDLE; do
        file="${!name:-}"
        [[ -n "$file" && -r "$file" ]] || continue
        if (($(wc -c <"$file") > MAX_CA_BYTES)); then
            log "$name=$file is over $MAX_CA_BYTES bytes, too big for a build argument: put the" \
                "extra CA certificates the build needs in EXTRA_CA_CERTS (PEM text)"
            return
        fi
        log "passing the CA certificates of $name=$file"
        cat "$file"
        return
    done
}

volumes() {
    docker volume ls -q --filter "label=com.docker.compose.project=$project" | sort
}

EXTRA_CA_CERTS="$(extra_ca)"
export EXTRA_CA_CERTS

"${compose[@]}" build --force-rm

before="$(volumes)"
status=0
"${compose[@]}" up -d || status=$?
for volume in $(comm -13 <(printf '%s\n' "$before") <(volumes)); do
    # In use (by a container of a started profile): docker refuses, and the volume stays.
    if docker volume rm "$volume" >/dev/null 2>&1; then
        log "removed volume $volume: no service of the started profiles uses it"
    fi
done
exit "$status"

#!/usr/bin/env bash
# Build `orchestra-test:latest`, the tiny image the Docker integration tests run steps in.
#
# No image registry is needed: the image is a static busybox with its applet symlinks (sh, cat,
# echo, sleep, id, env, touch, ls, printf, true, wget, ...), /tmp and /workspace, imported with
# `docker import`. Idempotent: does nothing when the image already exists (FORCE=1 rebuilds).
# Installs the Debian package busybox-static when /bin/busybox is missing or not static.
set -euo pipefail

IMAGE="${ORCHESTRA_TEST_IMAGE:-orchestra-test:latest}"
BUSYBOX=/bin/busybox

if ! command -v docker >/dev/null 2>&1; then
    echo "build-test-image: the docker CLI is not installed" >&2
    exit 1
fi
if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "build-test-image: $IMAGE already exists (FORCE=1 rebuilds it)"
    exit 0
fi

is_static() {
    # A static executable has no program interpreter: ldd says "not a dynamic executable".
    [[ -x "$1" ]] || return 1
    if command -v ldd >/dev/null 2>&1; then
        ! ldd "$1" >/dev/null 2>&1
    else
        ! LC_ALL=C grep -qa 'ld-linux' "$1"
    fi
}

if ! is_static "$BUSYBOX"; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "build-test-image: $BUSYBOX is missing or not static, and apt-get is not available;" \
             "install a static busybox at $BUSYBOX" >&2
        exit 1
    fi
    sudo_cmd=()
    if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
    echo "build-test-image: installing busybox-static"
    if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static; then
        # The package lists may be missing or stale: refresh them once, then try again.
        "${sudo_cmd[@]}" apt-get update
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static
    fi
    if ! is_static "$BUSYBOX"; then
        echo "build-test-image: $BUSYBOX is still not a static executable" >&2
        exit 1
    fi
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" \
         "$root/tmp" "$root/workspace" "$root/orchestra/out"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
# Same result as `busybox --install -s` run inside the rootfs, without chroot (no root needed):
# one absolute symlink to /bin/busybox per applet, at the applet's usual path.
"$BUSYBOX" --list-full | while read -r applet; do
    [[ -n "$applet" && "$applet" != bin/busybox ]] || continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
    docker import \
        --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'WORKDIR /workspace' \
        --change 'CMD ["/bin/sh"]' \
        - "$IMAGE" >/dev/null
echo "build-test-image: built $IMAGE"

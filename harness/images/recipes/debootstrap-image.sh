#!/usr/bin/env bash
# Builds an image from Debian's packages: debootstrap, add files, docker import.
# Inputs (env): TAG SUITE PACKAGES(comma list, may be empty) FILES_DIR(optional) ENTRYPOINT CMD(JSON arrays)
#               MIRROR MIRROR_SHOWN(the mirror without credentials, for logs and the image)
#               LABELS(newline-separated k=v) DEBOOTSTRAP(path) DEBOOTSTRAP_DIR ROOTFS(staging dir)
# debootstrap itself is the lab's own copy, unpacked from Debian's package (nothing is installed on the host).
set -euo pipefail
log() { printf '[image %s] %s\n' "$TAG" "$*" >&2; }

MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR_SHOWN=${MIRROR_SHOWN:-$MIRROR}
root=$ROOTFS
mkdir -p "$root"
trap 'rm -rf "$root" "$root.log"' EXIT INT TERM
log "debootstrap $SUITE from $MIRROR_SHOWN${PACKAGES:+ with: $PACKAGES}"
t0=$(date +%s)
include=()
[ -n "$PACKAGES" ] && include=(--include="$PACKAGES")
if ! "$DEBOOTSTRAP" --variant=minbase "${include[@]}" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1; then
  tail -n 15 "$root.log" >&2
  echo "debootstrap of $SUITE failed: the Debian mirror $MIRROR_SHOWN must be reachable (set BUILDX_LAB_DEBIAN_MIRROR), or import an offline bundle (buildx-lab bundle import)" >&2
  exit 4
fi
log "debootstrap took $(( $(date +%s) - t0 )) s"
# debootstrap wrote the mirror into the image's sources.list: an image a bundle ships must not carry its credentials
if [ "$MIRROR_SHOWN" != "$MIRROR" ] && [ -f "$root/etc/apt/sources.list" ]; then
  printf 'deb %s %s main\n' "$MIRROR_SHOWN" "$SUITE" >"$root/etc/apt/sources.list"
fi
if [ -n "${FILES_DIR:-}" ]; then cp -a "$FILES_DIR/." "$root/"; fi
# Smaller images push and pull faster inside the lab; apt lists and caches are dead weight.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
changes=(-c "ENTRYPOINT $ENTRYPOINT" -c "CMD $CMD")
while IFS= read -r l; do [ -n "$l" ] && changes+=(-c "LABEL $l"); done <<<"${LABELS:-}"
tar -C "$root" -c . | docker import "${changes[@]}" - "$TAG" >/dev/null
log "imported ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"

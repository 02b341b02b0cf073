#!/usr/bin/env bash
# Builds an image offline-capable from Debian's packages: debootstrap, add files, docker import.
# Inputs (env): TAG SUITE PACKAGES(comma list) FILES_DIR(optional) ENTRYPOINT CMD(JSON arrays) MIRROR
#               LABELS (newline-separated k=v)
# Runs under flock (see images.ts), and re-checks the tag first, so concurrent runs build an image once.
set -euo pipefail
log() { printf '[image %s] %s\n' "$TAG" "$*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then log "already built by another run"; exit 0; fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: run 'make setup' (or apt-get install debootstrap)" >&2; exit 3; }

MIRROR=${MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/buildx-lab-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM
log "debootstrap $SUITE from $MIRROR with: $PACKAGES"
t0=$(date +%s)
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1; then
  tail -n 15 "$root.log" >&2; rm -f "$root.log"
  echo "debootstrap of $SUITE failed: the Debian mirror $MIRROR must be reachable (set BUILDX_LAB_DEBIAN_MIRROR), or provide the official image" >&2
  exit 4
fi
rm -f "$root.log"
log "debootstrap took $(( $(date +%s) - t0 )) s"
if [ -n "${FILES_DIR:-}" ]; then cp -a "$FILES_DIR/." "$root/"; fi
# Smaller images push and pull faster inside the lab; apt lists and caches are dead weight.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
changes=(-c "ENTRYPOINT $ENTRYPOINT" -c "CMD $CMD")
while IFS= read -r l; do [ -n "$l" ] && changes+=(-c "LABEL $l"); done <<<"${LABELS:-}"
tar -C "$root" -c . | docker import "${changes[@]}" - "$TAG" >/dev/null
log "imported ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"

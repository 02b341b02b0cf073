#!/usr/bin/env bash
# Installs a Docker engine that can run privileged containers on this host (Debian only),
# plus debootstrap for the offline image builds, then starts dockerd in the background.
#
# Why trixie: bookworm's docker.io 20.10 grants every known capability to --privileged
# containers and fails where the host's bounding set lacks one (moby/moby#42933, fixed in 23.0).
# Trixie's 26.1.5 is pinned low so nothing else on the host moves to trixie.
# MIRROR (env): the Debian mirror to add trixie from (the lab passes the host's own).
# Idempotent: a working engine is never touched; an installed but stopped one is only started.
set -euo pipefail

log() { printf '[engine] %s\n' "$*" >&2; }
die() { printf '[engine] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "root is needed to install and start the engine (run with sudo, or install Docker >= 23.0 yourself and set DOCKER_HOST)"
[ -r /etc/debian_version ] || die "not a Debian host: install Docker Engine >= 23.0 yourself (https://docs.docker.com/engine/install/) and set DOCKER_HOST"
command -v apt-get >/dev/null || die "apt-get not found: install Docker Engine >= 23.0 yourself"

SOCK=${BUILDX_LAB_ENGINE_SOCK:-/var/run/docker.sock}
export DEBIAN_FRONTEND=noninteractive

engine_answers() { timeout 5 docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

want_pkgs=(docker.io containerd runc)
need_install=0
if ! command -v dockerd >/dev/null; then need_install=1
else
  v=$(dockerd --version | sed -E 's/.*version ([0-9]+)\..*/\1/')
  [ "${v:-0}" -ge 23 ] || need_install=1
fi
command -v debootstrap >/dev/null || need_debootstrap=1

if [ "$need_install" = 1 ] || [ "${need_debootstrap:-0}" = 1 ]; then
  # Reuse whatever Debian mirror the host already uses, with the trixie suite added and pinned low.
  src=/etc/apt/sources.list.d/buildx-lab-trixie.sources
  if [ ! -f "$src" ]; then
    uri=${MIRROR:-http://deb.debian.org/debian}
    log "adding Debian trixie from $uri (pinned at priority 100)"
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$src"
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/buildx-lab-trixie
  fi
  log "apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed: is the Debian mirror reachable? (offline hosts need Docker >= 23.0 preinstalled)"
  if [ "$need_install" = 1 ]; then
    log "installing ${want_pkgs[*]} from trixie"
    apt-get install -y -qq -t trixie "${want_pkgs[@]}" >&2 || die "apt-get install of ${want_pkgs[*]} from trixie failed (see above)"
  fi
  if [ "${need_debootstrap:-0}" = 1 ]; then
    log "installing debootstrap"
    apt-get install -y -qq debootstrap >&2 || die "apt-get install debootstrap failed"
  fi
fi

if engine_answers; then log "engine already answers on $SOCK"; exit 0; fi

# Installed but not running (CI machines, containers without systemd): start it ourselves.
if ! pgrep -x containerd >/dev/null; then
  log "starting containerd"
  nohup containerd >/var/log/buildx-lab-containerd.log 2>&1 &
fi
log "starting dockerd (log: /var/log/buildx-lab-dockerd.log)"
nohup dockerd --host "unix://$SOCK" --containerd /run/containerd/containerd.sock >/var/log/buildx-lab-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  engine_answers && { log "engine ready: $(docker -H "unix://$SOCK" version --format '{{.Server.Version}}')"; exit 0; }
  sleep 0.5
done
tail -n 20 /var/log/buildx-lab-dockerd.log >&2 || true
die "dockerd did not answer on $SOCK within 30 s (log above)"

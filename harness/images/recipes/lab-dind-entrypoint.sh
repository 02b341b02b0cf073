#!/bin/sh
# Entrypoint of the lab's home-built DinD images. On cgroup v2, move every process out of the root
# cgroup so dockerd can delegate controllers to its containers (the same trick as moby's hack/dind).
set -e
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || :
fi
# dockerd looks for docker-init on PATH (Buildx's docker-container driver starts BuildKit with --init):
# engines built from source ship none, so Debian's static tini stands in, as Debian's docker.io does.
if ! command -v docker-init >/dev/null 2>&1 && [ -x /usr/bin/tini-static ]; then
  ln -s /usr/bin/tini-static /usr/local/bin/docker-init
fi
exec "$@"

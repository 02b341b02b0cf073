#!/bin/sh
# The lab's k3s node: one server that is also the only agent, in a privileged container on the lab network.
# What it needs that k3s's own packaging would bring (its data directory is not in a build from source):
# containerd's shim and runc on PATH, Debian's CNI plugins with a bridge config (flannel is off), the pause
# image as an airgap tarball, and the containerd config template (config-v3.toml.tmpl). Registries come from
# /etc/rancher/k3s/registries.yaml: the lab registry, over plain HTTP, for the BuildKit image.
set -e
# kubelet's volume mounts (ConfigMaps) must propagate into the pods' mount namespaces
mount --make-rshared /
mkdir -p /var/lib/rancher/k3s/agent/images /var/lib/rancher/k3s/agent/etc/containerd
cp /opt/buildx-lab/k3s/config-v3.toml.tmpl /var/lib/rancher/k3s/agent/etc/containerd/
cp /opt/buildx-lab/k3s/pause.tar /var/lib/rancher/k3s/agent/images/
# containerd, kubectl, crictl and ctr are k3s itself under those names (links in /usr/local/bin, the image's)
export PATH=/opt/cni/bin:$PATH
# Not run: CoreDNS (pods here resolve nothing by cluster DNS, and the node's resolv.conf is Docker's
# embedded DNS on 127.0.0.11, which a pod cannot reach), Traefik, the service load balancer, metrics,
# local storage, network policy and the Helm controller: a BuildKit pod needs none of them.
exec /usr/local/bin/k3s server \
  --disable=traefik,servicelb,metrics-server,local-storage,coredns \
  --flannel-backend=none --disable-network-policy --disable-helm-controller \
  --pause-image="$K3S_PAUSE_IMAGE" \
  --kubelet-arg=fail-cgroupv1=false \
  --kube-proxy-arg=conntrack-max-per-core=0 \
  --write-kubeconfig-mode=600 "$@"

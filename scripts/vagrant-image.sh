#!/bin/sh
# The "box" of Vagrant's docker provider: a Debian 12 userland with sshd, dockerd, Open vSwitch and the
# network tools orch's tasks use, as a local docker image (no registry is needed or used).
#
#   scripts/vagrant-image.sh rootfs   debootstrap bookworm into a cached tarball (needs the Debian mirror;
#                                     run it where the network is, e.g. the machine's root namespace)
#   scripts/vagrant-image.sh build    import that tarball into the dockerd `docker` talks to as
#                                     orch/vagrant-debian-base:12, then `docker build` vagrant/docker on it
#                                     as orch/vagrant-debian:12 (offline; run it where that dockerd is)
#   scripts/vagrant-image.sh          both
#
# The mirror is the machine's own (first URIs of /etc/apt/sources.list.d/debian.sources, else
# deb.debian.org); ORCH_DEBIAN_MIRROR overrides it. The tarball is cached under vagrant/.cache, keyed by
# the package list, so later runs skip debootstrap; downloaded .debs are kept in vagrant/.cache/debs.
#
# Package scripts of the second stage run chrooted in fresh network, mount and pid namespaces with a
# policy-rc.d that refuses every service start: no dockerd, sshd or ovs-vswitchd ever starts on the
# machine itself while the image is built.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cache="$here/vagrant/.cache"
context="$here/vagrant/docker"
BASE_IMAGE=orch/vagrant-debian-base:12
IMAGE=${ORCH_VAGRANT_IMAGE:-orch/vagrant-debian:12}
SUITE=bookworm
# What a host needs for orch's tasks (docker, OVS, iproute2, iptables, ethtool, arping for pipework,
# nsenter from util-linux) plus sshd and sudo for Vagrant; busybox-static builds the probe image.
PACKAGES="openssh-server sudo docker.io openvswitch-switch iproute2 iptables ethtool iputils-ping iputils-arping procps kmod busybox-static tini netbase tcpdump"

mirror() {
  if [ -n "${ORCH_DEBIAN_MIRROR:-}" ]; then echo "$ORCH_DEBIAN_MIRROR"; return; fi
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "${m:-http://deb.debian.org/debian}"
}

key=$(printf '%s %s\n' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
tarball="$cache/debian12-$key.tar"

rootfs() {
  if [ -f "$tarball" ]; then echo "$tarball"; return 0; fi
  [ "$(id -u)" = 0 ] || { echo "vagrant-image: debootstrap needs root" >&2; exit 1; }
  command -v debootstrap >/dev/null || { echo "vagrant-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  mkdir -p "$cache/debs"
  dir="$cache/rootfs.$$"
  trap 'rm -rf "$dir" "$tarball.$$"' EXIT
  rm -rf "$dir"
  m=$(mirror)
  echo "vagrant-image: debootstrap $SUITE from $m (first time only; a few minutes)" >&2
  include=$(echo $PACKAGES | tr ' ' ',')
  debootstrap --foreign --variant=minbase --cache-dir="$cache/debs" --include="$include" "$SUITE" "$dir" "$m" >&2
  # Never start a service while configuring packages.
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  unshare --mount --net --pid --fork --kill-child --propagation private \
    chroot "$dir" /debootstrap/debootstrap --second-stage >&2
  rm -f "$dir/usr/sbin/policy-rc.d"
  # Every machine makes its own host keys at first boot; no package cache or logs in the image.
  rm -f "$dir"/etc/ssh/ssh_host_*
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log
  printf 'deb %s %s main\n' "$m" "$SUITE" > "$dir/etc/apt/sources.list"
  tar -C "$dir" --numeric-owner -cf "$tarball.$$" .
  mv "$tarball.$$" "$tarball"
  rm -rf "$dir"
  trap - EXIT
  echo "$tarball"
}

build() {
  [ -f "$tarball" ] || { echo "vagrant-image: $tarball is missing: run scripts/vagrant-image.sh rootfs first" >&2; exit 1; }
  docker version >/dev/null 2>&1 || { echo "vagrant-image: no dockerd answers here (docker version failed): run this where the docker provider's dockerd is" >&2; exit 1; }
  # The tarball's key is the base image's label: a changed package list imports again.
  have=$(docker image inspect -f '{{index .Config.Labels "orch.rootfs"}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [ "$have" != "$key" ]; then
    docker import --change "LABEL orch.rootfs=$key" "$tarball" "$BASE_IMAGE" >/dev/null
  fi
  # Vagrant's well-known insecure public key (Vagrant replaces it with a per-machine key at first `up`).
  pub=""
  for f in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    [ -f "$f" ] && pub=$f
  done
  [ -n "$pub" ] || { echo "vagrant-image: vagrant's keys/vagrant.pub not found: is vagrant installed?" >&2; exit 1; }
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp -R "$context/." "$ctx/"
  cp "$pub" "$ctx/vagrant.pub"
  # Quiet unless it fails (the legacy builder's deprecation notice is noise here: buildx is not needed).
  if ! docker build -q --build-arg BASE="$BASE_IMAGE" -t "$IMAGE" "$ctx" >"$ctx/.log" 2>&1; then
    cat "$ctx/.log" >&2
    exit 1
  fi
  rm -rf "$ctx"
  trap - EXIT
  echo "$IMAGE"
}

case "${1:-all}" in
  rootfs) rootfs ;;
  build) build ;;
  all) rootfs >/dev/null && build ;;
  *) echo "usage: scripts/vagrant-image.sh [rootfs|build]" >&2; exit 2 ;;
esac

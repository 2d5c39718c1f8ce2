#!/bin/sh
# Provisioning of an orch test machine, for every provider (run as root by Vagrant's shell provisioner;
# safe to run again). On a VM (virtualbox, libvirt) it installs what orch's tasks need from Debian's
# repositories; the docker provider's image has it all already. Then it makes sure dockerd and Open
# vSwitch run, and imports the probe image orchlab/busybox:latest from busybox-static (no registry: the
# inventory says container_pull=never).
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="docker.io openvswitch-switch iproute2 iptables ethtool iputils-ping iputils-arping busybox-static tcpdump"
IMAGE=orchlab/busybox:latest

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "provision: installing$missing"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

systemctl enable --now docker openvswitch-switch
i=0
until docker version >/dev/null 2>&1; do
  i=$((i+1)); [ $i -gt 120 ] && { echo "provision: dockerd does not answer" >&2; exit 1; }
  sleep 0.5
done

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" -cf - . | docker import --change 'CMD ["sh"]' - "$IMAGE" >/dev/null
  echo "provision: imported $IMAGE"
fi
echo "provision: $(hostname) ready: docker $(docker version -f '{{.Server.Version}}'), $(ovs-vsctl --version | head -n 1)"

#!/bin/sh
# The root filesystem of the booted lab's hosts (npm run lab:up -- --boot): Debian 12 with systemd as
# PID 1, sshd, docker.io, openvswitch-switch, wireguard-tools + wireguard-go (this kernel has no WireGuard
# module: the wireguard strategy runs wireguard-go over /dev/net/tun) and four network managers
# (systemd-networkd, NetworkManager, netplan.io, ifupdown), none of them enabled: lab:up enables one per host.
#
#   scripts/boot-image.sh         print the image directory, building it first if it is not cached
#
# Cached as a directory under $ORCH_LAB_IMAGES (default /var/cache/orch-lab), keyed by the hash of this
# script (which holds the package list), so every checkout on the machine shares one image and a changed
# package list builds a new one. Downloaded .debs stay in $ORCH_LAB_IMAGES/debs. Once built, lab:up needs
# no network. The mirror is the machine's own (first URIs of /etc/apt/sources.list.d/debian.sources, else
# deb.debian.org); ORCH_DEBIAN_MIRROR overrides it.
#
# Package scripts of the second stage run chrooted in fresh network, mount and pid namespaces with a
# policy-rc.d that refuses every service start: nothing starts on the machine itself during the build.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${ORCH_LAB_IMAGES:-/var/cache/orch-lab}
SUITE=bookworm
PACKAGES="systemd systemd-sysv dbus libpam-systemd openssh-server sudo iproute2 iptables nftables
  ethtool iputils-ping iputils-arping procps kmod netbase tcpdump socat bridge-utils busybox-static tini
  docker.io openvswitch-switch network-manager netplan.io ifupdown wireguard-tools wireguard-go"

mirror() {
  if [ -n "${ORCH_DEBIAN_MIRROR:-}" ]; then echo "$ORCH_DEBIAN_MIRROR"; return; fi
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "${m:-http://deb.debian.org/debian}"
}

key=$(sha256sum < "$here/boot-image.sh" | cut -c1-12)
image="$cache/debian12-boot-$key"
if [ -f "$image/.orch-image" ]; then echo "$image"; exit 0; fi

[ "$(id -u)" = 0 ] || { echo "boot-image: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "boot-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
mkdir -p "$cache/debs"
# One build at a time on the machine: a second lab:up waits for the first one's image.
exec 9>"$cache/.build.lock"
flock 9
if [ -f "$image/.orch-image" ]; then echo "$image"; exit 0; fi
dir="$image.build.$$"
trap 'rm -rf "$dir"' EXIT
m=$(mirror)
t0=$(date +%s)
echo "boot-image: debootstrap $SUITE from $m into $image (first time only; a few minutes)" >&2
include=$(echo $PACKAGES | tr ' ' ',')
debootstrap --foreign --variant=minbase --cache-dir="$cache/debs" --include="$include" "$SUITE" "$dir" "$m" >&2
printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
chmod 755 "$dir/usr/sbin/policy-rc.d"
unshare --mount --net --pid --fork --kill-child --propagation private \
  chroot "$dir" /debootstrap/debootstrap --second-stage >&2

# What every host shares. Per-host files (hostname, hosts, resolv.conf, host key, the network manager's
# configuration and its enabled units) are written into each host's upper directory by lab:up.
unshare --mount --net --pid --fork --kill-child --propagation private chroot "$dir" /bin/sh -eu >&2 <<'IN'
# Nothing network-related or optional starts unless lab:up enables it for a host.
for u in NetworkManager.service NetworkManager-wait-online.service NetworkManager-dispatcher.service \
  networking.service systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service \
  docker.service docker.socket containerd.service openvswitch-switch.service \
  ovsdb-server.service ovs-vswitchd.service wpa_supplicant.service; do
  systemctl disable "$u" 2>/dev/null || true
done
systemctl enable ssh.service
# No consoles, no periodic jobs: lab hosts are headless and short-lived.
for u in console-getty.service getty@.service container-getty@.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer \
  systemd-tmpfiles-clean.timer; do
  systemctl mask "$u" 2>/dev/null || true
done
# Each host makes its own machine-id at first boot (an empty file is systemd's "first boot" marker).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d /var/log/journal
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > /etc/systemd/system/ssh.service.d/orch-lab-keygen.conf
# No DNS answers in the lab: a hostname lookup must not stall boot (ovs-record-hostname) or sshd.
printf 'UseDNS no\n' > /etc/ssh/sshd_config.d/orch-lab.conf
# /sys is read-only and there is no udevd in a container: udevadm trigger/settle (netplan apply,
# ifupdown hooks) would fail or wait; there is nothing for them to do.
cat > /usr/local/sbin/udevadm <<'UDEV'
#!/bin/sh
# orch lab: no udevd in this container (/sys is read-only); trigger and settle have nothing to do.
case "${1:-}" in trigger|settle) exit 0 ;; esac
exec /bin/udevadm "$@"
UDEV
chmod 755 /usr/local/sbin/udevadm
# OVS without the kernel module: the userspace datapath (bridges need datapath_type=netdev, as in the
# netns lab); ovs-ctl must not fail the unit trying to load the module.
printf 'OVS_CTL_OPTS="--no-record-hostname"\n' >> /etc/default/openvswitch-switch
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /var/log/*.log
IN
rm -f "$dir/usr/sbin/policy-rc.d"
printf 'deb %s %s main\n' "$m" "$SUITE" > "$dir/etc/apt/sources.list"
echo "$key built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s" > "$dir/.orch-image"
mv "$dir" "$image"
trap - EXIT
echo "boot-image: built in $(( $(date +%s) - t0 )) s" >&2
echo "$image"

#!/bin/sh
# PID 1's child inside a lab host (network + mount + uts + pid namespaces, see src/lab/host.ts).
# Gives the host its own view of the machine, then starts its services. Arguments come as environment:
#   LAB_STATE  per-host state dir on the controller's filesystem (upper dirs, keys, logs)
#   LAB_NAME   hostname
#   LAB_BIN    dir holding the systemctl stand-in
#   LAB_DOCKER / LAB_OVS   1 to start dockerd / Open vSwitch
#   LAB_IMAGE  busybox rootfs tarball to import into dockerd
#   LAB_OVERLAYS  top-level dirs given a copy-on-write view (etc var usr ...)
set -eu
# The lab's own files may live under a path this host is about to mount over (a checkout in /tmp or
# /root): hold them open and reach them through /proc/self/fd from here on.
exec 7<"$LAB_STATE" 6<"$LAB_BIN"
S=/proc/self/fd/7
fail() { echo "$*" > "$S/failed"; exit 1; }
trap 'fail "host-init failed at line $LINENO"' EXIT
exec > "$S/init.log" 2>&1
if [ -n "${LAB_IMAGE:-}" ]; then exec 5<"$LAB_IMAGE"; fi

hostname "$LAB_NAME"

# Mounts under /run inherited from the machine (notably /run/netns/*) would keep other labs' namespaces
# alive; drop them, then give the host a /run of its own.
for m in $(awk '$2 ~ "^/run/" {print $2}' /proc/self/mounts | sort -r); do umount -l "$m" || true; done
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/lock

# A sysfs for this network namespace, so /sys/class/net lists the host's own interfaces;
# cgroups are bound back in for dockerd.
mkdir -p /run/.cg
mount --rbind /sys/fs/cgroup /run/.cg
mount -t sysfs sysfs /sys
mount --move /run/.cg /sys/fs/cgroup
rmdir /run/.cg

# /etc, /var, /usr, /opt, /srv, /home, /mnt are copy-on-write views of the machine's (LAB_OVERLAYS):
# whatever a task writes there lands in this host's upper dir and never on the machine.
for d in $LAB_OVERLAYS; do
  mkdir -p "$S/$d.upper" "$S/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$(readlink -f "$S/$d.upper"),workdir=$(readlink -f "$S/$d.work")" "/$d"
done
# dockerd's overlay2 cannot sit on overlayfs: /var/lib/docker is a plain directory.
mkdir -p "$S/docker" "$S/root" /var/lib/docker
mount --bind "$S/docker" /var/lib/docker
# The systemctl stand-in comes first in PATH (/usr/local/sbin): hosts have no systemd.
mount --bind /proc/self/fd/6 /usr/local/sbin
mount --bind "$S/root" /root
mount -t tmpfs -o mode=1777 tmpfs /tmp

ip link set lo up
/usr/sbin/sshd -f /etc/ssh/sshd_config

if [ "${LAB_OVS:-0}" = 1 ]; then systemctl start openvswitch-switch || fail "openvswitch did not start"; fi
if [ "${LAB_DOCKER:-0}" = 1 ]; then
  systemctl start docker || fail "dockerd did not start: $(tail -n 5 /var/log/dockerd.log)"
  if ! docker image inspect orchlab/busybox:latest >/dev/null 2>&1; then
    docker import --change 'CMD ["sh"]' - orchlab/busybox:latest <&5 >/dev/null || fail "image import failed"
  fi
fi

trap - EXIT
echo ok > "$S/ready"
exec 5<&- 6<&- 7<&-
exec sleep infinity

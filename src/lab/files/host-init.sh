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
fail() { echo "$*" > "$LAB_STATE/failed"; exit 1; }
trap 'fail "host-init failed at line $LINENO"' EXIT
exec > "$LAB_STATE/init.log" 2>&1

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
  mkdir -p "$LAB_STATE/$d.upper" "$LAB_STATE/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$LAB_STATE/$d.upper,workdir=$LAB_STATE/$d.work" "/$d"
done
# dockerd's overlay2 cannot sit on overlayfs: /var/lib/docker is a plain directory.
mkdir -p "$LAB_STATE/docker" /var/lib/docker
mount --bind "$LAB_STATE/docker" /var/lib/docker
mkdir -p "$LAB_STATE/root"
mount --bind "$LAB_STATE/root" /root
mount -t tmpfs -o mode=1777 tmpfs /tmp
# The systemctl stand-in comes first in PATH (/usr/local/sbin): hosts have no systemd.
mount --bind "$LAB_BIN" /usr/local/sbin

ip link set lo up
/usr/sbin/sshd -f /etc/ssh/sshd_config

if [ "${LAB_OVS:-0}" = 1 ]; then systemctl start openvswitch-switch || fail "openvswitch did not start"; fi
if [ "${LAB_DOCKER:-0}" = 1 ]; then
  systemctl start docker || fail "dockerd did not start: $(tail -n 5 /var/log/dockerd.log)"
  if ! docker image inspect orchlab/busybox:latest >/dev/null 2>&1; then
    docker import --change 'CMD ["sh"]' "$LAB_IMAGE" orchlab/busybox:latest >/dev/null || fail "image import failed"
  fi
fi

trap - EXIT
echo ok > "$LAB_STATE/ready"
exec sleep infinity

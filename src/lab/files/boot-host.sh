#!/bin/sh
# Supervisor of one booted lab host (src/lab/boot.ts): boots the host's systemd with systemd-nspawn,
# again and again while a reboot is asked for. Every boot gets a fresh network namespace (links,
# addresses, routes, iptables, sysctls are gone, as after a power cycle) and a fresh overlay mount of
# the shared image under the host's persistent upper directory (/etc and /var stay). Environment:
#   LAB_STATE  per-host state dir (upper/, work/, root/, docker/, logs)
#   LAB_IMAGE_DIR  the shared read-only root filesystem (scripts/boot-image.sh)
#   LAB_NS LAB_SWITCH LAB_PEER LAB_MAC  the host's netns, the LAN switch netns, eth0's peer there, eth0's MAC
#   LAB_BRIDGE                          the host's LAN bridge in the switch netns (lan, lan2, ...)
#   LAB_CGROUP  the host's own cgroup (name), under /sys/fs/cgroup/{systemd,unified}
#   LAB_OVS  1: segment GSO/TSO frames on the switch side (the OVS userspace datapath drops them)
# A reboot is: $LAB_STATE/restart exists when systemd-nspawn ends (the lab made the host power off or
# killed its PID 1), or nspawn exits 133 (the host ran `reboot` itself). Anything else ends the loop.
set -u
S=$LAB_STATE
log() { echo "$(date -u +%T.%N | cut -c1-12) $*" >> "$S/supervisor.log"; }

# systemd-nspawn --keep-unit makes payload/ and supervisor/ cgroups inside its caller's cgroup: never
# let that be a hierarchy root or another host's cgroup.
for h in systemd unified; do
  mkdir -p "/sys/fs/cgroup/$h/$LAB_CGROUP" && echo $$ > "/sys/fs/cgroup/$h/$LAB_CGROUP/cgroup.procs" ||
    { log "cannot join cgroup $h/$LAB_CGROUP"; exit 1; }
done

boot=0
while :; do
  boot=$((boot + 1))
  rm -f "$S/restart"
  ip netns del "$LAB_NS" 2>/dev/null
  ip -n "$LAB_SWITCH" link del "$LAB_PEER" 2>/dev/null
  if ! { ip netns add "$LAB_NS" &&
    ip link add eth0 address "$LAB_MAC" netns "$LAB_NS" type veth peer name "$LAB_PEER" netns "$LAB_SWITCH" &&
    ip -n "$LAB_SWITCH" link set "$LAB_PEER" master "${LAB_BRIDGE:-lan}" up &&
    # A new namespace here inherits ip_forward=1; a real host boots with 0.
    nsenter --net="/run/netns/$LAB_NS" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'; } 2>>"$S/supervisor.log"; then
    log "boot $boot: cannot make the network namespace"
    exit 1
  fi
  [ "${LAB_OVS:-0}" = 1 ] && nsenter --net="/run/netns/$LAB_SWITCH" ethtool -K "$LAB_PEER" tso off gso off >/dev/null 2>&1
  log "boot $boot"
  echo "$boot" > "$S/boot.count"
  # The overlay is mounted in a mount namespace of its own: it goes away with nspawn, whatever ends it.
  unshare --mount --propagation private /bin/sh -c '
    set -e
    mount -t overlay overlay -o "lowerdir=$LAB_IMAGE_DIR,upperdir=$LAB_STATE/upper,workdir=$LAB_STATE/work" "$LAB_STATE/root"
    exec systemd-nspawn --quiet --boot --register=no --keep-unit --console=read-only \
      --directory="$LAB_STATE/root" --machine="$LAB_NS" --network-namespace-path="/run/netns/$LAB_NS" \
      --capability=all --system-call-filter="@keyring bpf" --bind=/dev/net/tun \
      --bind="$LAB_STATE/docker:/var/lib/docker" --resolv-conf=off --timezone=off --link-journal=no' \
    >> "$S/console.log" 2>&1 < /dev/null
  rc=$?
  log "boot $boot ended: exit $rc"
  [ "$rc" = 133 ] || [ -e "$S/restart" ] || break
done
ip netns del "$LAB_NS" 2>/dev/null
log "stopped"

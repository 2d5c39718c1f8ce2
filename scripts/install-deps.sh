#!/bin/sh
# Installs the Debian packages listed in scripts/apt-packages.txt that are not installed yet.
# Called by .ci/run and by the test set-up; safe to run again (does nothing when all are there).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^#' "$here/apt-packages.txt" | grep -v '^ *$')
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages:$missing (run this script as root)" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No services are started by the packages on a machine without systemd; the lab starts its own.
apt-get install -y -qq --no-install-recommends $missing >/dev/null

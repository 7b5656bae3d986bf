#!/usr/bin/env bash
# What `standby run` uses on a host (as root, from Debian's packages): iproute2 (routes, addresses, link
# events), fping (ICMP probes in one long-running process), arping (address announcements).
set -euo pipefail
PACKAGES=(iproute2 fping arping)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "runtime-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

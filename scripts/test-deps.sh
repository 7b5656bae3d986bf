#!/usr/bin/env bash
# Installs the Debian packages the tests use (as root): network namespaces and routes (iproute2), probes
# (iputils-ping, fping), address announcements (arping), fault injection (nftables), HTTP checks (curl), a BMC
# (openipmi's ipmi_sim, read by ipmitool) and smartctl (smartmontools: its --scan and exit-status behaviour).
# Idempotent and quick when everything is there already.
set -euo pipefail

PACKAGES=(iproute2 iputils-ping fping arping nftables procps curl openipmi ipmitool smartmontools)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

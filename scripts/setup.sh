#!/usr/bin/env bash
# Installs what standby needs to build and run on Debian: Node.js >= 20 and the npm dependencies.
# Idempotent; run from anywhere. Later issues add the test peers (snmpd, ipmi_sim, influxd) here.
set -euo pipefail
cd "$(dirname "$0")/.."

# The official Node build (and Debian's) trusts only its own CA list; behind a proxy with its own CA (corporate
# networks: its CA in /usr/local/share/ca-certificates), the system's store is what npm must use, from the first
# npm call on (the one that fetches Node 20) — called again once apt has installed ca-certificates.
use_system_cas() {
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
}
use_system_cas

need_node() {
  command -v node >/dev/null 2>&1 || return 0
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -lt 20 ]
}

# Node.js 20 as a binary package from the npm registry (node-linux-<arch>, the official build), for
# distributions whose archive is older (Debian 12 ships Node 18). npm installs it under /usr/local, which comes
# before /usr/bin in PATH.
node_from_npm() {
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    armv7l) arch=armv7l ;;
    ppc64le) arch=ppc64le ;;
    s390x) arch=s390x ;;
    *) return 1 ;;
  esac
  echo "setup: $(node --version 2>/dev/null || echo no Node.js) is too old; installing Node.js 20 (node-linux-$arch) with npm" >&2
  use_system_cas
  npm install -g --no-audit --no-fund --loglevel=error "node-linux-$arch@20" >/dev/null
  # npm links node into "$(npm prefix -g)/bin" (/usr/local/bin); put it first even where PATH lacks it (cron).
  PATH="$(npm prefix -g)/bin:$PATH"
  export PATH
  hash -r
}

if need_node; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Node.js from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null
    if need_node && command -v npm >/dev/null 2>&1; then node_from_npm || true; fi
  fi
  if need_node; then
    echo "setup: standby needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
    echo "setup: install it from your distribution (Debian 13) or NodeSource, then run this again." >&2
    exit 1
  fi
fi

use_system_cas
# Exactly the locked dependency tree; skip when it is already in place.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

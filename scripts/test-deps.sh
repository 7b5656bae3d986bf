#!/usr/bin/env bash
# Installs the Debian packages the tests use (as root): network namespaces and routes (iproute2), probes
# (iputils-ping, fping), address announcements (arping), fault injection (nftables), HTTP checks (curl), a BMC
# (openipmi's ipmi_sim, read by ipmitool), smartctl (smartmontools: its --scan and exit-status behaviour), an SNMP
# agent (snmpd, whose simulated tables are a python3 pass_persist program; snmp's snmpget/snmptrap), snmpsim
# (many simulated agents for the SNMP benchmark) and InfluxDB 1.x (influxdb's influxd, for the influx sink and the
# Grafana dashboards' queries; influxdb-client's `influx` shell, to look at what a test wrote), Prometheus
# (its `promtool check metrics` parses and lints the daemon's /metrics text) and Chromium (the status web page's
# browser test drives it headless through the playwright-core devDependency, which downloads no browser) and etcd
# (etcd-server's etcd: fleet mode's tests start a private 3-member cluster on loopback; etcd-client's etcdctl) and
# openssl (the test CA and certificates of the TLS etcd).
# Idempotent and quick when everything is there already.
set -euo pipefail

PACKAGES=(iproute2 iputils-ping fping arping nftables procps curl openipmi ipmitool smartmontools snmpd snmp snmpsim python3
  influxdb influxdb-client prometheus chromium etcd-server etcd-client openssl)

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

# The tests run private snmpd, influxd and etcd instances on free loopback ports, and use only promtool of
# prometheus; a system service that this script just installed (Debian starts snmpd, influxdb on every address at
# port 8086, prometheus at port 9090, and etcd-server's etcd on 2379/2380, on install) is not what the user asked
# for: stop and disable it again. (Where policy-rc.d forbids starting services, none was started.)
for p in "${missing[@]}"; do
  case "$p" in
    snmpd) unit=snmpd ;;
    influxdb) unit=influxdb ;;
    prometheus) unit=prometheus ;;
    etcd-server) unit=etcd ;;
    *) continue ;;
  esac
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  fi
done

#!/usr/bin/env bash
# Runs standby on this host with the shipped configuration. Until the daemon lands (`standby run`), this
# validates the shipped config and rules and simulates a failover and failback on the shipped example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
standby=(node dist/src/cli/main.js)
"${standby[@]}" check --config etc/standby.yaml
"${standby[@]}" simulate --config examples/uplink/standby.yaml --trace examples/uplink/trace.jsonl --quiet rule

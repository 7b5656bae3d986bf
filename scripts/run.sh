#!/usr/bin/env bash
# Runs the monitor on this host with the shipped default config (etc/default.yaml): the os collector, the
# default gateway probed, the example rules, no switching actions. A readable live view of events goes to
# stdout, JSON logs to stderr (here: state/standby.log). `standby status` in another shell shows the groups.
# Needs root for 1 s ICMP probes only where ping is restricted; the default needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/node-path.sh
scripts/runtime-deps.sh
mkdir -p state
echo "standby: logs in state/standby.log, events in state/events.jsonl; Ctrl-C stops" >&2
# The V8 options the service runs with (scripts/node-options: a young generation of 2 × 4 MB, BENCHMARKS.md "SNMP").
NODE_OPTIONS="$(cat scripts/node-options) ${NODE_OPTIONS:-}"
export NODE_OPTIONS
exec node dist/src/cli/main.js run --config etc/default.yaml --view "$@" 2>>state/standby.log

#!/usr/bin/env bash
# The whole test suite, as the README and .ci/run run it: set-up, lint, type check, tests.
# Prints a closing line "N passed, N failed, N skipped" and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
. scripts/node-path.sh
scripts/test-deps.sh
npm run --silent lint

report=$(mktemp)
# Every temporary file and directory of the run (state dirs, sockets, simulated agents' files) in one directory,
# removed at the end: a test run leaves nothing behind in /tmp, even when a test fails before its own cleanup.
run_tmp=$(mktemp -d /tmp/standby-test.XXXXXX)
trap 'rm -f "$report"; rm -rf "$run_tmp"' EXIT
status=0
TMPDIR="$run_tmp" npx vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  if (r.numTotalTests === 0) { console.log("no tests ran"); process.exit(1); }
  // A skipped test is never silent: name each one (under CI=true nothing should skip).
  for (const f of r.testResults)
    for (const t of f.assertionResults)
      if (t.status === "pending" || t.status === "skipped" || t.status === "todo")
        console.log(`skipped: ${f.name.replace(process.cwd() + "/", "")} > ${t.fullName}`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || status=1
exit "$status"

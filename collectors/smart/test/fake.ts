/**
 * Test helpers: a shell script standing in for smartctl (it prints a capture and exits with a chosen status,
 * answers `--scan -j`, can hang), and a collector context that records what is logged.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CollectorContext } from "../../../src/collector.js";
import { collectorContext, type Logged } from "../../../test/helpers.js";

export type { Logged };

export const FIX = join(import.meta.dirname, "../testcases");
export const TS = 1764100000000;

/** A collector context that records what is logged. */
export function context(now: () => number = () => TS): { ctx: CollectorContext; logged: Logged[] } {
  return collectorContext(now);
}

/** What the fake prints for one device: a capture (a file in testcases/ or a text), its exit status, or a hang. */
export interface FakeDevice {
  readonly file?: string;
  readonly text?: string;
  readonly exit?: number;
  readonly hang?: boolean;
  /** Seconds to sleep before answering. */
  readonly delay?: number;
}

export interface Fake {
  readonly dir: string;
  readonly path: string;
  /** Every command line the fake was called with, in order (`--scan -j`, `-j -a -n standby -d sat /dev/sda`). */
  calls(): string[];
  /** `start DEV` / `end DEV` lines, in order. */
  events(): string[];
  cleanup(): void;
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Writes an executable `smartctl` into a new temp dir. `devices` is keyed `TYPE|DEV` (`|/dev/sda` without -d,
 * `megaraid,0|/dev/bus/0`); a device not listed gets smartctl's "Unable to detect device type" (exit 1).
 */
export function fakeSmartctl(opts: { scan?: FakeDevice; devices: Record<string, FakeDevice> }): Fake {
  const dir = mkdtempSync(join(tmpdir(), "sb-smart-"));
  const log = join(dir, "calls.log");
  const events = join(dir, "events.log");
  const answer = (d: FakeDevice, i: string): string => {
    const file = d.file ? join(FIX, d.file) : d.text !== undefined ? join(dir, `out-${i}`) : undefined;
    if (d.text !== undefined) writeFileSync(file!, d.text);
    return [
      d.delay ? `sleep ${d.delay}` : "",
      d.hang ? "sleep 30" : "",
      file ? `cat ${q(file)}` : "",
      `exit ${d.exit ?? 0}`,
    ]
      .filter(Boolean)
      .join("; ");
  };
  const cases = Object.entries(opts.devices)
    .map(([k, d], i) => `  ${q(k)}) ${answer(d, String(i))};;`)
    .join("\n");
  const script = `#!/bin/sh
echo "$*" >> ${q(log)}
if [ "$1" = "--scan" ]; then
  ${opts.scan ? answer(opts.scan, "scan") : `echo '{"smartctl":{"exit_status":0}}'; exit 0`}
fi
dev=""; type=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) type="$2"; shift 2;;
    -n) shift 2;;
    -*) shift;;
    *) dev="$1"; shift;;
  esac
done
echo "start $dev" >> ${q(events)}
trap 'echo "end $dev" >> ${q(events)}' EXIT
case "$type|$dev" in
${cases}
  *) printf '{"smartctl":{"messages":[{"string":"%s: Unable to detect device type","severity":"error"}],"exit_status":1}}\\n' "$dev"; exit 1;;
esac
`;
  const path = join(dir, "smartctl");
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  const lines = (f: string) => {
    try {
      return readFileSync(f, "utf8").split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  return {
    dir,
    path,
    calls: () => lines(log),
    events: () => lines(events),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function fixture(name: string): string {
  return readFileSync(join(FIX, name), "utf8");
}

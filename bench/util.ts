/**
 * Shared by the fleet benchmarks (bench/ipmi*.ts, bench/snmp*.ts): distributions, the real daemon started as a
 * process of its own with its stderr kept whole, and a summary of what it logged.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAIN, ROOT, RunningDaemon } from "../test/e2e/daemon-harness.js";

export interface Dist {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank quantiles (p95 of 30 values is the 29th). */
export function dist(xs: readonly number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0)
    return { n: 0, min: Number.NaN, p50: Number.NaN, p95: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    min: r(s[0]!),
    p50: r(q(0.5)),
    p95: r(q(0.95)),
    max: r(s.at(-1)!),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

export function fmtDist(d: Dist, unit = "ms"): string {
  return `p50 ${d.p50} ${unit}, p95 ${d.p95} ${unit}, min ${d.min}, max ${d.max} (n=${d.n})`;
}

/** Rounds to 3 decimals (figures in the results file). */
export const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The V8 options the daemon runs with in production (`scripts/node-options`, which the systemd unit and
 * scripts/run.sh use); `BENCH_NODE_OPTIONS` replaces them (`BENCH_NODE_OPTIONS=` measures V8's defaults).
 */
export function daemonNodeOptions(): string {
  return process.env.BENCH_NODE_OPTIONS ?? readFileSync(join(ROOT, "scripts", "node-options"), "utf8").trim();
}

/** The daemon (`node [nodeArgs] dist/src/cli/main.js run --config FILE`), its stderr also kept as one text. */
export class BenchDaemon extends RunningDaemon {
  stderrText = "";

  constructor(configFile: string, stateDir: string, nodeArgs: readonly string[] = []) {
    const child = spawn(process.execPath, [...nodeArgs, MAIN, "run", "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        NODE_OPTIONS: `${daemonNodeOptions()} ${process.env.NODE_OPTIONS ?? ""}`.trim(),
      },
    });
    super(child, stateDir);
    // RunningDaemon splits each chunk on its own (a line can span two chunks): keep the raw text as well
    child.stderr?.on("data", (x: string) => {
      this.stderrText += x;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }
}

export interface DaemonLogSummary {
  /** JSON log lines a second within [from, to) */
  readonly linesPerSecond: number;
  /** rule "forgotten" lines a second */
  readonly forgottenPerSecond: number;
  /** lines at level warn or above */
  readonly warnings: number;
  /** the first distinct warnings (message: err) */
  readonly distinct: string[];
  /** what the daemon printed that is not a JSON log line (Node's own warnings), over the whole run */
  readonly nodeWarnings: string[];
}

/** What the daemon logged between `from` and `to` (wall ms). */
export function summarizeLog(stderr: string, from: number, to: number): DaemonLogSummary {
  const json: { level?: number; msg?: string; err?: string; time?: string }[] = [];
  const nodeWarnings: string[] = [];
  for (const l of stderr.split("\n").filter(Boolean)) {
    try {
      json.push(JSON.parse(l));
    } catch {
      nodeWarnings.push(l.slice(0, 300));
    }
  }
  const span = json.filter((x) => {
    const t = Date.parse(x.time ?? "");
    return t >= from && t < to;
  });
  const warnings = span.filter((x) => (x.level ?? 0) >= 40);
  const s = (to - from) / 1000;
  return {
    linesPerSecond: r3(span.length / s),
    forgottenPerSecond: r3(span.filter((x) => / forgotten: /.test(x.msg ?? "")).length / s),
    warnings: warnings.length,
    distinct: [...new Set(warnings.map((w) => `${w.msg}${w.err ? `: ${w.err}` : ""}`))].slice(0, 5),
    nodeWarnings: [...new Set(nodeWarnings)].slice(0, 5),
  };
}

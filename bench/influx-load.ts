/**
 * The load of the influx benchmark (bench/influx*.ts): 1,000 series shaped like the snmp collector's `if` profile
 * (50 switches × 4 interfaces × 5 metrics; the tags host, collector, target, ifIndex, ifName; counters of 10–13
 * digits, `oper_status` a component state with its `state` string), one sample of each every 10 s of sample time;
 * the same samples as line protocol bodies (the sink's own encoder) for the raw reference, sent by plain
 * `node:http` one request at a time; and counting what influxd holds.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type { Labels, Sample } from "../src/engine/types.js";
import { SampleEncoder } from "../src/sinks/influx/line.js";
import type { Influxd } from "../test/peers/influxd.js";

export const SERIES_PER_STEP = 1000;
export const STEP_MS = 10_000;

const METRICS = [
  "snmp.if.oper_status",
  "snmp.if.in_octets",
  "snmp.if.out_octets",
  "snmp.if.in_errors",
  "snmp.if.out_errors",
] as const;

export interface Series {
  readonly metric: string;
  readonly labels: Labels;
  readonly base: number;
}

/** 50 switches × 4 interfaces × 5 metrics: 1,000 series, one frozen label object each (as collectors keep them). */
export function makeSeries(): Series[] {
  const out: Series[] = [];
  for (let sw = 0; sw < 50; sw++) {
    for (let i = 1; i <= 4; i++) {
      const labels = Object.freeze({
        host: "bench-influx",
        collector: `sw-${String(sw).padStart(3, "0")}`,
        target: `10.0.${sw}.1:161`,
        ifIndex: String(i),
        ifName: `Gi0/${i}`,
      });
      METRICS.forEach((metric, m) => {
        out.push({ metric, labels, base: m === 1 || m === 2 ? 1e12 + sw * 1e9 + i * 1e7 : 0 });
      });
    }
  }
  return out;
}

/** The samples of step `k` (one of each series), at `t0 + k × 10 s` (wall ms; `ts` as the collectors'). */
export function stepSamples(series: readonly Series[], k: number, t0: number): Sample[] {
  const ts = t0 + k * STEP_MS;
  const out: Sample[] = new Array(series.length);
  for (let j = 0; j < series.length; j++) {
    const s = series[j]!;
    if (s.metric === "snmp.if.oper_status")
      out[j] = { ts, metric: s.metric, labels: s.labels, value: 0, state: "ok" };
    else out[j] = { ts, metric: s.metric, labels: s.labels, value: s.base + k * (1237 + j) };
  }
  return out;
}

/** The same points as the sink writes them, in bodies of `batch` lines (built before any timing). */
export function lineBodies(series: readonly Series[], steps: number, t0: number, batch: number): string[] {
  const enc = new SampleEncoder();
  const bodies: string[] = [];
  let lines: string[] = [];
  for (let k = 0; k < steps; k++) {
    for (const s of stepSamples(series, k, t0)) {
      lines.push(enc.encode(s, s.ts)!);
      if (lines.length === batch) {
        bodies.push(`${lines.join("\n")}\n`);
        lines = [];
      }
    }
  }
  if (lines.length) bodies.push(`${lines.join("\n")}\n`);
  return bodies;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** POST /write of one body (precision ns), one keep-alive connection; rejects unless influxd answers 204. */
export function rawWrite(url: string, db: string, body: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/write?db=${encodeURIComponent(db)}&precision=ns`,
      {
        method: "POST",
        agent,
        headers: { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          clearTimeout(timer);
          if (res.statusCode === 204) resolve();
          else reject(new Error(`influxd answered ${res.statusCode}: ${text.slice(0, 300)}`));
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer to a write within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

/** Closes the raw reference's keep-alive connection (at the end of the benchmark). */
export function closeRawAgent(): void {
  agent.destroy();
}

/**
 * Points in a database, per measurement: the largest count of any of its fields (every point has at least one
 * field, so it is the exact count when one field is in every point — `value` for samples, e.g. `members` for
 * `standby_group`).
 */
export async function countPoints(influxd: Influxd, db: string): Promise<Record<string, number>> {
  const res = await influxd.query("SELECT count(*) FROM /.*/", db, { timeoutMs: 60_000 });
  const out: Record<string, number> = {};
  for (const s of res[0]?.series ?? []) {
    const row = s.values[0] ?? [];
    out[s.name] = Math.max(0, ...row.slice(1).map((x) => (typeof x === "number" ? x : 0)));
  }
  return out;
}

export const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The host's CPU time so far, busy and total (all CPUs, /proc/stat's first line; jiffies). */
export function hostCpu(): { busy: number; total: number } {
  const x = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = x.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - x[3]! - x[4]!, total };
}

/** % of one core the whole host was busy between two readings (idle and iowait are not busy). */
export function hostBusyPercent(
  a: { busy: number; total: number },
  b: { busy: number; total: number },
  cores: number,
): number {
  return ((b.busy - a.busy) / (b.total - a.total)) * 100 * cores;
}

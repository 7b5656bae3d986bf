/**
 * The influx sink benchmark (issue 10): points/s into a private influxd through the sink, against the same line
 * protocol POSTed raw (target ≥ 100,000 points/s; bench/influx-sink.ts), the spool's rates on disk — spilling
 * while influxd is down, replaying once it is back (bench/influx-spool.ts) — and the daemon's extra CPU and RSS
 * for the sink under a realistic load (bench/influx-daemon.ts). One influxd (test/peers/influxd.ts) for all of it,
 * its data under a `sb-bench-influxd-` temp dir. Says "skipped: ..." without influxd (the daemon part also
 * without dist/ or snmpsimd). Settings from the environment: BENCH_INFLUX_POINTS (per round, 1000000),
 * BENCH_INFLUX_ROUNDS (3), BENCH_INFLUX_BATCHES (the sink's batch_size variants, "1000,5000,20000"),
 * BENCH_INFLUX_RAW_BATCHES ("1000,5000,20000"), BENCH_INFLUX_CPU_PROF (1: one more sink round under the profiler; 0 to skip),
 * BENCH_INFLUX_SPOOL_POINTS (500000), BENCH_INFLUX_SPOOL_ROUNDS (4), BENCH_INFLUX_DAEMON_ROUNDS (3),
 * BENCH_INFLUX_WARMUP_MS (20000), BENCH_INFLUX_WINDOW_MS (20000), BENCH_INFLUX_WINDOWS (5),
 * BENCH_INFLUX_SKIP_THROUGHPUT, BENCH_INFLUX_SKIP_SPOOL, BENCH_INFLUX_SKIP_DAEMON.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertBuilt } from "../test/e2e/daemon-harness.js";
import { Influxd } from "../test/peers/influxd.js";
import { benchDaemon, type DaemonResult } from "./influx-daemon.js";
import { closeRawAgent } from "./influx-load.js";
import { benchThroughput, type ThroughputResult } from "./influx-sink.js";
import { benchSpool, type SpoolResult } from "./influx-spool.js";
import { snmpsimMissing } from "./snmp-sim.js";

const env = (name: string, def: number) => Number(process.env[name] ?? def);
const list = (name: string, def: string) => (process.env[name] ?? def).split(",").filter(Boolean).map(Number);

export interface InfluxBenchResult {
  readonly influxd: string;
  readonly throughput: ThroughputResult | string;
  readonly spool: SpoolResult | string;
  readonly daemon: DaemonResult | string;
}

function influxdVersion(influxd: Influxd): string {
  return /version[=\s"]+(v?[\d.]+)/.exec(influxd.logTail(200))?.[1] ?? "unknown";
}

export async function benchInflux(log: (l: string) => void): Promise<InfluxBenchResult | string> {
  const missing = Influxd.missing();
  if (missing !== undefined) return `skipped: ${missing}`;
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-influx-"));
  const influxd = new Influxd({ dir: mkdtempSync(join(tmpdir(), "sb-bench-influxd-")) });
  try {
    await influxd.start();
    const version = influxdVersion(influxd);
    log(`influx: influxd ${version} on ${influxd.url} (pid ${influxd.pid})`);
    let throughput: ThroughputResult | string = "skipped: BENCH_INFLUX_SKIP_THROUGHPUT is set";
    if (!process.env.BENCH_INFLUX_SKIP_THROUGHPUT) {
      const points = Math.round(env("BENCH_INFLUX_POINTS", 1_000_000) / 1000) * 1000;
      throughput = await benchThroughput(
        influxd,
        dir,
        {
          points,
          rounds: env("BENCH_INFLUX_ROUNDS", 3),
          sinkBatches: list("BENCH_INFLUX_BATCHES", "1000,5000,20000"),
          rawBatches: list("BENCH_INFLUX_RAW_BATCHES", "1000,5000,20000"),
          cpuProf: process.env.BENCH_INFLUX_CPU_PROF !== "0",
        },
        log,
      );
      reportThroughput(throughput, log);
    }
    let spool: SpoolResult | string = "skipped: BENCH_INFLUX_SKIP_SPOOL is set";
    if (!process.env.BENCH_INFLUX_SKIP_SPOOL) {
      spool = await benchSpool(
        influxd,
        dir,
        {
          points: Math.round(env("BENCH_INFLUX_SPOOL_POINTS", 500_000) / 1000) * 1000,
          rounds: env("BENCH_INFLUX_SPOOL_ROUNDS", 4),
        },
        log,
      );
      const m = spool.medians;
      log(
        `influx spool (median of ${spool.rounds} rounds): spilling ${m.spillPerSec.toLocaleString("en")} points/s into segments; replay ${m.replayLivePerSec.toLocaleString("en")} points/s once influxd answers again (first write ${m.waitS} s after SIGCONT), ${m.replayStartPerSec.toLocaleString("en")} points/s at start`,
      );
    }
    let daemon: DaemonResult | string = "skipped: BENCH_INFLUX_SKIP_DAEMON is set";
    if (!process.env.BENCH_INFLUX_SKIP_DAEMON) daemon = await daemonPart(influxd, log);
    if (typeof daemon !== "string") {
      const m = daemon.medians;
      log(
        `influx daemon (median of ${daemon.rounds} rounds): above the floor ${m.withoutPercent} % of a core without the sink, ${m.withPercent} % with it (difference ${m.diffPercent} %; a second daemon without it: ${m.controlDiffPercent} %); RSS ${m.withoutRssMb} MB and ${m.withRssMb} MB (control ${m.controlRssMb}); ${m.pointsPerSec} points/s written`,
      );
    } else log(`influx daemon ${daemon}`);
    return { influxd: version, throughput, spool, daemon };
  } finally {
    closeRawAgent();
    await influxd.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function daemonPart(influxd: Influxd, log: (l: string) => void): Promise<DaemonResult | string> {
  try {
    assertBuilt();
  } catch (err) {
    return `skipped: ${(err as Error).message}`;
  }
  const sim = snmpsimMissing();
  if (sim !== undefined) return `skipped: ${sim}`;
  return benchDaemon(
    influxd,
    {
      rounds: env("BENCH_INFLUX_DAEMON_ROUNDS", 3),
      warmupMs: env("BENCH_INFLUX_WARMUP_MS", 20_000),
      windowMs: env("BENCH_INFLUX_WINDOW_MS", 20_000),
      windows: env("BENCH_INFLUX_WINDOWS", 5),
    },
    log,
  );
}

function reportThroughput(t: ThroughputResult, log: (l: string) => void): void {
  log(
    `influx throughput, median of ${t.rounds} rounds of ${t.points.toLocaleString("en")} points (making the samples: ${t.makeSamplesNsPerPoint} ns/point, subtracted from the sink's) — target ≥ 100,000 points/s:`,
  );
  for (const [v, m] of Object.entries(t.medians)) {
    const rates = t.runs.filter((r) => r.variant === v).map((r) => Math.round(r.pointsPerSec / 1000));
    log(
      `  ${v.padEnd(10)} ${m.pointsPerSec.toLocaleString("en").padStart(9)} points/s (rounds ${rates.join(" ")} k); this process ${m.benchNsPerPoint} ns/point, influxd ${m.influxdNsPerPoint} ns/point; others on the host ${m.othersPercent} % of a core`,
    );
  }
  for (const w of t.warnings) log(`  sink warning: ${w}`);
}

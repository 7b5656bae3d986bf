/**
 * Points/s into a private influxd through the influx sink, in this process: `InfluxSink` (as the daemon builds it,
 * `flush_interval: 200ms`, the database made beforehand so the timed span is the steady state) fed the 1,000
 * `if`-shaped series of bench/influx-load.ts one step (1,000 samples) at a time, yielding to the event loop
 * between steps and holding back while more than 50,000 points are queued (half of `spool.memory_points`: the
 * memory path, nothing spilled). Timed from the first push to `status().written === total`; every round's
 * database is counted (all points there) and dropped. Interleaved in each round with the raw reference: the same
 * line protocol bodies, built before the timing (and dropped after it), POSTed one at a time over node:http. CPU: this process's
 * (`process.cpuUsage()`, minus the cost of making the Sample objects, measured alone), influxd's from
 * /proc/PID/task/*\/schedstat. With `cpuProf`, one more sink round runs under the V8 profiler (node:inspector)
 * and its top frames by self time are reported.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { influxSinkSchema } from "../src/sinks/influx/config.js";
import { InfluxSink } from "../src/sinks/influx/sink.js";
import type { Influxd } from "../test/peers/influxd.js";
import { cpuNs } from "./idle.js";
import {
  countPoints,
  hostBusyPercent,
  hostCpu,
  lineBodies,
  makeSeries,
  median,
  rawWrite,
  SERIES_PER_STEP,
  type Series,
  sleep,
  stepSamples,
  sum,
} from "./influx-load.js";
import { topFrames } from "./snmp-fleet.js";

export interface ThroughputOptions {
  /** Points per round (a multiple of 1,000). */
  readonly points: number;
  readonly rounds: number;
  readonly sinkBatches: readonly number[];
  readonly rawBatches: readonly number[];
  readonly cpuProf: boolean;
}

export interface ThroughputRun {
  readonly variant: string;
  readonly round: number;
  readonly points: number;
  readonly seconds: number;
  readonly pointsPerSec: number;
  /** This process's CPU per point, ns (for the sink: minus making the samples). */
  readonly benchNsPerPoint: number;
  readonly influxdNsPerPoint: number;
  /** influxd's CPU over the run, % of one core. */
  readonly influxdPercent: number;
  /** The whole host's CPU over the run, % of one core (of 100 × cores), and what is left of it besides this
   * process and influxd: other work on the VM (shared: it competes for the same cores). */
  readonly hostPercent: number;
  readonly othersPercent: number;
  /** Points counted in influxd afterwards. */
  readonly counted: number;
  /** The sink's most points on disk during the run (0: the memory path only) and its retried points. */
  readonly spooled?: number;
  readonly retried?: number;
}

export interface ThroughputResult extends ThroughputOptions {
  /** CPU of making the Sample objects alone, ns per point (subtracted from the sink's). */
  readonly makeSamplesNsPerPoint: number;
  readonly runs: ThroughputRun[];
  /** Per variant: medians over the rounds. */
  readonly medians: Record<
    string,
    {
      pointsPerSec: number;
      benchNsPerPoint: number;
      influxdNsPerPoint: number;
      hostPercent: number;
      othersPercent: number;
    }
  >;
  readonly warnings: string[];
  readonly profile?: ReturnType<typeof topFrames>;
}

const MAX_QUEUED = 50_000;

export const sinkLog = (warnings: string[]) => {
  const keep = (o: object, msg: string) => {
    if (warnings.length < 20) warnings.push(`${msg} ${JSON.stringify(o)}`);
  };
  return { info: () => {}, warn: keep, error: keep };
};

/** Sample time of every round: ends an hour ago (within the default retention policy, in one shard). */
function startOfSamples(points: number): number {
  return Date.now() - 3_600_000 - (points / SERIES_PER_STEP) * 10_000;
}

/** This process's CPU time (user + system), µs. */
export function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/** Feeds `steps` steps to the sink (at most MAX_QUEUED queued), then waits until `total` are written. */
async function feedAndDrain(
  sink: InfluxSink,
  series: readonly Series[],
  steps: number,
  t0: number,
): Promise<number> {
  let spooled = 0;
  for (let k = 0; k < steps; k++) {
    for (;;) {
      const s = sink.status();
      spooled = Math.max(spooled, s.spool_points);
      if (s.queue_points <= MAX_QUEUED) break;
      await sleep(1);
    }
    sink.samples(stepSamples(series, k, t0), 0);
    await tick();
  }
  const total = steps * SERIES_PER_STEP;
  const end = Date.now() + 120_000;
  while (sink.status().written < total) {
    if (Date.now() > end)
      throw new Error(`the sink wrote ${sink.status().written} of ${total} points in 120 s`);
    await sleep(2);
  }
  return spooled;
}

interface Ctx {
  readonly influxd: Influxd;
  readonly dir: string;
  readonly series: Series[];
  readonly warnings: string[];
}

type Measured = Omit<ThroughputRun, "variant" | "round" | "counted" | "benchNsPerPoint"> & {
  benchNs: number;
};

/** Runs `f` (which moves `points` points) and measures it: wall time, this process's, influxd's and the host's CPU. */
async function measured<T>(c: Ctx, points: number, f: () => Promise<T>): Promise<Measured & { out: T }> {
  const pid = c.influxd.pid!;
  const [u0, i0, h0, w0] = [cpuUs(), cpuNs(pid)!, hostCpu(), performance.now()];
  const out = await f();
  const [u1, i1, h1, w1] = [cpuUs(), cpuNs(pid)!, hostCpu(), performance.now()];
  const seconds = (w1 - w0) / 1000;
  return {
    points,
    seconds,
    pointsPerSec: points / seconds,
    benchNs: ((u1 - u0) * 1000) / points,
    influxdNsPerPoint: (i1 - i0) / points,
    influxdPercent: ((i1 - i0) / 1e6 / (w1 - w0)) * 100,
    hostPercent: hostBusyPercent(h0, h1, cpus().length),
    othersPercent:
      hostBusyPercent(h0, h1, cpus().length) -
      ((i1 - i0) / 1e6 / (w1 - w0)) * 100 -
      ((u1 - u0) / 1e3 / (w1 - w0)) * 100,
    out,
  };
}

async function sinkRun(c: Ctx, batch: number, points: number, db: string): Promise<Measured> {
  await c.influxd.createDatabase(db);
  const spec = influxSinkSchema.parse({
    url: c.influxd.url,
    database: db,
    batch_size: batch,
    flush_interval: "200ms",
    timeout: "10s",
    create_database: false,
  });
  const sink = new InfluxSink(spec, { host: "bench-influx", dir: join(c.dir, db), log: sinkLog(c.warnings) });
  await sink.start();
  try {
    const t0 = startOfSamples(points);
    const { out, ...m } = await measured(c, points, () =>
      feedAndDrain(sink, c.series, points / SERIES_PER_STEP, t0),
    );
    return { ...m, spooled: out, retried: sink.status().retried };
  } finally {
    await sink.close();
  }
}

async function rawRun(c: Ctx, batch: number, points: number, db: string): Promise<Measured> {
  // built before the timing, dropped after the run (not held in the heap through the sink's runs)
  const bodies = lineBodies(c.series, points / SERIES_PER_STEP, startOfSamples(points), batch);
  await c.influxd.createDatabase(db);
  const { out: _, ...m } = await measured(c, points, async () => {
    for (const b of bodies) await rawWrite(c.influxd.url, db, b);
  });
  return m;
}

/** Counts the round's database (every point must be there), then drops it (no compaction of old rounds later). */
async function countAndDrop(influxd: Influxd, db: string, points: number): Promise<number> {
  const counted = sum(await countPoints(influxd, db));
  await influxd.query(`DROP DATABASE "${db}"`, undefined, { timeoutMs: 60_000 });
  if (counted !== points) throw new Error(`influxd holds ${counted} points of ${points} in ${db}`);
  await sleep(500);
  return counted;
}

/** The CPU of making the Sample objects alone (the feeder's share of this process's CPU), ns per point. */
function makeSamplesCost(series: readonly Series[], points: number): number {
  const t0 = startOfSamples(points);
  const u0 = cpuUs();
  let n = 0;
  for (let k = 0; k < points / SERIES_PER_STEP; k++) n += stepSamples(series, k, t0).length;
  return ((cpuUs() - u0) * 1000) / n;
}

export async function benchThroughput(
  influxd: Influxd,
  dir: string,
  o: ThroughputOptions,
  log: (l: string) => void,
): Promise<ThroughputResult> {
  const c: Ctx = { influxd, dir, series: makeSeries(), warnings: [] };
  // warm-up (JIT, influxd's first shard): not counted
  await sinkRun(c, 5000, Math.min(o.points, 200_000), "warmup");
  await countAndDrop(influxd, "warmup", Math.min(o.points, 200_000));
  makeSamplesCost(c.series, o.points);
  const makeNs = makeSamplesCost(c.series, o.points);
  const runs: ThroughputRun[] = [];
  const variants = [
    ...o.rawBatches.map((b) => ({ name: `raw ${b}`, raw: true, batch: b })),
    ...o.sinkBatches.map((b) => ({ name: `sink ${b}`, raw: false, batch: b })),
  ];
  for (let round = 1; round <= o.rounds; round++) {
    // the order rotates every round, so no variant always runs first (or right after another one's drop)
    const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]!);
    for (const v of order) {
      const db = `tp_${round}_${v.raw ? "raw" : "sink"}_${v.batch}`;
      const r = v.raw ? await rawRun(c, v.batch, o.points, db) : await sinkRun(c, v.batch, o.points, db);
      const { benchNs, ...rest } = r;
      const run: ThroughputRun = {
        ...rest,
        variant: v.name,
        round,
        benchNsPerPoint: v.raw ? benchNs : benchNs - makeNs,
        counted: await countAndDrop(influxd, db, o.points),
      };
      runs.push(run);
      log(
        `influx throughput round ${round} ${v.name.padEnd(10)} ${Math.round(run.pointsPerSec).toLocaleString("en")} points/s (${run.seconds.toFixed(2)} s); this process ${Math.round(run.benchNsPerPoint)} ns/point, influxd ${Math.round(run.influxdNsPerPoint)} ns/point (${Math.round(run.influxdPercent)} % of a core; others on the host ${Math.round(run.othersPercent)} %)${run.spooled ? `; spooled ${run.spooled}` : ""}`,
      );
    }
  }
  const medians: ThroughputResult["medians"] = {};
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v.name);
    const m = (f: (r: ThroughputRun) => number) => Math.round(median(rs.map(f)));
    medians[v.name] = {
      pointsPerSec: m((r) => r.pointsPerSec),
      benchNsPerPoint: m((r) => r.benchNsPerPoint),
      influxdNsPerPoint: m((r) => r.influxdNsPerPoint),
      hostPercent: m((r) => r.hostPercent),
      othersPercent: m((r) => r.othersPercent),
    };
  }
  let profile: ThroughputResult["profile"];
  if (o.cpuProf) profile = await profiled(c, o.points, log);
  return {
    ...o,
    makeSamplesNsPerPoint: Math.round(makeNs),
    runs,
    medians,
    warnings: c.warnings,
    ...(profile ? { profile } : {}),
  };
}

/** One more sink round (batch 5000) under the V8 profiler: the top frames of this process by self time. */
async function profiled(
  c: Ctx,
  points: number,
  log: (l: string) => void,
): Promise<ReturnType<typeof topFrames>> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    const r = await sinkRun(c, 5000, points, "profiled");
    const { profile } = await session.post("Profiler.stop");
    await countAndDrop(c.influxd, "profiled", points);
    const file = join(c.dir, "sink.cpuprofile");
    writeFileSync(file, JSON.stringify(profile));
    const top = topFrames(file, 20);
    log(
      `influx throughput under the profiler: ${Math.round(r.pointsPerSec).toLocaleString("en")} points/s; ${(top.totalMs / 1000).toFixed(1)} s of CPU in this process, top frames by self time:`,
    );
    for (const x of top.top) log(`  ${x.percent.toFixed(1).padStart(5)} %  ${x.selfMs} ms  ${x.frame}`);
    return top;
  } finally {
    session.disconnect();
  }
}

/**
 * The influx sink's spool on disk: how fast it takes points while InfluxDB is down, and how fast it empties once
 * InfluxDB is back. In-process `InfluxSink` (batch 5000, `timeout: 1s`, `flush_interval: 200ms`, default
 * `memory_points` 100,000) against a private influxd:
 *
 * - **spill**: influxd SIGSTOPped (it accepts connections and answers nothing); a first write times out, the sink
 *   is `failing`, and from then every batch goes to a segment (temp file, fsync, rename, fsync of the directory).
 *   `points` samples are fed as in bench/influx-sink.ts (at most 50,000 queued in memory, so nothing is dropped);
 *   timed from the first push until every point is on disk (`spool_points`, nothing in memory).
 * - **replay, live** (odd rounds): influxd resumed; the same sink sends the segments after its backoff. Reported:
 *   the wait for the first write (the backoff) and the rate from the first write until the spool is empty and
 *   every point written.
 * - **replay at start** (even rounds): the sink closed, influxd resumed, a new sink on the same directory (a
 *   restarted daemon): timed from `start()` until the spool is empty.
 *
 * Every round's database is counted (every point there, none twice) and dropped.
 */
import { join } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { influxSinkSchema } from "../src/sinks/influx/config.js";
import { InfluxSink } from "../src/sinks/influx/sink.js";
import type { Influxd } from "../test/peers/influxd.js";
import {
  countPoints,
  makeSeries,
  median,
  SERIES_PER_STEP,
  type Series,
  sleep,
  stepSamples,
  sum,
} from "./influx-load.js";
import { cpuUs, sinkLog } from "./influx-sink.js";

export interface SpoolOptions {
  readonly points: number;
  readonly rounds: number;
}

export interface SpoolRun {
  readonly round: number;
  readonly replay: "live" | "start";
  readonly points: number;
  /** Points/s into segments, and this process's CPU per point while spilling, ns. */
  readonly spillPerSec: number;
  readonly spillNsPerPoint: number;
  readonly segments: number;
  readonly bytes: number;
  /** live: from SIGCONT to the first write (the backoff); start: 0. */
  readonly waitS: number;
  /** live: from the first write after SIGCONT; start: from start(); until every point is written. */
  readonly replaySeconds: number;
  readonly replayPerSec: number;
  readonly counted: number;
  readonly dropped: number;
}

export interface SpoolResult extends SpoolOptions {
  readonly runs: SpoolRun[];
  readonly medians: {
    spillPerSec: number;
    replayLivePerSec: number;
    replayStartPerSec: number;
    waitS: number;
  };
  readonly warnings: string[];
}

const MAX_QUEUED = 50_000;

const sinkFor = (influxd: Influxd, dir: string, db: string, warnings: string[]) =>
  new InfluxSink(
    influxSinkSchema.parse({
      url: influxd.url,
      database: db,
      batch_size: 5000,
      flush_interval: "200ms",
      timeout: "1s",
      create_database: false,
    }),
    { host: "bench-influx", dir, log: sinkLog(warnings) },
  );

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Feeds steps [from, to) (at most MAX_QUEUED points in memory). */
async function feed(
  sink: InfluxSink,
  series: readonly Series[],
  from: number,
  to: number,
  t0: number,
): Promise<void> {
  for (let k = from; k < to; k++) {
    while (sink.status().queue_points > MAX_QUEUED) await sleep(1);
    sink.samples(stepSamples(series, k, t0), 0);
    await tick();
  }
}

async function round(
  influxd: Influxd,
  dir: string,
  series: Series[],
  o: SpoolOptions,
  n: number,
  warnings: string[],
): Promise<SpoolRun> {
  const replay = n % 2 === 1 ? "live" : "start";
  const db = `spool_${n}`;
  const spoolDir = join(dir, db);
  await influxd.createDatabase(db);
  const steps = o.points / SERIES_PER_STEP;
  const total = steps * SERIES_PER_STEP + SERIES_PER_STEP; // + the step that makes the sink fail
  const t0 = Date.now() - 3_600_000 - (steps + 1) * 10_000;
  let sink = sinkFor(influxd, spoolDir, db, warnings);
  await sink.start();
  let paused = false;
  try {
    influxd.pause();
    paused = true;
    await feed(sink, series, 0, 1, t0);
    await until(() => sink.status().failing, 10_000, "the first write to fail");
    // spill
    const u0 = cpuUs();
    const w0 = performance.now();
    await feed(sink, series, 1, steps + 1, t0);
    await until(
      () => sink.status().spool_points === total && sink.status().queue_points === 0,
      120_000,
      "every point on disk",
    );
    const spillS = (performance.now() - w0) / 1000;
    const spillNs = ((cpuUs() - u0) * 1000) / (total - SERIES_PER_STEP);
    const disk = sink.status();
    // replay
    let waitS = 0;
    let replayS: number;
    let replayed = total;
    if (replay === "live") {
      const r0 = performance.now();
      influxd.resume();
      paused = false;
      await until(() => sink.status().written > 0, 60_000, "the first write after SIGCONT");
      const r1 = performance.now();
      const w1 = sink.status().written;
      await until(
        () => sink.status().written >= total && sink.status().spool_points === 0,
        300_000,
        "the spool to empty",
      );
      waitS = (r1 - r0) / 1000;
      replayS = (performance.now() - r1) / 1000;
      replayed = total - w1; // from the first write on
    } else {
      await sink.close();
      influxd.resume();
      paused = false;
      sink = sinkFor(influxd, spoolDir, db, warnings);
      const r0 = performance.now();
      await sink.start();
      await until(
        () => sink.status().written >= total && sink.status().spool_points === 0,
        300_000,
        "the spool to empty",
      );
      replayS = (performance.now() - r0) / 1000;
    }
    const dropped = sink.status().dropped;
    const counted = sum(await countPoints(influxd, db));
    await influxd.query(`DROP DATABASE "${db}"`, undefined, { timeoutMs: 60_000 });
    if (counted !== total) throw new Error(`influxd holds ${counted} points of ${total} in ${db}`);
    return {
      round: n,
      replay,
      points: total - SERIES_PER_STEP,
      spillPerSec: (total - SERIES_PER_STEP) / spillS,
      spillNsPerPoint: spillNs,
      segments: disk.spool_segments,
      bytes: disk.spool_bytes,
      waitS,
      replaySeconds: replayS,
      replayPerSec: replayed / replayS,
      counted,
      dropped,
    };
  } finally {
    if (paused) influxd.resume();
    await sink.close();
  }
}

export async function benchSpool(
  influxd: Influxd,
  dir: string,
  o: SpoolOptions,
  log: (l: string) => void,
): Promise<SpoolResult> {
  const series = makeSeries();
  const warnings: string[] = [];
  const runs: SpoolRun[] = [];
  for (let n = 1; n <= o.rounds; n++) {
    const r = await round(influxd, dir, series, o, n, warnings);
    runs.push(r);
    log(
      `influx spool round ${n}: spilled ${r.points.toLocaleString("en")} points at ${Math.round(r.spillPerSec).toLocaleString("en")}/s into ${r.segments} segments (${(r.bytes / 1e6).toFixed(1)} MB; ${Math.round(r.spillNsPerPoint)} ns CPU/point); replay ${r.replay === "live" ? `after SIGCONT (first write ${r.waitS.toFixed(2)} s later)` : "at start"} ${Math.round(r.replayPerSec).toLocaleString("en")} points/s (${r.replaySeconds.toFixed(2)} s); ${r.counted.toLocaleString("en")} in influxd, dropped ${r.dropped}`,
    );
    await sleep(500);
  }
  const m = (xs: SpoolRun[], f: (r: SpoolRun) => number) => Math.round(median(xs.map(f)));
  const live = runs.filter((r) => r.replay === "live");
  const start = runs.filter((r) => r.replay === "start");
  return {
    ...o,
    runs,
    medians: {
      spillPerSec: m(runs, (r) => r.spillPerSec),
      replayLivePerSec: m(live, (r) => r.replayPerSec),
      replayStartPerSec: m(start, (r) => r.replayPerSec),
      waitS: Math.round(median(live.map((r) => r.waitS)) * 100) / 100,
    },
    warnings,
  };
}

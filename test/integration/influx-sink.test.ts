/**
 * The influx sink against a real influxd (test/peers/influxd.ts): nothing lost in an outage (influxd SIGSTOPped
 * 10 s; stopped and restarted) while 5,000 points/s flow, none duplicated; a refused point set aside; the
 * schema as a real daemon writes it, with an event's reason (test/integration/influx-daemon.test.ts has the
 * daemon process and kill -9).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { influxSinkSchema } from "../../src/sinks/influx/config.js";
import { InfluxSink } from "../../src/sinks/influx/sink.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Influxd } from "../peers/influxd.js";
import { influxQuery } from "./influx-query.js";

const missing = Influxd.missing();
failInCiWhenMissing("influx sink against influxd", missing);

const log = { info: () => {}, warn: () => {}, error: () => {} };
const SERIES = 50;
const STEP_MS = 10; // 50 series every 10 ms: 5,000 points/s

/** Feeds the sink 50 series × one sample every 10 ms (wall time), until stopped; counts what it fed. */
function load(sink: InfluxSink, measurement: string) {
  let ts = Date.now();
  let fed = 0;
  const labels = Array.from({ length: SERIES }, (_, i) => Object.freeze({ host: "t", series: `s${i}` }));
  const t0 = Date.now();
  const timer = setInterval(() => {
    const batch = [];
    for (; ts + STEP_MS <= Date.now(); ts += STEP_MS) {
      for (const l of labels) batch.push({ ts, metric: measurement, labels: l, value: ts % 1000 });
    }
    fed += batch.length;
    sink.samples(batch, 0);
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return { fed, perSecond: fed / ((Date.now() - t0) / 1000) };
    },
  };
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(missing !== undefined)("influx sink against a real influxd", () => {
  let influxd: Influxd;
  let dir: string;

  beforeAll(async () => {
    influxd = new Influxd();
    await influxd.start();
    dir = mkdtempSync(join(tmpdir(), "sb-influx-sink-"));
  }, 30_000);

  afterAll(async () => {
    await influxd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const sinkFor = (db: string, sub: string) =>
    new InfluxSink(
      influxSinkSchema.parse({ url: influxd.url, database: db, timeout: "1s", flush_interval: "200ms" }),
      { host: "t", dir: join(dir, sub), log },
    );

  /** Every series has one point per 10 ms step it was fed: all present, none twice. */
  async function expectEveryPoint(db: string, measurement: string, fed: number): Promise<void> {
    const series = await influxQuery(
      influxd.url,
      db,
      `SELECT count("value") FROM "${measurement}" GROUP BY "series"`,
    );
    expect(series).toHaveLength(SERIES);
    const counts = series.map((s) => Number(s.values[0]![1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(fed);
    // Each series was fed the same steps.
    expect(new Set(counts).size).toBe(1);
  }

  async function drained(sink: InfluxSink, fed: number): Promise<void> {
    await until(
      () => {
        const s = sink.status();
        return s.queue_points === 0 && s.spool_points === 0 && s.written >= fed;
      },
      60_000,
      "the sink to write everything",
    );
  }

  it("influxd SIGSTOPped for 10 s while 5,000 points/s flow: every point is there afterwards, none twice", async () => {
    const sink = sinkFor("stop", "stop");
    await sink.start();
    const feed = load(sink, "load.stop");
    await new Promise((r) => setTimeout(r, 3000));
    influxd.pause();
    await new Promise((r) => setTimeout(r, 10_000));
    // Meanwhile the batches went to disk.
    expect(sink.status()).toMatchObject({ failing: true });
    expect(sink.status().spool_points).toBeGreaterThan(10_000);
    influxd.resume();
    await new Promise((r) => setTimeout(r, 3000));
    const { fed, perSecond } = feed.stop();
    expect(perSecond).toBeGreaterThanOrEqual(4500);
    await drained(sink, fed);
    await expectEveryPoint("stop", "load.stop", fed);
    expect(sink.status()).toMatchObject({ dropped: 0, dead_lettered: 0, failing: false });
    expect(sink.status().retried).toBeGreaterThan(0);
    await sink.close();
  }, 120_000);

  it("influxd stopped and restarted while 5,000 points/s flow: every point is there afterwards, none twice", async () => {
    const sink = sinkFor("restart", "restart");
    await sink.start();
    const feed = load(sink, "load.restart");
    await new Promise((r) => setTimeout(r, 3000));
    await influxd.stop();
    await new Promise((r) => setTimeout(r, 5000));
    await influxd.start();
    await new Promise((r) => setTimeout(r, 3000));
    const { fed } = feed.stop();
    await drained(sink, fed);
    await expectEveryPoint("restart", "load.restart", fed);
    expect(sink.status()).toMatchObject({ dropped: 0, dead_lettered: 0 });
    await sink.close();
  }, 120_000);

  it("a point InfluxDB refuses for good (a field type conflict) is set aside in dead-letter.lp; the others are written", async () => {
    await influxd.createDatabase("conflict");
    await influxd.write("conflict", 'conf,host=t value="a string" 1000000000');
    const sink = sinkFor("conflict", "conflict");
    await sink.start();
    sink.samples(
      [
        { ts: 1000, metric: "conf", labels: { host: "t" }, value: 1 },
        { ts: 1000, metric: "ok", labels: { host: "t" }, value: 2 },
      ],
      0,
    );
    await until(() => sink.status().dead_lettered > 0, 10_000, "the dead letter");
    expect(sink.status()).toMatchObject({ dead_lettered: 1, written: 1 });
    expect(readFileSync(join(dir, "conflict", "dead-letter.lp"), "utf8")).toMatch(/field type conflict/);
    const ok = await influxQuery(influxd.url, "conflict", 'SELECT "value" FROM "ok"');
    expect(ok[0]?.values).toEqual([[1_000_000_000, 2]]);
    await sink.close();
  }, 30_000);
});

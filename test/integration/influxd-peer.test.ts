/**
 * The InfluxDB test peer itself (test/peers/influxd.ts): a private influxd on a free loopback port that takes
 * writes and answers queries, hangs while paused (a request times out) and answers again once resumed, and keeps
 * its data and its port across a restart. Under CI=true a missing influxd fails the run instead of skipping.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Influxd } from "../peers/influxd.js";

const missing = Influxd.missing();
failInCiWhenMissing("influxd test peer", missing);

describe.skipIf(missing !== undefined)("influxd test peer", () => {
  const influxd = new Influxd();
  const t0 = BigInt(Date.now() - 60_000) * 1_000_000n;

  beforeAll(() => influxd.start(), 30_000);
  afterAll(() => influxd.destroy());

  const values = async () => {
    const r = await influxd.query('SELECT "value" FROM "probe.rtt_ms" ORDER BY time', "peer");
    return (r[0]?.series?.[0]?.values ?? []).map((row) => row[1]);
  };

  it("listens on loopback, takes line protocol and answers queries", async () => {
    expect(influxd.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(influxd.pid).toBeGreaterThan(0);
    await influxd.createDatabase("peer");
    await influxd.write(
      "peer",
      `probe.rtt_ms,host=h,target=a value=1.5 ${t0}\nprobe.rtt_ms,host=h,target=a value=2 ${t0 + 1n}`,
    );
    expect(await values()).toEqual([1.5, 2]);
    await expect(influxd.write("peer", "probe.rtt_ms,host=h value=1i")).rejects.toThrow(
      /400.*field type conflict/,
    );
    await expect(influxd.query("SELEC 1", "peer")).rejects.toThrow(/error parsing query/);
  });

  it("paused, a request times out; resumed, it answers again", async () => {
    influxd.pause();
    try {
      const t = Date.now();
      await expect(influxd.query("SHOW DATABASES", undefined, { timeoutMs: 300 })).rejects.toThrow(
        /timed out after 300 ms/,
      );
      expect(Date.now() - t).toBeLessThan(2000);
    } finally {
      influxd.resume();
    }
    expect(await values()).toEqual([1.5, 2]);
  });

  it("restart keeps the port and the data; stop keeps the directory", async () => {
    const { url, dir } = influxd;
    const pid = influxd.pid;
    await influxd.restart();
    expect(influxd.url).toBe(url);
    expect(influxd.pid).not.toBe(pid);
    expect(await values()).toEqual([1.5, 2]);
    await influxd.stop();
    expect(influxd.pid).toBeUndefined();
    expect(existsSync(dir)).toBe(true);
    await expect(influxd.query("SHOW DATABASES", undefined, { timeoutMs: 1000 })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await influxd.start();
    expect(await values()).toEqual([1.5, 2]);
  }, 60_000);
});

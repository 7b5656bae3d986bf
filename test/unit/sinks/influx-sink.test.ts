import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { influxSinkSchema } from "../../../src/sinks/influx/config.js";
import { InfluxSink } from "../../../src/sinks/influx/sink.js";
import type { WriteOutcome } from "../../../src/sinks/influx/writer.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sb-isink-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const log = { info: () => {}, warn: () => {}, error: () => {} };
const spec = (o: Record<string, unknown> = {}) =>
  influxSinkSchema.parse({
    url: "http://127.0.0.1:1",
    create_database: false,
    flush_interval: "20ms",
    batch_size: 100,
    ...o,
  });

/** A fake InfluxDB: answers with `answer()` and keeps the lines it accepted. */
function fakeInflux(answer: () => WriteOutcome = () => ({ ok: true, ms: 1 })) {
  const got: string[] = [];
  let calls = 0;
  const write = async (_t: unknown, body: string): Promise<WriteOutcome> => {
    calls++;
    const r = answer();
    if (r.ok) got.push(...body.split("\n").filter(Boolean));
    return r;
  };
  return { got, write, calls: () => calls };
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sample = (i: number) => ({ ts: 1000 + i, metric: "m", labels: { host: "h" }, value: i });

describe("influx sink", () => {
  it("writes samples and decisions in order, each point with its timestamp", async () => {
    const f = fakeInflux();
    const s = new InfluxSink(spec(), { host: "h", dir, log, write: f.write });
    await s.start();
    s.samples([sample(1), sample(2)], 1_764_100_000_000);
    s.events([{ ts: 1_764_100_000_005, kind: "redundancy_lost", group: "g", reason: "1 of 2 healthy" }]);
    await until(() => f.got.length === 3);
    expect(f.got[0]).toBe("m,host=h value=1 1764100001001000000");
    expect(f.got[2]).toMatch(
      /^standby_event,group=g,host=h,kind=redundancy_lost text=.* 1764100000005000000$/,
    );
    expect(s.status()).toMatchObject({ written: 3, queue_points: 0, failing: false });
    await s.close();
  });

  it("an outage: retried with backoff, spooled to disk meanwhile, all written once back, the spool emptied", async () => {
    let down = true;
    const f = fakeInflux(() =>
      down ? { ok: false, permanent: false, message: "ECONNREFUSED" } : { ok: true, ms: 1 },
    );
    const s = new InfluxSink(spec(), { host: "h", dir, log, write: f.write });
    await s.start();
    for (let i = 0; i < 250; i++) s.samples([sample(i)], 0);
    await until(() => s.status().spool_points >= 200);
    expect(s.status()).toMatchObject({ failing: true, written: 0 });
    expect(s.status().last_error).toBe("ECONNREFUSED");
    expect((await readdir(join(dir))).some((x) => x.endsWith(".lp"))).toBe(true);
    down = false;
    await until(() => f.got.length === 250, 10_000);
    expect(f.got).toEqual(Array.from({ length: 250 }, (_, i) => `m,host=h value=${i} ${1000 + i}000000`));
    await until(() => s.status().spool_segments === 0);
    expect(s.status()).toMatchObject({ failing: false, written: 250, dropped: 0 });
    expect(s.status().retried).toBeGreaterThan(0);
    await s.close();
  });

  it("a 400 (type conflict) sets the batch aside in dead-letter.lp, counts InfluxDB's dropped points, goes on", async () => {
    let first = true;
    const f = fakeInflux(() => {
      if (!first) return { ok: true, ms: 1 };
      first = false;
      return {
        ok: false,
        permanent: true,
        status: 400,
        message: "HTTP 400: partial write: field type conflict dropped=1",
        dropped: 1,
      };
    });
    const s = new InfluxSink(spec(), { host: "h", dir, log, write: f.write });
    await s.start();
    s.samples([sample(1), sample(2)], 0);
    await until(() => s.status().dead_lettered === 1);
    s.samples([sample(3)], 0);
    await until(() => f.got.length === 1);
    expect(s.status()).toMatchObject({ dead_lettered: 1, written: 2 });
    expect(await readFile(join(dir, "dead-letter.lp"), "utf8")).toContain(
      "field type conflict dropped=1\nm,host=h value=1",
    );
    await s.close();
  });

  it("at stop during an outage the memory queue goes to disk; the next start sends it first, then new points", async () => {
    const down = fakeInflux(() => ({ ok: false, permanent: false, message: "HTTP 503" }));
    const a = new InfluxSink(spec({ batch_size: 1000, flush_interval: "1h" }), {
      host: "h",
      dir,
      log,
      write: down.write,
    });
    await a.start();
    for (let i = 0; i < 50; i++) a.samples([sample(i)], 0);
    a.events([{ ts: 5, kind: "redundancy_restored", group: "g", reason: "2 of 2 healthy" }]);
    await a.close();
    expect(a.status()).toMatchObject({ queue_points: 0, spool_points: 51 });

    const up = fakeInflux();
    const b = new InfluxSink(spec(), { host: "h", dir, log, write: up.write });
    await b.start();
    b.samples([sample(99)], 0);
    await until(() => up.got.length === 52);
    expect(up.got.slice(0, 50)).toEqual(
      Array.from({ length: 50 }, (_, i) => `m,host=h value=${i} ${1000 + i}000000`),
    );
    expect(up.got[50]).toMatch(/^standby_event,/);
    expect(up.got[51]).toBe("m,host=h value=99 1099000000");
    await b.close();
  });
});

describe("influx sink: the disk and the password", () => {
  it("a stalled disk holds neither the sender (batches on their way to disk are sent from memory) nor the stop", async () => {
    let down = true;
    const f = fakeInflux(() =>
      down ? { ok: false, permanent: false, message: "ECONNREFUSED" } : { ok: true, ms: 1 },
    );
    const stalled = () => new Promise<void>(() => {});
    const s = new InfluxSink(spec(), {
      host: "h",
      dir,
      log,
      write: f.write,
      writeFile: stalled,
      persistMs: 300,
    });
    await s.start();
    for (let i = 0; i < 30; i++) s.samples([sample(i)], 0);
    await until(() => s.status().failing);
    down = false;
    // Every batch is "on its way to disk" for ever; InfluxDB is back: all of them are written anyway.
    await until(() => f.got.length === 30, 10_000);
    s.samples([sample(30)], 0);
    await until(() => f.got.length === 31);
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("a password file that cannot be read: points are spooled and the error is shown; once it is there, they are written", async () => {
    const secret = join(dir, "token");
    const f = fakeInflux();
    const s = new InfluxSink(spec({ password: { file: secret } }), {
      host: "h",
      dir: join(dir, "spool"),
      log,
      write: f.write,
    });
    await s.start();
    s.samples([sample(1)], 0);
    await until(() => s.status().failing);
    expect(s.status().last_error).toMatch(/cannot read the password/);
    expect(f.calls()).toBe(0);
    await writeFile(secret, "tok\n", { mode: 0o600 });
    await until(() => f.got.length === 1, 10_000);
    expect(s.status().failing).toBe(false);
    await s.close();
  });
});

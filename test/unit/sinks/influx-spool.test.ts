import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Spool, type SpoolOptions } from "../../../src/sinks/influx/spool.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sb-spool-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p} value=${i} ${i}`);
const settle = () => new Promise((r) => setTimeout(r, 30));
/** Waits (up to 15 s: a busy machine's fsyncs are slow) until `pred` holds; fails the test if it never does. */
async function until(pred: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1500 && !(await pred()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await pred()).toBe(true);
}

function spool(o: Partial<SpoolOptions> = {}): Spool {
  return new Spool({ dir, batchSize: 10, memoryPoints: 1000, maxBytes: 1e9, maxAgeMs: 1e9, ...o });
}

/** Everything the spool hands out, in order, acknowledging each. */
async function drain(s: Spool): Promise<string[]> {
  const out: string[] = [];
  for (let n = await s.next(); n; n = await s.next()) {
    out.push(...n.text.split("\n").filter(Boolean));
    s.ack(n.batch);
  }
  return out;
}

describe("influx spool", () => {
  it("closes a batch at batch_size, the rest at the flush; hands batches out oldest first", async () => {
    const s = spool();
    s.push("sample", lines("a", 25));
    expect(s.batches.map((b) => b.points)).toEqual([10, 10]);
    s.push("decision", lines("e", 1));
    s.flush(0);
    expect(s.batches.map((b) => [b.kind, b.points])).toEqual([
      ["sample", 10],
      ["sample", 10],
      ["sample", 5],
      ["decision", 1],
    ]);
    // The open batch that started first closes first.
    expect(await drain(s)).toEqual([...lines("a", 25), ...lines("e", 1)]);
    expect(s.stats.memoryPoints).toBe(0);
  });

  it("past memory_points, batches go to disk; a new spool on the same dir sends them, oldest first, and deletes each after its ack", async () => {
    const s = spool({ memoryPoints: 1000 });
    s.push("sample", lines("a", 1500));
    s.push("decision", lines("e", 10));
    // The spills finish in their own time (fsync each; slow on a busy machine): wait for the bound, not a fixed time.
    await until(() => s.stats.memoryPoints <= 1000);
    await settle();
    // Only what is above the bound went to disk.
    expect(s.stats.memoryPoints).toBeLessThanOrEqual(1000);
    expect(s.stats.diskPoints).toBeGreaterThanOrEqual(500);
    expect(s.stats.diskPoints).toBeLessThanOrEqual(520);
    await s.persist();
    expect(s.stats).toMatchObject({ memoryPoints: 0, diskPoints: 1510, segments: 151 });
    const files = (await readdir(dir)).sort();
    expect(files[0]).toBe("000000000000-sample-10.lp");
    expect(files.at(-1)).toBe("000000000150-decision-10.lp");

    // A crash left a temp file: removed at load.
    await writeFile(join(dir, "000000000151-sample-10.lp.tmp-1-2"), "torn");
    const again = spool();
    expect(await again.load()).toEqual({ segments: 151, points: 1510 });
    again.push("sample", ["new value=1 1"]);
    again.flush(0);
    expect(await drain(again)).toEqual([...lines("a", 1500), ...lines("e", 10), "new value=1 1"]);
    // Segments are deleted after their acks, one after another on the disk queue: wait for it, not a fixed time.
    await until(async () => (await readdir(dir)).length === 0);
    expect(again.stats).toMatchObject({ diskPoints: 0, diskBytes: 0, segments: 0 });
  }, 30_000);

  it("while spillAll (InfluxDB failing), every batch closed goes to disk at once", async () => {
    const s = spool();
    s.spillAll = true;
    s.push("sample", lines("a", 20));
    await until(() => s.stats.memoryPoints === 0);
    expect(s.stats).toMatchObject({ memoryPoints: 0, diskPoints: 20, segments: 2 });
  });

  it("over max_size the oldest sample segments are dropped and counted; decisions are kept", async () => {
    const s = spool({ maxBytes: 600, memoryPoints: 1000 });
    s.spillAll = true;
    s.push("decision", lines("e", 10));
    s.push("sample", lines("a", 40));
    await until(() => s.stats.memoryPoints === 0);
    await settle();
    expect(s.stats.diskBytes).toBeLessThanOrEqual(600);
    expect(s.stats.dropped).toBeGreaterThan(0);
    expect(s.stats.dropped % 10).toBe(0);
    const got = await drain(s);
    expect(got.slice(0, 10)).toEqual(lines("e", 10));
    // What is left of the samples is the newest.
    expect(got.slice(10)).toEqual(lines("a", 40).slice(s.stats.dropped));
  });

  it("sample batches older than max_age are dropped; decisions never", async () => {
    let now = 1000;
    const s = spool({ maxAgeMs: 100, now: () => now });
    s.push("sample", lines("a", 10));
    s.push("decision", lines("e", 10));
    now = 1200;
    s.push("sample", lines("b", 10));
    s.expire();
    expect(s.stats.dropped).toBe(10);
    expect(await drain(s)).toEqual([...lines("e", 10), ...lines("b", 10)]);
  });

  it("a disk that fails keeps the batch in memory (still sent); a disk that stalls bounds memory by dropping the oldest samples", async () => {
    let fail = true;
    const s = spool({
      memoryPoints: 1000,
      writeFile: async () => {
        if (fail) throw new Error("EIO");
        await new Promise(() => {}); // stalls for ever
      },
    });
    s.push("sample", lines("a", 1100));
    await settle();
    expect(s.stats).toMatchObject({ memoryPoints: 1100, diskPoints: 0, dropped: 0 });
    fail = false;
    s.push("decision", lines("e", 2000));
    s.push("sample", lines("b", 10));
    await settle();
    // Memory above 2 × memory_points with the disk stalled: samples dropped (oldest first), decisions kept.
    expect(s.stats.dropped).toBeGreaterThan(0);
    expect(s.batches.filter((b) => b.kind === "decision").reduce((a, b) => a + b.points, 0)).toBe(2000);
  });

  it("a batch InfluxDB refused for good goes to dead-letter.lp with why", async () => {
    const s = spool();
    s.push("sample", lines("a", 10));
    const n = await s.next();
    await s.deadLetter(n!.batch, n!.text, "HTTP 400: field type conflict", 1);
    expect(s.stats.deadLettered).toBe(1);
    const dl = await readFile(join(dir, "dead-letter.lp"), "utf8");
    expect(dl).toMatch(/^# \d{4}-\d\d-\d\dT.* HTTP 400: field type conflict\na value=0 0\n/);
    expect(s.batches).toHaveLength(0);
  });
});

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventLog } from "../../../src/sinks/eventlog.js";

const ev = (n: number) => ({ ts: n, kind: "state_discarded" as const, reason: `e${n}` });

describe("event log (ordered, off the event loop)", () => {
  it("appends without waiting; lines queued during a write go out together, in order", async () => {
    const batches: string[] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const log = new EventLog("/nonexistent/events.jsonl", {
      write: async (text) => {
        batches.push(text);
        await gate;
      },
    });
    log.append(ev(1)); // starts a write that stalls
    for (let i = 2; i <= 5; i++) log.append(ev(i));
    expect(batches).toHaveLength(1);
    expect(log.backlog).toBe(4);
    const released = release;
    gate = Promise.resolve();
    released();
    await log.flush();
    expect(
      batches.map((b) =>
        b
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).ts),
      ),
    ).toEqual([[1], [2, 3, 4, 5]]);
  });

  it("a stalled disk does not delay a timer", async () => {
    const log = new EventLog("/nonexistent/events.jsonl", { write: () => new Promise(() => {}) });
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) log.append(ev(i));
    await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("a failed write is reported and the next batch is tried", async () => {
    const errors: string[] = [];
    let n = 0;
    const written: string[] = [];
    const log = new EventLog("/x", {
      write: async (t) => {
        if (n++ === 0) throw new Error("EIO");
        written.push(t);
      },
      onError: (e) => errors.push(e.message),
    });
    log.append(ev(1));
    await log.flush();
    log.append(ev(2));
    await log.flush();
    expect(errors).toEqual(["EIO"]);
    expect(written).toEqual([`${JSON.stringify(ev(2))}\n`]);
  });

  it("writes the file and has every line on disk after close", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-evlog-")), "sub", "events.jsonl");
    const log = new EventLog(path);
    for (let i = 0; i < 50; i++) log.append(ev(i));
    await log.close();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).ts)).toEqual([...Array(50).keys()]);
    expect(() => log.append(ev(99))).toThrow(/closed/);
  });
});

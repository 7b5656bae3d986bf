import { describe, expect, it } from "vitest";
import type { PollCollector } from "../../../src/collector.js";
import { Scheduler } from "../../../src/daemon/scheduler.js";
import type { Sample } from "../../../src/engine/types.js";
import { quietLog } from "../../helpers.js";

function collector(
  name: string,
  interval: number,
  timeout: number,
  collect: PollCollector["collect"],
): PollCollector {
  return { kind: "poll", name, interval, timeout, collect };
}

const sample = (name: string): Sample => ({
  ts: Date.now(),
  metric: "x",
  labels: { collector: name },
  value: 1,
});

describe("Scheduler", () => {
  it("spreads the first runs of many collectors (100 ms each, at most 10 s), a few get their first run at once", async () => {
    const started: Record<string, number> = {};
    const t0 = Date.now();
    const s = new Scheduler(
      () => {},
      quietLog,
      Date.now,
      () => 0.8,
    );
    const c = (name: string, interval: number) =>
      collector(name, interval, 1000, async () => {
        started[name] ??= Date.now() - t0;
        return [];
      });
    try {
      // 20 collectors: spread over 20 × 100 ms = 2 s, within their 3 s interval.
      for (let i = 0; i < 20; i++) s.add(c(`c${i}`, 3000));
      await new Promise((r) => setTimeout(r, 1900));
    } finally {
      await s.close();
    }
    // random 0.8 of the 2 s spread: the first runs at 1.6 s (they were within 1 s before).
    expect(started.c0).toBeGreaterThanOrEqual(1500);
    expect(started.c0).toBeLessThan(1900);
    expect(Object.keys(started)).toHaveLength(20);
    // Two collectors: within 200 ms.
    const t1 = Date.now();
    const few = new Scheduler(
      () => {},
      quietLog,
      Date.now,
      () => 0.8,
    );
    let first: number | undefined;
    try {
      few.add(
        collector("x", 3000, 1000, async () => {
          first ??= Date.now() - t1;
          return [];
        }),
      );
      few.add(collector("y", 3000, 1000, async () => []));
      await new Promise((r) => setTimeout(r, 400));
    } finally {
      await few.close();
    }
    expect(first).toBeGreaterThanOrEqual(100);
    expect(first).toBeLessThan(400);
  });

  it("runs 100 collectors without a MaxListenersExceededWarning (one stop listener each is no leak)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    const s = new Scheduler(() => {}, quietLog);
    try {
      for (let i = 0; i < 100; i++) s.add(collector(`c${i}`, 60_000, 1000, async () => []));
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await s.close();
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.includes("MaxListeners"))).toEqual([]);
  });

  it("a hanging collector (that ignores its signal) and a failing one never stall the others", async () => {
    const got: string[] = [];
    const s = new Scheduler((c) => got.push(c), quietLog);
    let hangingSignal: AbortSignal | undefined;
    s.add(
      collector("hangs", 50, 100, (signal) => {
        hangingSignal = signal;
        return new Promise(() => {}); // never settles, ignores the signal
      }),
    );
    s.add(
      collector("throws", 50, 100, async () => {
        throw new Error("device gone");
      }),
    );
    s.add(collector("fine", 50, 100, async () => [sample("fine")]));
    await new Promise((r) => setTimeout(r, 700));
    await s.close();
    // 700 ms at 50 ms ± 10 %: the healthy one ran many times.
    expect(got.filter((c) => c === "fine").length).toBeGreaterThanOrEqual(5);
    expect(got).not.toContain("hangs");
    const hangs = s.stats.get("hangs")!;
    expect(hangs.timeouts).toBeGreaterThanOrEqual(2); // abandoned at each timeout, then run again
    expect(hangs.lastError).toBe("timed out after 100 ms");
    expect(hangingSignal?.aborted).toBe(true);
    const throws = s.stats.get("throws")!;
    expect(throws.failures).toBeGreaterThanOrEqual(5);
    expect(throws.lastError).toBe("device gone");
  });

  it("aborts a run's signal at the timeout, and a well-behaved collector stops there", async () => {
    const s = new Scheduler(() => {}, quietLog);
    let aborted = 0;
    s.add(
      collector(
        "slow",
        200,
        50,
        (signal) =>
          new Promise((_, reject) => {
            signal.addEventListener("abort", () => {
              aborted++;
              reject(signal.reason);
            });
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 1300));
    await s.close();
    expect(aborted).toBeGreaterThanOrEqual(1);
    expect(s.stats.get("slow")!.timeouts).toBeGreaterThanOrEqual(1);
  });

  it("spreads runs with jitter within ±10 % of the interval", async () => {
    const times: number[] = [];
    const s = new Scheduler(() => {}, quietLog);
    s.add(
      collector("tick", 100, 50, async () => {
        times.push(Date.now());
        return [];
      }),
    );
    await new Promise((r) => setTimeout(r, 1200));
    await s.close();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(8);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(85);
      expect(g).toBeLessThanOrEqual(200); // generous: a busy CI machine delays timers
    }
  });

  it("remove stops a collector's loop (and closes it); added again it runs at once with `immediate`, its stats kept", async () => {
    const runs: number[] = [];
    let closed = 0;
    const t0 = Date.now();
    const c: PollCollector = {
      ...collector("shared", 1000, 500, async () => {
        runs.push(Date.now() - t0);
        return [];
      }),
      close: async () => {
        closed++;
      },
    };
    const s = new Scheduler(
      () => {},
      quietLog,
      Date.now,
      () => 0.99,
    );
    try {
      s.add(c, { immediate: true });
      await new Promise((r) => setTimeout(r, 100));
      expect(runs).toHaveLength(1);
      expect(runs[0]).toBeLessThan(50); // not at a random offset of the spread
      expect(s.has("shared")).toBe(true);
      await s.remove("shared");
      expect(s.has("shared")).toBe(false);
      expect(closed).toBe(1);
      expect(s.added.has("shared")).toBe(false); // the watchdog no longer expects its runs
      await new Promise((r) => setTimeout(r, 1100));
      expect(runs).toHaveLength(1); // no run after remove
      s.add(c, { immediate: true });
      await new Promise((r) => setTimeout(r, 50));
      expect(runs).toHaveLength(2);
      expect(runs[1]! - 1200).toBeLessThan(100);
      expect(s.stats.get("shared")!.runs).toBe(2);
    } finally {
      await s.close();
    }
    expect(closed).toBe(2);
  });
});

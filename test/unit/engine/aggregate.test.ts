import { describe, expect, it } from "vitest";
import { aggregate } from "../../../src/engine/aggregate.js";
import type { AggFn } from "../../../src/engine/types.js";
import { SampleBuffer } from "../../../src/engine/window.js";

function buffer(points: [number, number][], keepN = 100, keepMs = 0): SampleBuffer {
  const b = new SampleBuffer(keepN, keepMs);
  for (const [t, v] of points) b.push(t, v);
  return b;
}

describe("aggregate", () => {
  const b = buffer([
    [1000, 4],
    [2000, 1],
    [3000, 3],
    [4000, 2],
    [5000, 10],
  ]);
  const count5 = { kind: "samples", n: 5 } as const;
  it.each<[AggFn, number]>([
    ["last", 10],
    ["avg", 4],
    ["min", 1],
    ["max", 10],
    ["sum", 20],
    ["count", 5],
    ["p50", 3],
    ["p90", 7.6], // rank 3.6 between 4 and 10
    ["p95", 8.8],
    ["p99", 9.76],
    ["delta", 6],
    ["rate", 1.5], // 6 over 4 s
  ])("%s over 5 samples", (fn, expected) => {
    expect(aggregate(fn, count5, b, 5000)).toBeCloseTo(expected, 10);
  });
  it("time windows cover (now − W, now]", () => {
    expect(aggregate("count", { kind: "time", ms: 2000 }, b, 5000)).toBe(2);
    expect(aggregate("avg", { kind: "time", ms: 2000 }, b, 5000)).toBe(6);
    expect(aggregate("sum", { kind: "time", ms: 2001 }, b, 5000)).toBe(15);
  });
  it("says NaN (no verdict) when the window lacks data", () => {
    expect(aggregate("max", { kind: "samples", n: 6 }, b, 5000)).toBeNaN();
    expect(aggregate("avg", { kind: "time", ms: 1000 }, b, 10_000)).toBeNaN();
    expect(aggregate("rate", { kind: "time", ms: 1000 }, b, 5000)).toBeNaN();
    expect(aggregate("last", undefined, new SampleBuffer(1, 0), 0)).toBeNaN();
  });
});

describe("SampleBuffer", () => {
  it("keeps the last N samples and everything younger than the time retention, growing as needed", () => {
    const b = new SampleBuffer(3, 0);
    for (let i = 0; i < 10; i++) b.push(i * 1000, i);
    expect(b.length).toBeLessThanOrEqual(4);
    expect(b.last()).toBe(9);
    const t = new SampleBuffer(1, 5000);
    for (let i = 0; i < 100; i++) t.push(i * 100, i);
    // Everything within 5 s of the newest (9.9 s) is kept: 4.9 s .. 9.9 s (51 samples), plus at most one older.
    expect(t.length).toBeGreaterThanOrEqual(50);
    expect(t.length).toBeLessThanOrEqual(52);
    expect(t.tsAt(t.length - 1)).toBe(9900);
    expect(t.firstAfter(4900)).toBe(t.length - 50);
  });
});

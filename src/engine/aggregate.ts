import type { Span } from "../util/duration.js";
import type { AggFn, Condition } from "./types.js";
import type { SampleBuffer } from "./window.js";

/**
 * The value of FN over WINDOW at `now`, or NaN when the window does not hold enough data: a count window
 * needs all its N samples, `rate`/`delta` need two, a time window at least one. (NaN rather than undefined
 * keeps the hot path on unboxed doubles.)
 */
export function aggregate(fn: AggFn, window: Span | undefined, buf: SampleBuffer, now: number): number {
  const len = buf.length;
  if (len === 0) return Number.NaN;
  if (fn === "last" && window === undefined) return buf.last();
  let start: number;
  if (window === undefined) start = len - 1;
  else if (window.kind === "samples") {
    if (len < window.n) return Number.NaN;
    start = len - window.n;
  } else {
    start = buf.firstAfter(now - window.ms);
    if (start >= len) return Number.NaN;
  }
  const n = len - start;
  switch (fn) {
    case "last":
      return buf.last();
    case "count":
      return n;
    case "sum":
    case "avg": {
      let s = 0;
      for (let i = start; i < len; i++) s += buf.valueAt(i);
      return fn === "sum" ? s : s / n;
    }
    case "min": {
      let m = Number.POSITIVE_INFINITY;
      for (let i = start; i < len; i++) {
        const v = buf.valueAt(i);
        if (v < m) m = v;
      }
      return m;
    }
    case "max": {
      let m = Number.NEGATIVE_INFINITY;
      for (let i = start; i < len; i++) {
        const v = buf.valueAt(i);
        if (v > m) m = v;
      }
      return m;
    }
    case "delta":
    case "rate": {
      if (n < 2) return Number.NaN;
      const d = buf.valueAt(len - 1) - buf.valueAt(start);
      if (fn === "delta") return d;
      const dt = (buf.tsAt(len - 1) - buf.tsAt(start)) / 1000;
      return dt > 0 ? d / dt : Number.NaN;
    }
    case "p50":
      return quantile(buf, start, len, 0.5);
    case "p90":
      return quantile(buf, start, len, 0.9);
    case "p95":
      return quantile(buf, start, len, 0.95);
    case "p99":
      return quantile(buf, start, len, 0.99);
  }
}

/** Quantile with linear interpolation between closest ranks (as Prometheus' quantile_over_time). */
let scratch = new Float64Array(64);

function quantile(buf: SampleBuffer, start: number, end: number, q: number): number {
  const n = end - start;
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  const vals = scratch;
  // Insertion sort into the scratch buffer: windows are small, and this allocates nothing.
  for (let i = 0; i < n; i++) {
    const v = buf.valueAt(start + i);
    let j = i - 1;
    while (j >= 0 && vals[j]! > v) {
      vals[j + 1] = vals[j]!;
      j--;
    }
    vals[j + 1] = v;
  }
  const rank = q * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const w = rank - lo;
  return vals[lo]! * (1 - w) + vals[hi]! * w;
}

/** Whether `value` satisfies the condition's comparison. NaN never does. */
export function compare(cond: Condition, value: number): boolean {
  if (Number.isNaN(value)) return false;
  switch (cond.op) {
    case ">":
      return value > cond.value;
    case ">=":
      return value >= cond.value;
    case "<":
      return value < cond.value;
    case "<=":
      return value <= cond.value;
    case "==":
      return value === cond.value;
    case "!=":
      return value !== cond.value;
    case "in":
      return cond.values.includes(value);
  }
}

/** How much history a condition needs: samples and milliseconds. */
export function retention(cond: Condition | undefined): { n: number; ms: number } {
  const w = cond?.window;
  if (!w) return { n: 1, ms: 0 };
  return w.kind === "samples" ? { n: w.n, ms: 0 } : { n: 1, ms: w.ms };
}

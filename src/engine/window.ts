/**
 * A growable ring buffer of (ts, value) for one series. It keeps at least the last `keepN` samples and every
 * sample younger than `keepMs`; older ones are dropped as new ones arrive.
 */
export class SampleBuffer {
  private ts: Float64Array;
  private vals: Float64Array;
  private head = 0; // index of the oldest
  length = 0;

  constructor(
    private keepN: number,
    private keepMs: number,
  ) {
    const cap = Math.max(4, nextPow2(keepN + 1));
    this.ts = new Float64Array(cap);
    this.vals = new Float64Array(cap);
  }

  /** Widens retention (when another rule with a larger window selects the same series). */
  retain(keepN: number, keepMs: number): void {
    this.keepN = Math.max(this.keepN, keepN);
    this.keepMs = Math.max(this.keepMs, keepMs);
  }

  push(ts: number, value: number): void {
    const cap = this.ts.length;
    // Drop what neither retention needs.
    while (this.length > this.keepN && this.tsAt(0) <= ts - this.keepMs) {
      this.head = (this.head + 1) & (cap - 1);
      this.length--;
    }
    if (this.length === cap) this.grow();
    const i = (this.head + this.length) & (this.ts.length - 1);
    this.ts[i] = ts;
    this.vals[i] = value;
    this.length++;
  }

  /** i-th sample counted from the oldest kept. */
  tsAt(i: number): number {
    return this.ts[(this.head + i) & (this.ts.length - 1)]!;
  }
  valueAt(i: number): number {
    return this.vals[(this.head + i) & (this.ts.length - 1)]!;
  }
  last(): number {
    return this.valueAt(this.length - 1);
  }
  lastTs(): number {
    return this.tsAt(this.length - 1);
  }

  /** Index of the first sample with ts > since (binary search; timestamps are non-decreasing). */
  firstAfter(since: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tsAt(mid) > since) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
  }

  private grow(): void {
    const cap = this.ts.length;
    const ts = new Float64Array(cap * 2);
    const vals = new Float64Array(cap * 2);
    for (let i = 0; i < this.length; i++) {
      ts[i] = this.tsAt(i);
      vals[i] = this.valueAt(i);
    }
    this.ts = ts;
    this.vals = vals;
    this.head = 0;
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

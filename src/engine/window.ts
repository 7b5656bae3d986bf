/**
 * A growable ring buffer of (ts, value) pairs for one series, interleaved in one array of doubles for locality
 * (a plain array rather than a Float64Array: one pointer less between the series and its numbers).
 * It keeps at least the last `keepN` samples and every sample younger than `keepMs`; older ones are dropped
 * as new ones arrive.
 */
export class SampleBuffer {
  private data: number[];
  /** Capacity in samples − 1 (capacity is a power of two). */
  private mask: number;
  private head = 0; // slot of the oldest
  length = 0;
  private keepN: number;
  private keepMs: number;

  constructor(keepN: number, keepMs: number) {
    this.keepN = keepN;
    this.keepMs = keepMs;
    const cap = Math.max(4, nextPow2(keepN + 1));
    this.data = doubles(cap * 2);
    this.mask = cap - 1;
  }

  /** Widens retention (when another rule with a larger window selects the same series). */
  retain(keepN: number, keepMs: number): void {
    this.keepN = Math.max(this.keepN, keepN);
    this.keepMs = Math.max(this.keepMs, keepMs);
  }

  push(ts: number, value: number): void {
    const data = this.data;
    // Drop what neither retention needs.
    const horizon = ts - this.keepMs;
    while (this.length > this.keepN && data[this.head << 1]! <= horizon) {
      this.head = (this.head + 1) & this.mask;
      this.length--;
    }
    if (this.length > this.mask) this.grow();
    const i = ((this.head + this.length) & this.mask) << 1;
    this.data[i] = ts;
    this.data[i + 1] = value;
    this.length++;
  }

  /** i-th sample counted from the oldest kept. */
  tsAt(i: number): number {
    return this.data[((this.head + i) & this.mask) << 1]!;
  }
  valueAt(i: number): number {
    return this.data[(((this.head + i) & this.mask) << 1) + 1]!;
  }
  last(): number {
    return this.valueAt(this.length - 1);
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

  private grow(): void {
    const cap = this.mask + 1;
    const data = doubles(cap * 4);
    for (let i = 0; i < this.length; i++) {
      data[i << 1] = this.tsAt(i);
      data[(i << 1) + 1] = this.valueAt(i);
    }
    this.data = data;
    this.mask = cap * 2 - 1;
    this.head = 0;
  }
}

/** An array V8 keeps as unboxed doubles (PACKED_DOUBLE_ELEMENTS). */
function doubles(n: number): number[] {
  const a = new Array<number>(n).fill(0.5);
  a.fill(0);
  return a;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/**
 * One result per probe: which result lines of a probe program are new, which repeat or come too late, and how
 * many probes went by without any line. Pure; the ICMP runner feeds it the sequence numbers it parses.
 */

/** What to do with a result line. */
export interface Verdict {
  /** The probe was not reported yet: report it. */
  readonly fresh: boolean;
  /**
   * Probes before it that never got a line (fping prints nothing for a probe whose send failed): report each
   * as lost first. At most `maxGap`.
   */
  readonly missed: number;
}

const STALE: Verdict = Object.freeze({ fresh: false, missed: 0 });

export class SeqTracker {
  /** The sequence number of the next probe to report. */
  private next: number;

  /**
   * @param first the first sequence number the program uses (fping 0, ping 1)
   * @param modulus where the numbers wrap (ping: 65536; fping counts on without wrapping)
   * @param maxGap most probes a single gap may stand for (a larger jump is a restart or a bug, not loss)
   */
  constructor(
    first: number,
    private readonly modulus = 0,
    private readonly maxGap = 100,
  ) {
    this.next = first;
  }

  /** The number the next fresh line is expected to carry. */
  get expected(): number {
    return this.next;
  }

  /** Distance from the expected number to `seq`: ≥ 0 ahead, < 0 behind (already reported or given up on). */
  private distance(seq: number): number {
    const d = seq - this.next;
    if (this.modulus === 0) return d;
    const m = ((d % this.modulus) + this.modulus) % this.modulus;
    return m < this.modulus / 2 ? m : m - this.modulus;
  }

  /** A line reports probe `seq`. */
  accept(seq: number): Verdict {
    const d = this.distance(seq);
    if (d < 0) return STALE;
    this.next = this.advance(seq, 1);
    return { fresh: true, missed: Math.min(d, this.maxGap) };
  }

  /** The expected probe is overdue: it is reported as lost, and its line, should it come, will be stale. */
  skip(): void {
    this.next = this.advance(this.next, 1);
  }

  private advance(seq: number, by: number): number {
    return this.modulus === 0 ? seq + by : (seq + by) % this.modulus;
  }
}

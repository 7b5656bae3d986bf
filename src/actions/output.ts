/** Command output kept within bounds: the head and the tail of what a command printed. */
/** How much output a result keeps: the first and the last half of this many bytes. */
export const OUTPUT_LIMIT = 4096;
/** Milliseconds with 0.1 ms resolution. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Keeps the head and the tail of a stream of chunks within `limit` bytes. */
export class OutputBuffer {
  private readonly half: number;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;

  constructor(readonly limit = OUTPUT_LIMIT) {
    this.half = Math.floor(limit / 2);
  }

  push(chunk: Buffer | string): void {
    let b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (this.headBytes < this.half) {
      const take = Math.min(this.half - this.headBytes, b.length);
      this.head.push(b.subarray(0, take));
      this.headBytes += take;
      b = b.subarray(take);
    }
    if (b.length === 0) return;
    this.tail.push(b);
    this.tailBytes += b.length;
    while (this.tailBytes > this.limit - this.half) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - (this.limit - this.half);
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  toString(): string {
    const head = Buffer.concat(this.head).toString("utf8");
    const tail = Buffer.concat(this.tail).toString("utf8");
    if (this.dropped === 0) return head + tail;
    return `${head}\n[... ${this.dropped} bytes left out ...]\n${tail}`;
  }
}

/** Truncates a string the way command output is truncated. */
export function truncateOutput(text: string, limit = OUTPUT_LIMIT): string {
  if (Buffer.byteLength(text) <= limit) return text;
  const b = new OutputBuffer(limit);
  b.push(text);
  return b.toString();
}

/** The last non-empty line of output, trimmed, for one-line messages. */
export function lastLine(output: string, max = 200): string {
  const lines = output.split("\n").map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l && !l.startsWith("[... ")) return l.length > max ? `${l.slice(0, max - 3)}...` : l;
  }
  return "";
}

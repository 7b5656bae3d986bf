/** The child-process plumbing of the ICMP runner: tracking live children, reading lines, throttled logging. */
import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";

/** A partial line longer than this is passed on as it is (it will not parse) rather than kept growing. */
export const MAX_LINE = 4096;

export const live = new Set<ChildProcess>();
let exitHook = false;
export function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
}

/** At most one log line per `everyMs`; says how many it held back. */
export class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;
  constructor(private readonly everyMs: number) {}
  /** The number held back since the last line, when this one may be logged; undefined when it may not. */
  pass(): number | undefined {
    const now = performance.now();
    if (now - this.last < this.everyMs) {
      this.held++;
      return undefined;
    }
    const held = this.held;
    this.held = 0;
    this.last = now;
    return held;
  }
}

export function lines(stream: Readable, onLine: (line: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
    }
    if (buf.length > MAX_LINE) {
      onLine(buf);
      buf = "";
    }
  });
  stream.on("end", () => {
    if (buf !== "") onLine(buf);
    buf = "";
  });
}

export { formatDuration as fmtMs } from "../../src/util/duration.js";
export { codeOrMessage as errCode } from "../../src/util/errors.js";

/**
 * Runs the probe program until `signal` aborts. Results are reported in sequence order, one per probe:
 * - a reply line → answered (a reply slower than the timeout, which only ping prints, → lost);
 * - `timed out` (fping, at send + timeout) / `no answer yet` (ping, at the next send) → lost;
 * - an ICMP error naming the probe (ping) → lost;
 * - nothing at all: fping prints no line for a probe whose send fails (ENETUNREACH when the route to the
 *   target is gone, e.g. our own link is down). A probe whose line is overdue by `grace` after the moment it
 *   should have come (its send + timeout, as estimated from the previous line) is reported lost then; a gap in
 *   the sequence numbers is reported lost as soon as a later line shows it.
 * While no program runs (it exited, or cannot start) nothing is reported: the data goes stale.
 */

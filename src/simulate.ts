import type { RuleSpec } from "./engine/types.js";
import { type Sample, STATE_VALUES } from "./engine/types.js";
import type { Command } from "./groups/controller.js";
import type { StandbyEvent } from "./groups/events.js";
import type { GroupSpec } from "./groups/types.js";
import { type Output, Pipeline } from "./pipeline.js";
import { parseDuration } from "./util/duration.js";

/** One line of a trace: a sample, or (an extension) an operator command at a point in time. */
export type TraceEntry =
  | { readonly type: "sample"; readonly sample: Sample }
  | {
      readonly type: "command";
      readonly ts: number;
      readonly group: string;
      readonly command: Command & { by?: string };
    };

const COMMANDS = ["failover", "failback", "pin", "unpin", "freeze", "unfreeze"] as const;
const SAMPLE_KEYS = ["ts", "metric", "labels", "value", "state"];
const COMMAND_KEYS = ["ts", "command", "group", "member", "for", "until", "reason", "force"];

function checkKeys(v: Record<string, unknown>, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(v).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")} in ${what}; expected ${allowed.join(", ")}`,
    );
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses one trace line; throws an Error whose message says what is wrong and what was expected. */
export function parseTraceLine(line: string): TraceEntry {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message}); expected one JSON object a line`);
  }
  if (!isRecord(v)) throw new Error("expected a JSON object");
  const ts = v.ts;
  if (typeof ts !== "number" || !Number.isFinite(ts))
    throw new Error('expected "ts": a number of milliseconds since the epoch');
  if ("command" in v) {
    const c = v.command;
    if (typeof c !== "string" || !(COMMANDS as readonly string[]).includes(c)) {
      throw new Error(`"command" must be one of ${COMMANDS.join(", ")}`);
    }
    checkKeys(v, COMMAND_KEYS, "a command");
    if (typeof v.group !== "string") throw new Error('a command needs "group": the group name');
    if (v.member !== undefined && typeof v.member !== "string")
      throw new Error('"member" must be a member name');
    const member = v.member as string | undefined;
    if (c === "pin" && member === undefined) throw new Error('"pin" needs "member"');
    let until: number | undefined;
    if (v.for !== undefined) {
      const d = typeof v.for === "string" ? parseDuration(v.for) : undefined;
      if (d === undefined || d <= 0)
        throw new Error(`"for" must be a duration such as "10m" (found ${JSON.stringify(v.for)})`);
      until = ts + d;
    }
    if (v.until !== undefined) {
      if (typeof v.until !== "number" || !Number.isFinite(v.until))
        throw new Error('"until" must be a time in epoch milliseconds');
      if (until !== undefined) throw new Error('give "for" or "until", not both');
      until = v.until;
    }
    if (until !== undefined && c !== "pin" && c !== "failover")
      throw new Error(`"for"/"until" apply to pin and failover, not ${c}`);
    const cmd = {
      command: c,
      ...(member !== undefined ? { member } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(typeof v.reason === "string" ? { reason: v.reason } : {}),
      ...(v.force === true ? { force: true } : {}),
      by: "trace",
    } as Command & { by: string };
    return { type: "command", ts, group: v.group, command: cmd };
  }
  if (typeof v.metric !== "string" || v.metric === "")
    throw new Error('expected "metric": a metric name such as "probe.success"');
  checkKeys(v, SAMPLE_KEYS, "a sample");
  const labels = v.labels ?? {};
  if (!isRecord(labels) || !Object.values(labels).every((x) => typeof x === "string")) {
    throw new Error('"labels" must be an object of strings, e.g. {"collector": "gw-a"}');
  }
  const state = v.state;
  if (state !== undefined && typeof state !== "string")
    throw new Error('"state" must be a string such as "failed"');
  let value = v.value;
  if (value === undefined && typeof state === "string") value = STATE_VALUES[state];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error('expected "value": a number (or a "state" word: ok, warning, failed, absent, unknown)');
  }
  return {
    type: "sample",
    sample: {
      ts,
      metric: v.metric,
      labels: labels as Record<string, string>,
      value,
      ...(state !== undefined ? { state } : {}),
    },
  };
}

/**
 * Feeds a trace through the real engine and controllers. The clock is the trace's timestamps: before each
 * entry, every rule and group timer due by then fires at its own time, so `for`, `hold` and `stale_after` act
 * exactly as they would live.
 */
export class Simulator {
  private pipeline: Pipeline | undefined;
  private now = Number.NEGATIVE_INFINITY;
  samples = 0;

  constructor(
    private readonly rules: readonly RuleSpec[],
    private readonly groups: readonly GroupSpec[],
    private readonly emit: (e: StandbyEvent) => void,
  ) {}

  get time(): number {
    return this.now;
  }

  getPipeline(): Pipeline | undefined {
    return this.pipeline;
  }

  /** Throws when the entry goes back in time. */
  feed(entry: TraceEntry): void {
    const ts = entry.type === "sample" ? entry.sample.ts : entry.ts;
    if (ts < this.now) throw new Error(`not in time order: ts ${ts} is before the previous ${this.now}`);
    // Groups start on their highest-priority member at the trace's first timestamp.
    if (this.pipeline === undefined) {
      this.pipeline = new Pipeline(this.rules, this.groups, ts);
      this.flush(this.pipeline.initialize(ts));
    }
    this.advance(ts);
    this.now = ts;
    if (entry.type === "sample") {
      this.samples++;
      this.flush(this.pipeline.ingest(entry.sample));
    } else {
      const r = this.pipeline.command(entry.group, entry.command, ts);
      this.flush(r);
      if (r.error) throw new Error(`command ${entry.command.command} on ${entry.group} refused: ${r.error}`);
    }
  }

  /** Lets timers run up to `until` (default: the last entry's time). */
  finish(until?: number): void {
    if (this.pipeline && until !== undefined && until > this.now) {
      this.advance(until);
      this.now = until;
    }
  }

  private advance(to: number): void {
    const p = this.pipeline!;
    let repeats = 0;
    for (let d = p.nextDeadline(); d !== undefined && d <= to; d = p.nextDeadline()) {
      const at = Math.max(d, this.now);
      repeats = at === this.now ? repeats + 1 : 0;
      if (repeats > 100) throw new Error(`internal error: a timer at ${at} does not advance`);
      this.flush(p.tick(at));
      this.now = at;
    }
  }

  private flush(out: Output): void {
    for (const e of out.events) this.emit(e);
  }
}

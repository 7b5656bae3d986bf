/**
 * Events for the API: an operator's call's events with who and why; `GET /v1/events?since=&group=&limit=` from the daemon's last 1,000 in memory, and from its
 * event log (state_dir/events.jsonl) when `since` reaches further back; live subscribers for `follow=1`.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Caller } from "../api/guard.js";
import type { StandbyEvent } from "../groups/events.js";

export interface EventQuery {
  /** Wall ms: events at or after it. */
  readonly since?: number;
  readonly group?: string;
  /** The newest N (default 1,000). */
  readonly limit?: number;
}

const matches = (e: StandbyEvent, q: EventQuery) =>
  (q.since === undefined || e.ts >= q.since) && (!q.group || ("group" in e && e.group === q.group));

/** The events `q` asks for, oldest first: from `recent` (the in-memory tail) or, when it is older, `logFile`. */
export async function queryEvents(
  recent: readonly StandbyEvent[],
  logFile: string,
  q: EventQuery,
): Promise<StandbyEvent[]> {
  const limit = q.limit ?? 1000;
  const oldest = recent[0]?.ts;
  const fromMemory = q.since === undefined || (oldest !== undefined && q.since >= oldest);
  const all = fromMemory ? recent.filter((e) => matches(e, q)) : await fromFile(logFile, q, limit);
  return all.slice(-limit);
}

/** Reads the event log line by line, keeping the newest `limit` matches (a torn or foreign line is skipped). */
async function fromFile(file: string, q: EventQuery, limit: number): Promise<StandbyEvent[]> {
  const out: StandbyEvent[] = [];
  try {
    const lines = createInterface({
      input: createReadStream(file, { encoding: "utf8" }),
      crlfDelay: Infinity,
    });
    for await (const line of lines) {
      let e: StandbyEvent;
      try {
        e = JSON.parse(line) as StandbyEvent;
      } catch {
        continue;
      }
      if (typeof e?.ts !== "number" || !matches(e, q)) continue;
      out.push(e);
      if (out.length > 2 * limit) out.splice(0, out.length - limit);
    }
  } catch {
    // No event log yet (or unreadable): what memory has.
  }
  return out.slice(-limit);
}

/** Listeners of recorded events; one that throws is dropped, never the daemon. */
export class EventSubscribers {
  private readonly fns = new Set<(e: StandbyEvent) => void>();

  subscribe(fn: (e: StandbyEvent) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  publish(e: StandbyEvent): void {
    for (const fn of this.fns) {
      try {
        fn(e);
      } catch {
        this.fns.delete(fn);
      }
    }
  }
}

/** Who gave an operator command: the API's caller (`by` absent: forwarded by another instance of the fleet). */
export type OperatorCaller = { by?: Caller["by"]; who: string; reason?: string };

/** The command's `by` as the controller's events say it. */
export function operatorBy(caller: OperatorCaller | undefined): string {
  return caller ? `${caller.by ?? "forwarded"} (${caller.who})` : "operator";
}

/** An event of an operator's call: who, and the reason given. */
export function operatorEvent(e: StandbyEvent, caller: OperatorCaller): StandbyEvent {
  const given = caller.reason && !e.reason.includes(caller.reason) ? `; reason given: ${caller.reason}` : "";
  return {
    ...e,
    ...(caller.by ? { by: caller.by } : {}),
    who: caller.who,
    ...(caller.reason ? { operator_reason: caller.reason } : {}),
    reason: `${e.reason}${given}`,
  };
}

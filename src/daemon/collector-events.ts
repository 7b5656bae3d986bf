import type { Log } from "../collector.js";
import type { EventOf } from "../groups/events.js";

type RecordEvent = (e: Omit<EventOf<"collector">, "ts">) => void;

/**
 * The daemon's `collector` events (docs/design-notes.md): a device a collector reads stops answering or answers
 * again, a block that could not be resolved on the host is not started (then started), a resolved block resolves to
 * something else. Each said once when it changes, never every poll or every retry.
 */
export class CollectorEvents {
  /** What each (collector, target) said last: the error, or "" when it answered. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly record: RecordEvent,
    private readonly log: Log,
  ) {}

  /** A collector's report on a device: an event when it starts failing, changes its reason, or recovers. */
  report(collector: string, target: string, error: string | undefined): void {
    const key = `${collector}\u0000${target}`;
    const before = this.reported.get(key);
    const now = error ?? "";
    if (before === now || (before === undefined && now === "")) {
      if (before === undefined) this.reported.set(key, now);
      return;
    }
    this.reported.set(key, now);
    this.record({
      kind: "collector",
      collector,
      target,
      state: error === undefined ? "ok" : "failing",
      reason:
        error === undefined ? `${collector}: ${target} answers again` : `${collector}: ${target}: ${error}`,
    });
  }

  /** A block that could not be resolved: logged, and an event, when it starts failing or its reason changes. */
  notStarted(name: string, error: string, retryEvery: number): void {
    const key = `${name}\u0000(start)`;
    if (this.reported.get(key) === error) return; // said already: no line every few seconds
    this.reported.set(key, error);
    this.log.warn(
      { collector: name, err: error },
      `collector not started; tried again every ${retryEvery} ms`,
    );
    this.record({
      kind: "collector",
      collector: name,
      target: name,
      state: "failing",
      reason: `${name}: not started: ${error} (tried again every ${retryEvery / 1000} s)`,
    });
  }

  started(name: string, count: number): void {
    this.reported.delete(`${name}\u0000(start)`);
    this.log.info({ collector: name, count }, "collector started (resolved after start)");
    this.record({
      kind: "collector",
      collector: name,
      target: name,
      state: "ok",
      reason: `${name}: started: resolved on this host now`,
    });
  }

  /** A block resolved to something else (`what`: changes()) and its collectors were replaced. */
  resolvedAgain(name: string, what: string): void {
    this.record({
      kind: "collector",
      collector: name,
      target: name,
      state: "ok",
      reason: `${name}: resolved again on this host: ${what}`,
    });
  }
}

/** What differs between two resolved blocks, as `probe.target: 10.0.0.1 → 10.0.0.254`. */
export function changes(a: unknown, b: unknown, path = ""): string[] {
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      changes(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      ),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path}: ${String(a)} → ${String(b)}`];
}

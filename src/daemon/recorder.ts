import { join } from "node:path";
import { notify } from "../actions/notify.js";
import type { Log } from "../collector.js";
import type { NotifySpec } from "../config/schema.js";
import { resolveSecret } from "../config/secrets.js";
import { EVENT_KINDS, type StandbyEvent } from "../groups/events.js";
import { type AppendWriter, EventLog } from "../sinks/eventlog.js";
import { SerialQueue } from "../util/atomic.js";
import { type EventQuery, EventSubscribers, queryEvents } from "./eventquery.js";

/** Group-level events are worth a notification; rule, health and action events are too chatty. */
const NOTIFY_KINDS = new Set<StandbyEvent["kind"]>(
  EVENT_KINDS.filter((k) => k !== "rule" && k !== "health" && k !== "action"),
);

/**
 * Where every event goes: stamped with wall time, appended to the event log (ordered, off the event loop),
 * kept for `standby status`, logged, shown to the live view, and handed to the notify hooks one at a time, in
 * the order the events happened.
 */
export class EventRecorder {
  private log!: EventLog;
  private logPath = "";
  private readonly recentEvents: StandbyEvent[] = [];
  /** Listeners of every recorded event (the API's live streams, the Prometheus counters). */
  readonly subscribers = new EventSubscribers();
  private readonly notifications = new SerialQueue();

  constructor(
    private readonly opts: {
      readonly logger: Log;
      readonly dryRun: boolean;
      readonly appendEvents?: AppendWriter | undefined;
      readonly onEvent?: ((e: StandbyEvent) => void) | undefined;
      /** The hooks in force (they change on reload). */
      readonly hooks: () => readonly NotifySpec[];
      /** A monotonic time → wall time. */
      readonly wallOf: (mono: number) => number;
    },
  ) {}

  /** Opens the event log of a state directory; the one open before is closed after its pending writes. */
  open(stateDir: string): void {
    const old = this.log as EventLog | undefined;
    this.logPath = join(stateDir, "events.jsonl");
    this.log = new EventLog(this.logPath, {
      ...(this.opts.appendEvents ? { write: this.opts.appendEvents } : {}),
      onError: (err) => this.opts.logger.error({ err: err.message }, "cannot write the event log"),
    });
    if (old) void old.close().catch(() => {});
  }

  record(event: StandbyEvent): StandbyEvent {
    const { logger, dryRun } = this.opts;
    const e: StandbyEvent = {
      ...event,
      ts: this.opts.wallOf(event.ts),
      ...(dryRun ? { dry_run: true } : {}),
    };
    try {
      this.log.append(e);
    } catch (err) {
      logger.error({ err: (err as Error).message }, "cannot write the event log");
    }
    this.recentEvents.push(e);
    if (this.recentEvents.length > 1000) this.recentEvents.splice(0, this.recentEvents.length - 1000);
    const level = e.kind === "rule" || e.kind === "health" || e.kind === "action" ? "info" : "warn";
    logger[level]({ event: e }, `${e.kind}${"group" in e ? ` ${e.group}` : ""}: ${e.reason}`);
    this.subscribers.publish(e);
    try {
      this.opts.onEvent?.(e);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "event listener failed");
    }
    const hooks = this.opts.hooks();
    if (NOTIFY_KINDS.has(e.kind) && hooks.length > 0 && !dryRun) {
      // Each hook has its timeout, so the queue moves on.
      this.notifications
        .run(() => notify(hooks, e, { resolveSecret: (s) => resolveSecret(s) }))
        .then((results) => {
          for (const r of results) {
            if (!r.ok) logger.warn({ hook: r.kind, err: r.error, event: e.kind }, "notify hook failed");
          }
        })
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, "notify failed"));
    }
    return e;
  }

  /** Events for the API (wall `since`), oldest first: from memory, or the event log when they are older. */
  query(q: EventQuery): Promise<StandbyEvent[]> {
    return queryEvents(this.recentEvents, this.logPath, q);
  }

  recent(limit = 50): StandbyEvent[] {
    return this.recentEvents.slice(-limit);
  }

  /** Lets pending notifications finish and closes the event log after its pending writes. */
  async close(): Promise<void> {
    await this.notifications.drain();
    await this.log.close();
  }
}

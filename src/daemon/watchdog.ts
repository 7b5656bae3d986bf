/**
 * The systemd watchdog (`WatchdogSec=` in the unit): `WATCHDOG=1` every WATCHDOG_USEC/3, sent only while the
 * daemon really works — a ping is skipped when
 * - its own timer fired late by more than WATCHDOG_USEC/2: the event loop was blocked (a loop blocked for good
 *   sends nothing at all, as no timer fires), or
 * - the daemon's decision path is stuck (Daemon.liveness: the pipeline's timer, the switch queues, the
 *   collectors' scheduler; liveness.ts).
 * STATUS= says why pings stopped (`systemctl status standby`), and is otherwise the daemon's one-line summary,
 * sent when it changes. Without a watchdog (no WATCHDOG_USEC, or one meant for another pid) the same loop
 * refreshes STATUS= every 10 s and pings nothing.
 */
import { performance } from "node:perf_hooks";
import type { Log } from "../collector.js";
import { formatDuration } from "../util/duration.js";
import { statusField } from "./notify.js";

/** What the watchdog asks of the daemon. */
export interface Supervised {
  /** Why the decision path is stuck, or undefined when it turns. */
  liveness(): string | undefined;
  /** The STATUS= line when all is well. */
  summary(): string;
}

export interface WatchdogTiming {
  /** ms between pings: WATCHDOG_USEC/3. */
  readonly everyMs: number;
  /** A timer later than this (ms) means the event loop was blocked: WATCHDOG_USEC/2. */
  readonly maxLateMs: number;
}

/**
 * The pings systemd asks for (sd_watchdog_enabled(3)): WATCHDOG_USEC set, and WATCHDOG_PID unset or ours.
 * Undefined when there is no watchdog (or one for another process: a wrapper that did not `exec` us).
 */
export function watchdogTiming(
  usec: string | undefined,
  pid: string | undefined,
  ownPid = process.pid,
): WatchdogTiming | undefined {
  if (usec === undefined || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  if (pid !== undefined && pid !== "" && Number(pid) !== ownPid) return undefined;
  const ms = Number(usec) / 1000;
  return { everyMs: ms / 3, maxLateMs: ms / 2 };
}

/** STATUS= refreshes when no watchdog is asked for. */
export const STATUS_EVERY_MS = 10_000;

export interface WatchdogOptions {
  readonly target: Supervised;
  /** Sends one sd_notify datagram. */
  readonly send: (fields: readonly string[]) => void;
  readonly log: Log;
  /** Pings; without, STATUS= only. */
  readonly timing?: WatchdogTiming | undefined;
  /** Monotonic ms (default performance.now). */
  readonly now?: () => number;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (handle: unknown) => void;
}

export class Watchdog {
  private handle: unknown;
  private due = 0;
  private lastStatus: string | undefined;
  private lastWhy: string | undefined;
  private running = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly o: WatchdogOptions) {
    this.now = o.now ?? (() => performance.now());
    this.setTimer =
      o.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return t;
      });
    this.clearTimer = o.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  get pinging(): boolean {
    return this.o.timing !== undefined;
  }

  /** The fields of the first message (READY=1's): a ping and STATUS= if all is well. Then the loop runs. */
  start(): string[] {
    this.running = true;
    const fields = this.check(0);
    this.arm();
    return fields;
  }

  /** The fields of an extra message (READY=1 after a reload): a ping if all is well, STATUS= even if unchanged. */
  snapshot(): string[] {
    this.lastStatus = undefined;
    return this.check(0);
  }

  /** STATUS= between turns when the summary changed (a failover shows in `systemctl status` at once). */
  refreshStatus(): void {
    if (!this.running || this.lastWhy !== undefined) return;
    let status: string;
    try {
      status = this.o.target.summary();
    } catch {
      return;
    }
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.o.send([statusField(status)]);
  }

  stop(): void {
    this.running = false;
    this.clearTimer(this.handle);
    this.handle = undefined;
  }

  /** The STATUS= line last sent (tests, logs). */
  get status(): string | undefined {
    return this.lastStatus;
  }

  private arm(): void {
    if (!this.running) return;
    const every = this.o.timing?.everyMs ?? STATUS_EVERY_MS;
    this.due = this.now() + every;
    this.handle = this.setTimer(() => this.tick(), every);
  }

  /** One turn: check, ping (or not), refresh STATUS= when it changed. */
  tick(): void {
    const late = this.now() - this.due;
    this.arm(); // the next turn first: nothing below stops the loop
    const fields = this.check(late);
    if (fields.length > 0) this.o.send(fields);
  }

  private check(lateMs: number): string[] {
    const timing = this.o.timing;
    let why: string | undefined;
    if (timing && lateMs > timing.maxLateMs)
      why = `the event loop was blocked: the watchdog's timer fired ${formatDuration(Math.round(lateMs))} late (at most ${formatDuration(Math.round(timing.maxLateMs))})`;
    else {
      try {
        why = this.o.target.liveness();
      } catch (err) {
        why = `the liveness check failed: ${(err as Error).message}`;
      }
    }
    if (why !== this.lastWhy) {
      if (why !== undefined)
        this.o.log.error({ why, pinging: false }, timing ? "watchdog: not pinging" : "daemon stuck");
      else if (this.lastWhy !== undefined)
        this.o.log.warn({}, timing ? "watchdog: pinging again" : "daemon turns again");
      this.lastWhy = why;
    }
    const fields: string[] = [];
    if (timing && why === undefined) fields.push("WATCHDOG=1");
    let status: string;
    try {
      status =
        why === undefined
          ? this.o.target.summary()
          : `${timing ? "watchdog pings stopped" : "stuck"}: ${why}`;
    } catch (err) {
      status = `status unavailable: ${(err as Error).message}`;
    }
    if (status !== this.lastStatus) {
      fields.push(statusField(status));
      this.lastStatus = status;
    }
    return fields;
  }
}

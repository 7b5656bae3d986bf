/**
 * What the daemon tells systemd (`Type=notify`, systemd/README.md): READY=1 once it monitors and its API answers,
 * RELOADING=1 … READY=1 around a SIGHUP reload, STOPPING=1 at stop, WATCHDOG=1 while it really turns
 * (watchdog.ts), STATUS= a line for `systemctl status`. Without NOTIFY_SOCKET every call does nothing.
 */
import type { Log } from "../collector.js";
import { type NotifyTransport, openTransport, statusField, takeNotifyEnv } from "./notify.js";
import { type Supervised, Watchdog, type WatchdogTiming, watchdogTiming } from "./watchdog.js";

/** How often STATUS= follows the groups between the watchdog's turns. */
const STATUS_REFRESH_MS = 2000;

export class SystemdNotifier {
  private watchdog: Watchdog | undefined;
  private statusTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly transport: NotifyTransport | undefined,
    private readonly timing: WatchdogTiming | undefined,
    private readonly log: Log,
  ) {}

  /**
   * From systemd's variables in `env` (removed from it: the programs the daemon runs must not inherit them). The
   * helper starts now, so that by READY=1 it is known to work; STATUS=starting.
   */
  static fromEnv(log: Log, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
    const vars = takeNotifyEnv(env, true);
    if (!vars.socket) return new SystemdNotifier(undefined, undefined, log);
    const timing = watchdogTiming(vars.watchdogUsec, vars.watchdogPid);
    if (vars.watchdogUsec && !timing)
      log.warn({ watchdog_pid: vars.watchdogPid }, "WATCHDOG_USEC is for another process: no pings");
    const n = new SystemdNotifier(openTransport(vars.socket, { log }), timing, log);
    n.transport?.send([statusField("starting")]);
    return n;
  }

  /** READY=1 (with MAINPID and STATUS=), then the watchdog's loop. Call once the daemon runs and its API answers. */
  ready(target: Supervised): void {
    if (!this.transport || this.watchdog) return;
    this.watchdog = new Watchdog({
      target,
      send: (f) => this.transport?.send(f),
      log: this.log,
      timing: this.timing,
    });
    this.transport.send(["READY=1", `MAINPID=${process.pid}`, ...this.watchdog.start()]);
    this.statusTimer = setInterval(() => this.watchdog?.refreshStatus(), STATUS_REFRESH_MS);
    this.statusTimer.unref();
    this.log.info(
      { via: this.transport.kind, watchdog_ms: this.timing ? Math.round(this.timing.everyMs * 3) : 0 },
      "told systemd: ready",
    );
  }

  /** A SIGHUP reload starts (MONOTONIC_USEC: what Type=notify-reload of later systemd wants). */
  reloading(): void {
    const usec = process.hrtime.bigint() / 1000n; // libuv's hrtime is CLOCK_MONOTONIC
    this.transport?.send([
      "RELOADING=1",
      `MONOTONIC_USEC=${usec}`,
      statusField("reloading the configuration"),
    ]);
  }

  /** The reload ended, applied or refused: READY=1 again. */
  reloaded(): void {
    if (!this.transport || !this.watchdog) return;
    this.transport.send(["READY=1", ...this.watchdog.snapshot()]);
  }

  /** STOPPING=1; no more pings (TimeoutStopSec bounds the stop). */
  stopping(): void {
    clearInterval(this.statusTimer);
    this.watchdog?.stop();
    this.transport?.send(["STOPPING=1", statusField("stopping")]);
  }

  /** Lets the last messages out and ends the helper. */
  async close(): Promise<void> {
    clearInterval(this.statusTimer);
    this.watchdog?.stop();
    await this.transport?.close();
  }
}

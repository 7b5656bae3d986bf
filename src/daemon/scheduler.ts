import type { Log, PollCollector } from "../collector.js";
import type { Sample } from "../engine/types.js";

export interface CollectorStats {
  runs: number;
  failures: number;
  timeouts: number;
  samples: number;
  lastRunAt?: number;
  lastDurationMs?: number;
  /** Whether the last finished run succeeded (absent before the first run ends); lastError stays after a success. */
  lastOk?: boolean;
  lastError?: string;
}

/** The most the first runs of the collectors are spread over (each at a random offset in it). */
export const FIRST_RUN_SPREAD_MS = 10_000;
/** The spread per collector: 100 collectors are spread over 10 s, 2 over 200 ms. */
export const FIRST_RUN_SPACING_MS = 100;

/**
 * Runs polling collectors, each on its own loop: every `interval` with jitter (±10 %, at most 1 s), each run
 * with an AbortSignal that fires at `timeout`. A run that throws or ignores its signal is abandoned at the
 * timeout, so a failing or hanging collector never stalls another one or its own next run; its metrics simply
 * stop arriving and go stale.
 */
export class Scheduler {
  readonly stats = new Map<string, CollectorStats>();
  private readonly stop = new AbortController();
  private readonly loops = new Set<Promise<void>>();

  constructor(
    private readonly emit: (collector: string, samples: Sample[]) => void,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** Each polling collector and when it was added (monotonic ms): the watchdog's check (liveness.ts). */
  readonly added = new Map<string, { readonly collector: PollCollector; readonly at: number }>();

  /**
   * Starts polling `c`. With `immediate` its first run is now instead of at a random offset in the spread (a
   * shared target this instance has just taken over). A collector added again after `remove` keeps its stats
   * (runs counted across the gap) and starts only once its previous loop has ended.
   */
  add(c: PollCollector, opts: { immediate?: boolean } = {}): void {
    let stats = this.stats.get(c.name);
    if (!stats) {
      stats = { runs: 0, failures: 0, timeouts: 0, samples: 0 };
      this.stats.set(c.name, stats);
    }
    this.added.set(c.name, { collector: c, at: this.now() });
    const own = new AbortController();
    const before = this.byName.get(c.name)?.done ?? Promise.resolve();
    const done = before.then(() => this.loop(c, stats, own.signal, opts.immediate === true));
    this.byName.set(c.name, { own, done });
    this.loops.add(done);
    void done.finally(() => {
      this.loops.delete(done);
      if (this.byName.get(c.name)?.done === done) this.byName.delete(c.name);
    });
  }

  /**
   * Stops polling the collector named `name` (a shared target another instance owns now): no run after the one in
   * progress, if any; resolves when its loop has ended (and the collector is closed).
   */
  remove(name: string): Promise<void> {
    const entry = this.byName.get(name);
    this.added.delete(name);
    if (!entry) return Promise.resolve();
    entry.own.abort();
    this.sleeping.get(name)?.();
    return entry.done;
  }

  /** Whether `name` is being polled (added and not removed). */
  has(name: string): boolean {
    return this.added.has(name);
  }

  /** Each collector's own loop: its stop signal and its end. */
  private readonly byName = new Map<string, { own: AbortController; done: Promise<void> }>();
  /** The wake function of each collector's current sleep (remove wakes one loop). */
  private readonly sleeping = new Map<string, () => void>();

  /** The sleeps between runs, woken at close (a timer each, no AbortSignal listener per sleep). */
  private readonly sleepers = new Set<() => void>();
  /** The runs in progress, aborted at close (no listener on the stop signal per run). */
  private readonly runs = new Set<AbortController>();

  async close(): Promise<void> {
    this.stop.abort();
    for (const wake of [...this.sleepers]) wake();
    for (const ac of [...this.runs]) ac.abort(new Error("shutting down"));
    await Promise.allSettled([...this.loops]);
  }

  /** Sleeps `ms`, or until close. With 1,000 collectors a listener added and removed per sleep was ~4 % of CPU. */
  private sleep(ms: number, name: string): Promise<void> {
    if (this.stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        if (this.sleeping.get(name) === wake) this.sleeping.delete(name);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
      this.sleeping.set(name, wake);
    });
  }

  private jitter(interval: number): number {
    const j = Math.min(interval * 0.1, 1000);
    return (this.random() * 2 - 1) * j;
  }

  private async loop(
    c: PollCollector,
    stats: CollectorStats,
    own: AbortSignal,
    immediate: boolean,
  ): Promise<void> {
    // The collectors of a start are added in one go: count them all before spreading.
    await Promise.resolve();
    const stopped = () => this.stop.signal.aborted || own.aborted;
    // Spread the first runs so that collectors started together — 1,000 SNMP agents, 100 BMCs — do not poll in one
    // burst at start and then in lockstep every interval: over FIRST_RUN_SPACING_MS per collector, within the
    // interval and FIRST_RUN_SPREAD_MS. A host with two collectors has its first data at once, a fleet within 10 s.
    const spread = Math.min(c.interval, FIRST_RUN_SPREAD_MS, this.stats.size * FIRST_RUN_SPACING_MS);
    let next = this.now() + (immediate ? 0 : this.random() * spread);
    while (!stopped()) {
      await this.sleep(Math.max(0, next - this.now()), c.name);
      if (stopped()) break;
      const started = this.now();
      next = started + c.interval + this.jitter(c.interval);
      await this.runOnce(c, stats, started);
    }
    await c
      .close?.()
      .catch((err: unknown) => this.log.warn({ err, collector: c.name }, "collector close failed"));
  }

  /** One run of a collector, bounded by its timeout whatever it does. Exposed for `standby collect --once`. */
  async runOnce(c: PollCollector, stats: CollectorStats, started = this.now()): Promise<Sample[]> {
    const ac = new AbortController();
    if (this.stop.signal.aborted) ac.abort(new Error("shutting down"));
    this.runs.add(ac);
    let timer: NodeJS.Timeout | undefined;
    let expired = false;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve("timeout");
        ac.abort(new Error(`timed out after ${c.timeout} ms`));
      }, c.timeout);
    });
    stats.runs++;
    stats.lastRunAt = started;
    const timeout = (): Sample[] => {
      stats.timeouts++;
      stats.lastOk = false;
      stats.lastError = `timed out after ${c.timeout} ms`;
      this.log.warn(
        { collector: c.name, timeout_ms: c.timeout },
        "collector run timed out; its metrics go stale",
      );
      return [];
    };
    try {
      const r = await Promise.race([c.collect(ac.signal), timedOut]);
      if (r === "timeout" || expired) return timeout();
      stats.samples += r.length;
      stats.lastOk = true;
      if (r.length > 0) this.emit(c.name, r);
      return r;
    } catch (err) {
      // A collector that gave up on its aborted signal timed out; it did not fail on its own.
      if (expired) return timeout();
      stats.failures++;
      stats.lastOk = false;
      stats.lastError = (err as Error).message;
      if (!this.stop.signal.aborted)
        this.log.warn({ collector: c.name, err: stats.lastError }, "collector run failed");
      return [];
    } finally {
      clearTimeout(timer);
      this.runs.delete(ac);
      stats.lastDurationMs = this.now() - started;
    }
  }
}

import { createCollectors, prepareCollector } from "../../collectors/index.js";
import type { Collector, Log, PollCollector } from "../collector.js";
import type { CollectorSpec, Config } from "../config/schema.js";
import type { Sample } from "../engine/types.js";
import type { EventOf } from "../groups/events.js";
import type { ScheduledCollector } from "./liveness.js";
import { type CollectorStats, Scheduler } from "./scheduler.js";

/**
 * The collectors the daemon runs: built from the config (each block resolved on the host first, e.g. a probe's
 * `target: gateway`), polled by the scheduler or started as streams, stopped on reload and at stop.
 */
export class CollectorRuntime {
  private scheduler: Scheduler | undefined;
  private streams = new AbortController();
  private running: Collector[] = [];

  constructor(
    private readonly opts: {
      readonly log: Log;
      /** Monotonic ms. */
      readonly now: () => number;
      readonly ingest: (samples: readonly Sample[]) => void;
      /** Collectors to use instead of the configured ones (tests). */
      readonly override?: readonly Collector[] | undefined;
      /** Records a `collector` event (without ts): a device stopped answering, or answers again. */
      readonly record?: (e: Omit<EventOf<"collector">, "ts">) => void;
      /**
       * Fleet mode (shards.ts): whether this instance polls the shared target of that name now. Absent: every
       * collector is polled. A shared polling collector it does not own is built but not scheduled.
       */
      readonly owns?: (target: string) => boolean;
      /** How often a block that could not be resolved on the host is tried again (ms; default 5 s). */
      readonly retryEvery?: number;
    },
  ) {}

  /**
   * Blocks that could not be resolved on the host when built (a probe's `target: gateway` with no default route
   * yet: the network came up late), tried again every `retryEvery` after `start` until they resolve.
   */
  private pendingDeferred: Deferred[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  /** The shared polling collectors (built from a `shared: true` block) and their target (the block's name). */
  private shared = new Map<PollCollector, string>();

  /** What each (collector, target) said last: the error, or "" when it answered. */
  private readonly reported = new Map<string, string>();

  /** A collector's report on a device: an event when it starts failing, changes its reason, or recovers. */
  private report(collector: string, target: string, error: string | undefined): void {
    const key = `${collector}\u0000${target}`;
    const before = this.reported.get(key);
    const now = error ?? "";
    if (before === now || (before === undefined && now === "")) {
      if (before === undefined) this.reported.set(key, now);
      return;
    }
    this.reported.set(key, now);
    this.opts.record?.({
      kind: "collector",
      collector,
      target,
      state: error === undefined ? "ok" : "failing",
      reason:
        error === undefined ? `${collector}: ${target} answers again` : `${collector}: ${target}: ${error}`,
    });
  }

  get inUse(): readonly Collector[] {
    return this.running;
  }

  stats(name: string): CollectorStats | undefined {
    return this.scheduler?.stats.get(name);
  }

  /** The polling collectors as scheduled: the watchdog's check (liveness.ts). */
  scheduled(): ScheduledCollector[] {
    const s = this.scheduler;
    if (!s || this.streams.signal.aborted) return []; // stopped (or between the two halves of a reload)
    return [...s.added.values()].map(({ collector: c, at }) => ({
      name: c.name,
      interval: c.interval,
      timeout: c.timeout,
      lastRunAt: s.stats.get(c.name)?.lastRunAt,
      addedAt: at,
    }));
  }

  /**
   * The configured collectors, created (not started). With `strict` (reload), one that cannot be resolved or
   * created fails the whole call, so that the running ones are kept; at start it is logged and left out.
   */
  async build(config: Config, strict: boolean): Promise<Collector[]> {
    if (this.opts.override) return [...this.opts.override];
    const deferred: Deferred[] = [];
    const specs = await Promise.all(
      config.collectors.map((spec) =>
        this.prepare(spec).catch((err: unknown) => {
          // What the host does not have yet (no default route): started when it does, not refused.
          deferred.push({ spec, host: config.host, error: (err as Error).message });
          return undefined;
        }),
      ),
    );
    const built = specs.flatMap((spec) => {
      if (!spec) return [];
      try {
        const made = this.create(spec, config.host);
        if (isShared(spec)) for (const c of made) if (c.kind === "poll") this.pendingShared.set(c, spec.name);
        return made;
      } catch (err) {
        if (strict) throw new Error(`collector "${spec.name}" cannot start: ${(err as Error).message}`);
        this.opts.log.error({ collector: spec.name, err: (err as Error).message }, "collector cannot start");
        return [];
      }
    });
    this.pendingDeferred = deferred;
    return built;
  }

  /** The collectors of a resolved block (throws on a bad block). */
  private create(spec: CollectorSpec, host: string): Collector[] {
    const { log, now } = this.opts;
    return createCollectors(spec, {
      host,
      // Samples are stamped on the monotonic clock, in whole ms (metrics.prom and traces want integers).
      now: () => Math.round(now()),
      log,
      report: (target: string, error: string | undefined) => this.report(spec.name, target, error),
    });
  }

  /** Shared collectors built and not yet started (a reload builds before it commits). */
  private pendingShared = new Map<PollCollector, string>();

  /**
   * Applies the shard map (fleet mode): starts polling the shared collectors this instance owns now — their first
   * run at once, not after a spread — and stops the ones it no longer owns. A no-op before `start`.
   */
  reshard(): void {
    const s = this.scheduler;
    const owns = this.opts.owns;
    if (!s || !owns || this.streams.signal.aborted) return;
    for (const [c, target] of this.shared) {
      const mine = owns(target);
      if (mine && !s.has(c.name)) s.add(c, { immediate: true });
      else if (!mine && s.has(c.name))
        void s
          .remove(c.name)
          .catch((err: unknown) => this.opts.log.warn({ err, collector: c.name }, "collector stop failed"));
    }
  }

  /** Starts `collectors` (after `stop` of the ones before, if any). */
  start(collectors: Collector[]): void {
    const { log, now, ingest } = this.opts;
    this.streams = new AbortController();
    this.scheduler = new Scheduler((_, samples) => ingest(samples), log, now);
    this.running = [];
    this.shared = new Map();
    for (const c of collectors) this.launch(c, false, this.pendingShared.get(c as PollCollector));
    this.pendingShared = new Map();
    const deferred = this.pendingDeferred;
    this.pendingDeferred = [];
    for (const { spec, error } of deferred) this.notStarted(spec.name, error);
    if (deferred.length > 0) this.retry(deferred);
  }

  /**
   * Polls `c` (unless it is a shared target, `target`, that another instance owns) or starts its stream.
   */
  private launch(c: Collector, immediate: boolean, target: string | undefined): void {
    const s = this.scheduler!;
    this.running.push(c);
    if (c.kind === "poll") {
      if (target !== undefined) {
        this.shared.set(c, target);
        if (this.opts.owns && !this.opts.owns(target)) return;
      }
      s.add(c, { immediate });
      return;
    }
    try {
      c.start((samples) => this.opts.ingest(samples), this.streams.signal);
    } catch (err) {
      this.opts.log.error({ collector: c.name, err: (err as Error).message }, "collector cannot start");
    }
  }

  /** Tries the blocks that could not be resolved again after `retryEvery`, until each one is started. */
  private retry(blocks: Deferred[]): void {
    const signal = this.streams.signal;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = undefined;
      const left: Deferred[] = [];
      for (const d of blocks) {
        const { spec } = d;
        let resolved: CollectorSpec;
        try {
          resolved = await this.prepare(spec);
        } catch (err) {
          if (signal.aborted) return;
          this.notStarted(spec.name, (err as Error).message);
          left.push(d);
          continue;
        }
        if (signal.aborted) return; // stopped or reloaded meanwhile: the next start builds its own
        try {
          const made = this.create(resolved, d.host);
          for (const c of made)
            this.launch(c, true, isShared(spec) && c.kind === "poll" ? spec.name : undefined);
          this.started(spec.name, made.length);
        } catch (err) {
          this.opts.log.error(
            { collector: spec.name, err: (err as Error).message },
            "collector cannot start",
          );
        }
      }
      if (left.length > 0) this.retry(left);
    }, this.opts.retryEvery ?? DEFERRED_RETRY_MS);
    this.retryTimer.unref();
  }

  /** A block that could not be resolved: logged, and an event, when it starts failing or its reason changes. */
  private notStarted(name: string, error: string): void {
    const every = this.opts.retryEvery ?? DEFERRED_RETRY_MS;
    const key = `${name}\u0000(start)`;
    if (this.reported.get(key) === error) return; // said already: no line every few seconds
    this.reported.set(key, error);
    this.opts.log.warn(
      { collector: name, err: error },
      `collector not started; tried again every ${every} ms`,
    );
    this.opts.record?.({
      kind: "collector",
      collector: name,
      target: name,
      state: "failing",
      reason: `${name}: not started: ${error} (tried again every ${every / 1000} s)`,
    });
  }

  private started(name: string, count: number): void {
    this.reported.delete(`${name}\u0000(start)`);
    this.opts.log.info({ collector: name, count }, "collector started (resolved after start)");
    this.opts.record?.({
      kind: "collector",
      collector: name,
      target: name,
      state: "ok",
      reason: `${name}: started: resolved on this host now`,
    });
  }

  async stop(): Promise<void> {
    this.streams.abort();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.scheduler?.close();
  }

  private async prepare(spec: CollectorSpec): Promise<CollectorSpec> {
    const prepared = await prepareCollector(spec);
    if (prepared !== spec)
      this.opts.log.info({ collector: spec.name, resolved: prepared }, "collector resolved");
    return prepared;
  }
}

interface Deferred {
  readonly spec: CollectorSpec;
  readonly host: string;
  readonly error: string;
}

const isShared = (spec: CollectorSpec): boolean => (spec as { shared?: boolean }).shared === true;

/** How often a block that could not be resolved on the host (no default route yet) is tried again. */
const DEFERRED_RETRY_MS = 5000;

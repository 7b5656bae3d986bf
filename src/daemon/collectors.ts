import { createCollectors, prepareCollector } from "../../collectors/index.js";
import type { Collector, Log, PollCollector } from "../collector.js";
import type { CollectorSpec, Config } from "../config/schema.js";
import type { Sample } from "../engine/types.js";
import type { EventOf } from "../groups/events.js";
import { CollectorEvents, changes } from "./collector-events.js";
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
      /** How often a block the host resolved (`target: gateway`) is resolved again (ms; default 15 s). */
      readonly reresolveEvery?: number;
      /**
       * A block now resolves to something else (the default route's gateway changed): its collectors were
       * replaced, and the series of the collector named `collector` so far will not come back.
       */
      readonly retired?: (collector: string, why: string) => void;
    },
  ) {
    this.events = new CollectorEvents((e) => this.opts.record?.(e), opts.log);
  }

  /** The `collector` events: a device failing or answering again, a block not started or resolved again. */
  private readonly events: CollectorEvents;

  /** Blocks the host resolved, by name: resolved again every `reresolveEvery`, replaced when that changes. */
  private resolved = new Map<string, Resolved>();
  /** Built and not started yet (a reload builds before it commits). */
  private pendingResolved: Omit<Resolved, "stop">[] = [];
  private reresolveTimer: NodeJS.Timeout | undefined;
  private reresolving = false;

  /**
   * Blocks that could not be resolved on the host when built (a probe's `target: gateway` with no default route
   * yet: the network came up late), tried again every `retryEvery` after `start` until they resolve.
   */
  private pendingDeferred: Deferred[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  /** The shared polling collectors (built from a `shared: true` block) and their target (the block's name). */
  private shared = new Map<PollCollector, string>();

  private get retryEvery(): number {
    return this.opts.retryEvery ?? DEFERRED_RETRY_MS;
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
    const resolved: Omit<Resolved, "stop">[] = [];
    const built = specs.flatMap((spec, i) => {
      if (!spec) return [];
      try {
        const made = this.create(spec, config.host);
        if (isShared(spec)) for (const c of made) if (c.kind === "poll") this.pendingShared.set(c, spec.name);
        const written = config.collectors[i]!;
        if (spec !== written)
          resolved.push({ spec: written, host: config.host, key: JSON.stringify(spec), collectors: made });
        return made;
      } catch (err) {
        if (strict) throw new Error(`collector "${spec.name}" cannot start: ${(err as Error).message}`);
        this.opts.log.error({ collector: spec.name, err: (err as Error).message }, "collector cannot start");
        return [];
      }
    });
    this.pendingDeferred = deferred;
    this.pendingResolved = resolved;
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
      report: (target: string, error: string | undefined) => this.events.report(spec.name, target, error),
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
    clearInterval(this.reresolveTimer); // (stop() cleared them already; a start without one must not double them)
    clearTimeout(this.retryTimer);
    this.streams = new AbortController();
    this.scheduler = new Scheduler((_, samples) => ingest(samples), log, now);
    this.running = [];
    this.shared = new Map();
    this.resolved = new Map();
    const signals = new Map<Collector, AbortSignal>();
    for (const r of this.pendingResolved) {
      const stop = this.linkedAbort();
      this.resolved.set(r.spec.name, { ...r, stop });
      for (const c of r.collectors) signals.set(c, stop.signal);
    }
    this.pendingResolved = [];
    for (const c of collectors)
      this.launch(c, false, this.pendingShared.get(c as PollCollector), signals.get(c));
    this.pendingShared = new Map();
    this.reresolveTimer = setInterval(() => void this.reresolve(), this.opts.reresolveEvery ?? RERESOLVE_MS);
    this.reresolveTimer.unref();
    const deferred = this.pendingDeferred;
    this.pendingDeferred = [];
    for (const { spec, error } of deferred) this.events.notStarted(spec.name, error, this.retryEvery);
    if (deferred.length > 0) this.retry(deferred);
  }

  /**
   * Polls `c` (unless it is a shared target, `target`, that another instance owns) or starts its stream.
   */
  private launch(
    c: Collector,
    immediate: boolean,
    target: string | undefined,
    signal = this.streams.signal,
  ): void {
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
      // Nothing after its stop (a replaced probe's last answer would bring back the series just retired).
      c.start((samples) => {
        if (!signal.aborted) this.opts.ingest(samples);
      }, signal);
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
          this.events.notStarted(spec.name, (err as Error).message, this.retryEvery);
          left.push(d);
          continue;
        }
        if (signal.aborted) return; // stopped or reloaded meanwhile: the next start builds its own
        try {
          const made = this.create(resolved, d.host);
          this.startBlock(spec, d.host, resolved, made);
          this.events.started(spec.name, made.length);
        } catch (err) {
          this.opts.log.error(
            { collector: spec.name, err: (err as Error).message },
            "collector cannot start",
          );
        }
      }
      if (left.length > 0) this.retry(left);
    }, this.retryEvery);
    this.retryTimer.unref();
  }

  /**
   * Starts a block's collectors after the others (first runs at once), under their own stop when the host resolved
   * the block (`resolved` ≠ `spec`): then it is resolved again every `reresolveEvery`.
   */
  private startBlock(spec: CollectorSpec, host: string, resolved: CollectorSpec, made: Collector[]): void {
    const stop = this.linkedAbort();
    if (resolved !== spec)
      this.resolved.set(spec.name, { spec, host, key: JSON.stringify(resolved), collectors: made, stop });
    for (const c of made)
      this.launch(c, true, isShared(spec) && c.kind === "poll" ? spec.name : undefined, stop.signal);
  }

  /** An abort controller that also aborts when the running collectors stop (this.streams). */
  private linkedAbort(): AbortController {
    const ac = new AbortController();
    this.streams.signal.addEventListener("abort", () => ac.abort(), { once: true, signal: ac.signal });
    return ac;
  }

  /**
   * Resolves the resolved blocks again; one whose answer changed (the default route now has another gateway) has
   * its collectors replaced — the old ones stopped, `retired` told, the new ones started at once — and an event
   * says what changed. One that cannot be resolved now (no default route) keeps its collectors: their failures
   * say so.
   */
  private async reresolve(): Promise<void> {
    if (this.reresolving || this.resolved.size === 0) return;
    this.reresolving = true;
    const signal = this.streams.signal;
    try {
      for (const [name, r] of this.resolved) {
        const next = await this.prepare(r.spec, false).catch(() => undefined);
        if (signal.aborted) return;
        if (!next || JSON.stringify(next) === r.key) continue;
        let made: Collector[];
        try {
          made = this.create(next, r.host);
        } catch (err) {
          this.opts.log.error({ collector: name, err: (err as Error).message }, "collector cannot start");
          continue;
        }
        r.stop.abort();
        for (const c of r.collectors)
          if (c.kind === "poll") await this.scheduler?.remove(c.name).catch(() => undefined);
        if (signal.aborted) return;
        this.running = this.running.filter((c) => !r.collectors.includes(c));
        const what = changes(JSON.parse(r.key) as unknown, next).join(", ");
        this.opts.log.info({ collector: name, resolved: next }, `collector resolved again: ${what}`);
        this.opts.retired?.(name, `collector ${name} resolved again (${what})`);
        this.startBlock(r.spec, r.host, next, made);
        this.events.resolvedAgain(name, what);
      }
    } finally {
      this.reresolving = false;
    }
  }

  async stop(): Promise<void> {
    this.streams.abort();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.reresolveTimer);
    this.reresolveTimer = undefined;
    await this.scheduler?.close();
  }

  private async prepare(spec: CollectorSpec, log = true): Promise<CollectorSpec> {
    const prepared = await prepareCollector(spec);
    if (log && prepared !== spec)
      this.opts.log.info({ collector: spec.name, resolved: prepared }, "collector resolved");
    return prepared;
  }
}

interface Resolved {
  /** The block as written. */
  readonly spec: CollectorSpec;
  readonly host: string;
  /** The block as the host resolved it last, as JSON. */
  readonly key: string;
  readonly collectors: Collector[];
  /** Stops these collectors (also aborted when all stop). */
  readonly stop: AbortController;
}

interface Deferred {
  readonly spec: CollectorSpec;
  readonly host: string;
  readonly error: string;
}

const isShared = (spec: CollectorSpec): boolean => (spec as { shared?: boolean }).shared === true;

/** How often a block that could not be resolved on the host (no default route yet) is tried again. */
const DEFERRED_RETRY_MS = 5000;
/** How often a block the host resolved is resolved again (one `ip route show` per such block). */
const RERESOLVE_MS = 15_000;

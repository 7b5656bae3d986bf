import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { collectorInterfaces, createCollectors, prepareCollector } from "../../collectors/index.js";
import type { RouteSpec } from "../actions/argv.js";
import { notify } from "../actions/notify.js";
import { addressPresent, type Route, routeMatches, routeReader } from "../actions/routes.js";
import { type ActionContext, type ActionResult, runAction } from "../actions/run.js";
import type { ActionSpec } from "../actions/types.js";
import type { Collector, Log } from "../collector.js";
import type { CollectorSpec, Config } from "../config/schema.js";
import { resolveSecret } from "../config/secrets.js";
import { withDefaultStaleness } from "../config/staleness.js";
import type { Sample } from "../engine/types.js";
import { type Command, type GroupState, initialState } from "../groups/controller.js";
import { EVENT_KINDS, type StandbyEvent } from "../groups/events.js";
import type { GroupSpec, MemberSpec } from "../groups/types.js";
import { type Output, Pipeline, type SwitchOrder } from "../pipeline.js";
import { type AppendWriter, EventLog } from "../sinks/eventlog.js";
import { decisionGauges, MetricsTextfile } from "../sinks/textfile.js";
import { SerialQueue, writeFileAtomic } from "../util/atomic.js";
import { type Clock, systemClock, toWall } from "../util/clock.js";
import { type CollectorStats, Scheduler } from "./scheduler.js";
import {
  type DurableGroupState,
  fromDurable,
  loadState,
  type SwitchIntent,
  serializeState,
  setAside,
  stateFile,
  toDurable,
} from "./state.js";

/** Group-level events are worth a notification; rule, health and action events are too chatty. */
const NOTIFY_KINDS = new Set<StandbyEvent["kind"]>(
  EVENT_KINDS.filter((k) => k !== "rule" && k !== "health" && k !== "action"),
);

/** setTimeout's longest delay; a later deadline re-arms the timer instead of ticking early. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Log;
  /** Decide and log everything, run no action, write no state file. */
  readonly dryRun?: boolean;
  /** Called with every event (the live view on stdout), time-stamped with wall time. */
  readonly onEvent?: (e: StandbyEvent) => void;
  /** Called after every reload, applied or refused (the live view). */
  readonly onReload?: (r: ReloadOutcome) => void;
  /** Monotonic time for decisions, wall time for events and display (default: the system's). */
  readonly clock?: Clock;
  /** How often the installed routes/addresses are compared with the desired state (ms; 0: never). */
  readonly reassertEvery?: number;
  /** How often state_dir/metrics.prom is rewritten (ms, default 10 s; 0: only at stop). */
  readonly metricsEvery?: number;
  /** Collectors to use instead of the configured ones (tests). */
  readonly collectors?: readonly Collector[];
  /** Writes state.json and metrics.prom atomically (default: `writeFileAtomic`; tests inject slow disks). */
  readonly writeFile?: (path: string, data: string) => Promise<void>;
  /** Appends to the event log (default: the file in state_dir; tests inject slow disks). */
  readonly appendEvents?: AppendWriter;
  /** Runs one action (default: `runAction`; tests count and delay). */
  readonly runAction?: (action: ActionSpec, ctx: ActionContext) => Promise<ActionResult>;
  /**
   * The members whose activation is in place, or undefined when the group's actions cannot be checked
   * (default: routes and addresses read from the kernel; tests fake it).
   */
  readonly installed?: (group: GroupSpec) => Promise<string[] | undefined>;
}

export interface CommandResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly events: readonly StandbyEvent[];
}

/** The outcome of a reload, as `standby status` (`last_reload`) and the live view show it. */
export interface ReloadOutcome {
  /** Wall ms. */
  readonly ts: number;
  readonly ok: boolean;
  readonly message: string;
}

/** A new config to reload, or why there is none (an invalid file). */
export type ReloadSource = { ok: true; config: Config } | { ok: false; message: string };

/**
 * The running monitor: collectors → pipeline (engine + controllers) → actions, with the event log, state
 * persistence, timers at the pipeline's exact deadlines, reconciliation with reality, and reload.
 *
 * Time: decisions, samples and timers use the clock's monotonic time; events get wall time when recorded,
 * state.json holds wall time (converted back at start).
 */
export class Daemon {
  private config: Config;
  private pipeline!: Pipeline;
  private readonly log: Log;
  readonly clock: Clock;
  private readonly dryRun: boolean;
  private eventLog!: EventLog;
  private metrics!: MetricsTextfile;
  private metricsTimer: NodeJS.Timeout | undefined;
  private metricsInFlight: Promise<void> | undefined;
  private scheduler!: Scheduler;
  private streams = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private reassertTimer: NodeJS.Timeout | undefined;
  private reconcileRunning: Promise<void> | undefined;
  /** Switches, resumed switches and reconciliations of one group run one at a time, in order. */
  private readonly groupQueues = new Map<string, SerialQueue>();
  /** Switches queued or running per group: reconciliation leaves such a group to them. */
  private readonly pendingSwitches = new Map<string, number>();
  /** Switches decided and not finished, per group: persisted before their actions run. */
  private readonly intents = new Map<string, SwitchIntent[]>();
  /** state.json writes, in order; a write queued and not started yet takes every later change with it. */
  private readonly stateWrites = new SerialQueue();
  /** Notify hooks see events one at a time, in the order they happened. */
  private readonly notifications = new SerialQueue();
  private stateQueued: Promise<boolean> | undefined;
  private stateInFlight: { seq: number; done: Promise<boolean> } | undefined;
  /** Bumped by every request to save; a write covers the requests made before it started. */
  private stateSeq = 0;
  private stateWritten = 0;
  private lastSaved: string | undefined;
  /** Dry run: the differences between decision and reality already logged, per group. */
  private readonly dryRunDiffs = new Map<string, string>();
  private readonly recent: StandbyEvent[] = [];
  private collectorsInUse: Collector[] = [];
  private nextLoad: (() => Promise<ReloadSource>) | undefined;
  private reloadLoop: Promise<ReloadOutcome | undefined> | undefined;
  private lastReload: ReloadOutcome | undefined;
  /** Monotonic ms. */
  readonly startedAt: number;
  /** Wall ms (the live view's time origin). */
  readonly startedWall: number;
  private stopped = false;
  /** Problems found at start that do not stop the daemon (e.g. an interface that does not exist yet). */
  private warnings: string[] = [];
  private readonly writeFile: (path: string, data: string) => Promise<void>;
  private readonly act: (action: ActionSpec, ctx: ActionContext) => Promise<ActionResult>;

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.dryRun = opts.dryRun === true;
    this.startedAt = this.clock.mono();
    this.startedWall = this.clock.wall();
    this.offset = this.startedWall - this.startedAt;
    this.writeFile = opts.writeFile ?? ((path, data) => writeFileAtomic(path, data));
    this.act = opts.runAction ?? runAction;
  }

  private now(): number {
    return this.clock.mono();
  }

  /**
   * The offset between wall and monotonic time, followed when it moves by 2 ms or more (a clock step, NTP
   * slewing) but not for the sub-millisecond jitter of reading two clocks: events that are 3 s apart on the
   * monotonic clock are 3 s apart in the event log.
   */
  private offset: number;
  private readonly wallClock: Clock = {
    mono: () => 0,
    wall: () => {
      const off = this.clock.wall() - this.clock.mono();
      if (Math.abs(off - this.offset) >= 2) this.offset = off;
      return this.offset;
    },
  };

  /** The wall time of a monotonic instant (events, status, state.json). */
  private wallOf(mono: number): number {
    return toWall(mono, this.wallClock);
  }

  async start(): Promise<void> {
    this.eventLog = this.openEventLog(this.config.state_dir);
    this.metrics = new MetricsTextfile(join(this.config.state_dir, "metrics.prom"));
    this.warnings = await missingInterfaces(this.config);
    for (const w of this.warnings) this.log.warn({ warning: w }, w);
    const saved = await this.loadSaved();
    const initial = new Map<string, GroupState>();
    for (const g of this.config.groups) {
      const d = saved?.[g.name];
      const s = d ? fromDurable(g, d, this.now(), this.wallClock) : undefined;
      if (s) {
        initial.set(g.name, s);
        if (d?.intents?.length) this.intents.set(g.name, [...d.intents]);
        continue;
      }
      // No saved state for this group: the member whose routes/addresses are installed is adopted as active,
      // so a first start does not move traffic by itself.
      const installed = await this.installedMembers(g, routeReader()).catch(() => undefined);
      if (installed?.length === 1) {
        initial.set(g.name, initialState(g, this.now(), installed[0]));
        this.log.info(
          { group: g.name, active: installed[0] },
          "adopted the member whose routes are installed",
        );
      }
    }
    this.pipeline = new Pipeline(
      withDefaultStaleness(this.config.rules, this.config.collectors),
      this.config.groups,
      this.now(),
      initial,
    );
    // Before anything acts: switches a crash cut short are finished, then reality is compared with the
    // active members (both as jobs of each group's queue).
    for (const [group, list] of this.intents) this.resumeSwitch(group, list);
    await this.reconcile("start");
    this.handle(this.pipeline.initialize(this.now()));
    this.scheduler = new Scheduler(
      (_, samples) => this.ingest(samples),
      this.log,
      () => this.now(),
    );
    this.startCollectors(await this.buildCollectors(this.config, false));
    this.reschedule();
    const metricsEvery = this.opts.metricsEvery ?? 10_000;
    if (metricsEvery > 0) {
      this.metricsTimer = setInterval(() => void this.writeMetrics(), metricsEvery);
      this.metricsTimer.unref();
    }
    const every = this.opts.reassertEvery ?? 10_000;
    if (every > 0) {
      this.reassertTimer = setInterval(() => {
        // Periodic runs never overlap: a run still going (a slow `ip`) makes this one skip.
        if (this.reconcileRunning || this.stopped) return;
        void this.reconcile("periodic");
      }, every);
      this.reassertTimer.unref();
    }
    this.log.info(
      {
        groups: this.config.groups.map((g) => `${g.name}:${this.pipeline.groupState(g.name)?.active}`),
        rules: this.config.rules.length,
        collectors: this.collectorsInUse.map((c) => c.name),
        dry_run: this.dryRun,
      },
      "standby started",
    );
  }

  /** Stops collectors and timers, lets running switches finish, and drains every write. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.nextLoad = undefined;
    clearTimeout(this.timer);
    clearInterval(this.reassertTimer);
    clearInterval(this.metricsTimer);
    await this.reloadLoop?.catch(() => undefined);
    this.streams.abort();
    await this.scheduler?.close();
    await this.reconcileRunning;
    await Promise.allSettled([...this.groupQueues.values()].map((q) => q.drain()));
    await this.saveState();
    await this.writeMetrics();
    await this.stateWrites.drain();
    await this.notifications.drain();
    await this.eventLog.close();
    this.log.info({}, "standby stopped");
  }

  /**
   * Reloads from `load` (SIGHUP). Reloads never overlap: one requested while another runs is done once after
   * it, however many were requested meanwhile. A reload that fails anywhere leaves the old config running,
   * collectors included. Resolves with the outcome of the last reload run.
   */
  requestReload(load: () => Promise<ReloadSource>): Promise<ReloadOutcome | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    this.nextLoad = load;
    if (!this.reloadLoop) this.reloadLoop = this.runReloads();
    return this.reloadLoop;
  }

  /** Swaps in a new, already validated config (see requestReload). */
  reload(config: Config): Promise<ReloadOutcome | undefined> {
    return this.requestReload(async () => ({ ok: true, config }));
  }

  /** An operator command on a group (from the API); times in the command are monotonic. */
  async command(group: string, cmd: Command): Promise<CommandResult> {
    const r = this.pipeline.command(group, { ...cmd, by: "operator" }, this.now());
    const events = this.handle(r);
    return { ok: r.error === undefined, ...(r.error ? { error: r.error } : {}), events };
  }

  /** Feeds samples (the collectors' emit); their `ts` is monotonic. */
  ingest(samples: readonly Sample[]): void {
    this.metrics.record(samples);
    const out: Output = { events: [], switches: [] };
    for (const s of samples) this.pipeline.ingest(s, out);
    if (out.events.length > 0 || out.switches.length > 0) this.handle(out);
  }

  recentEvents(limit = 50): StandbyEvent[] {
    return this.recent.slice(-limit);
  }

  /** For people: every time in it is wall time. */
  status(): DaemonStatus {
    const p = this.pipeline;
    const w = (t: number) => this.wallOf(t);
    return {
      host: this.config.host,
      started_at: this.startedWall,
      now: this.clock.wall(),
      dry_run: this.dryRun,
      config: this.config.configFile,
      warnings: this.warnings,
      ...(this.lastReload ? { last_reload: this.lastReload } : {}),
      groups: this.config.groups.map((g) => {
        const s = p.groupState(g.name)!;
        return {
          name: g.name,
          active: s.active,
          since: w(s.since),
          failback: g.failback.mode,
          hold_ms: s.hold,
          ...(s.frozen
            ? {
                frozen: {
                  ...s.frozen,
                  at: w(s.frozen.at),
                  ...(s.frozen.until !== undefined ? { until: w(s.frozen.until) } : {}),
                },
              }
            : {}),
          ...(s.pin
            ? { pin: { ...s.pin, ...(s.pin.until !== undefined ? { until: w(s.pin.until) } : {}) } }
            : {}),
          ...((this.intents.get(g.name)?.length ?? 0) > 0 ? { switching: true } : {}),
          members: g.members.map((m) => ({
            name: m.name,
            priority: m.priority,
            health: s.health[m.name]?.health ?? "unknown",
            reason: s.health[m.name]?.reason ?? "no data yet",
            ...(s.healthySince[m.name] !== undefined ? { healthy_since: w(s.healthySince[m.name]!) } : {}),
          })),
        };
      }),
      rules: [...p.engine.allInstances()].map((i) => ({
        rule: i.rule.name,
        labels: i.labels,
        state: i.state,
        health: i.health,
        since: w(i.since),
        ...(i.value !== undefined ? { value: i.value } : {}),
        reason: i.reason,
      })),
      collectors: this.collectorsInUse.map((c) => {
        const stats = this.scheduler?.stats.get(c.name);
        return {
          name: c.name,
          kind: c.kind,
          ...(stats
            ? {
                stats: {
                  ...stats,
                  ...(stats.lastRunAt !== undefined ? { lastRunAt: w(stats.lastRunAt) } : {}),
                },
              }
            : {}),
        };
      }),
      events: this.recentEvents(20),
    };
  }

  // ---- internals ----

  private openEventLog(stateDir: string): EventLog {
    return new EventLog(join(stateDir, "events.jsonl"), {
      ...(this.opts.appendEvents ? { write: this.opts.appendEvents } : {}),
      onError: (err) => this.log.error({ err: err.message }, "cannot write the event log"),
    });
  }

  /**
   * The saved durable state by group, or undefined. A state file that cannot be read or is not shaped as one
   * must not crash-loop the service: it is moved aside (kept for a post-mortem), the daemon starts as with no
   * state (adopting what is installed), and an event says so. A dry run leaves the file where it is.
   */
  private async loadSaved(): Promise<Readonly<Record<string, DurableGroupState>> | undefined> {
    const dir = this.config.state_dir;
    const r = await loadState(dir);
    if (r.kind === "ok") return r.state.groups;
    if (r.kind === "none") return undefined;
    let where: string;
    if (this.dryRun) where = "left in place (dry run)";
    else {
      try {
        where = `moved to ${await setAside(dir, this.clock.wall())}`;
      } catch (err) {
        where = `could not be moved aside (${(err as Error).message})`;
      }
    }
    const reason = `${stateFile(dir)} is unusable: ${r.why}; ${where}; starting as with no saved state (adopting what is installed)`;
    this.log.error({ state_dir: dir, why: r.why }, reason);
    this.record({ ts: this.now(), kind: "state_discarded", reason });
    // The next save replaces the file with the state as adopted.
    return undefined;
  }

  /**
   * The configured collectors, created (not started). With `strict` (reload), one that cannot be created
   * fails the whole call; at start it is logged and left out.
   */
  private async buildCollectors(config: Config, strict: boolean): Promise<Collector[]> {
    if (this.opts.collectors) return [...this.opts.collectors];
    // Samples are stamped on the monotonic clock, in whole ms (metrics.prom and traces want integers).
    const ctx = { host: config.host, now: () => Math.round(this.now()), log: this.log };
    const specs = await Promise.all(config.collectors.map((spec) => this.resolveTargets(spec, strict)));
    return specs.flatMap((spec) => {
      if (!spec) return [];
      try {
        return createCollectors(spec, ctx);
      } catch (err) {
        if (strict) throw new Error(`collector "${spec.name}" cannot start: ${(err as Error).message}`);
        this.log.error({ collector: spec.name, err: (err as Error).message }, "collector cannot start");
        return [];
      }
    });
  }

  private startCollectors(collectors: Collector[]): void {
    this.collectorsInUse = collectors;
    for (const c of collectors) {
      if (c.kind === "poll") this.scheduler.add(c);
      else {
        try {
          c.start((samples) => this.ingest(samples), this.streams.signal);
        } catch (err) {
          this.log.error({ collector: c.name, err: (err as Error).message }, "collector cannot start");
        }
      }
    }
  }

  private async runReloads(): Promise<ReloadOutcome | undefined> {
    let last: ReloadOutcome | undefined;
    try {
      while (this.nextLoad && !this.stopped) {
        const load = this.nextLoad;
        this.nextLoad = undefined;
        last = await this.reloadOnce(load);
      }
    } finally {
      // Synchronously after the last check of nextLoad: a request from now on starts a new loop.
      this.reloadLoop = undefined;
    }
    return last;
  }

  private async reloadOnce(load: () => Promise<ReloadSource>): Promise<ReloadOutcome> {
    let src: ReloadSource;
    try {
      src = await load();
    } catch (err) {
      src = { ok: false, message: (err as Error).message };
    }
    let outcome: ReloadOutcome;
    if (!src.ok) outcome = { ts: this.clock.wall(), ok: false, message: `reload refused: ${src.message}` };
    else {
      try {
        await this.applyConfig(src.config);
        outcome = {
          ts: this.clock.wall(),
          ok: true,
          message: `reloaded: ${src.config.groups.length} group(s), ${src.config.rules.length} rule(s), ${this.collectorsInUse.length} collector(s)`,
        };
      } catch (err) {
        outcome = {
          ts: this.clock.wall(),
          ok: false,
          message: `reload refused: ${(err as Error).message}; the running configuration stays`,
        };
      }
    }
    this.lastReload = outcome;
    if (outcome.ok) {
      this.log.info(
        { rules: src.ok ? src.config.rules.length : 0, groups: src.ok ? src.config.groups.length : 0 },
        "configuration reloaded",
      );
    } else this.log.error({ reason: outcome.message }, outcome.message);
    try {
      this.opts.onReload?.(outcome);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "reload listener failed");
    }
    return outcome;
  }

  /**
   * Everything that can fail is built first (pipeline, collectors, the new state_dir); only then are the old
   * collectors stopped and the new ones started. Rule state carries over by rule name and labels, group state
   * by group name; a group whose `failback.hold` changed starts again from the new hold.
   */
  private async applyConfig(config: Config): Promise<void> {
    const old = this.pipeline;
    const oldSpecs = new Map(old.groupSpecs().map((g) => [g.name, g]));
    const initial = new Map<string, GroupState>();
    for (const g of config.groups) {
      const s = old.groupState(g.name);
      if (!s || !g.members.some((m) => m.name === s.active)) continue;
      const before = oldSpecs.get(g.name);
      if (before && before.failback.hold !== g.failback.hold) {
        const { probation: _, ...rest } = s;
        initial.set(g.name, { ...rest, hold: g.failback.hold });
      } else initial.set(g.name, { ...s, hold: Math.min(s.hold, g.failback.max_hold) });
    }
    const pipeline = new Pipeline(
      withDefaultStaleness(config.rules, config.collectors),
      config.groups,
      this.now(),
      initial,
    );
    pipeline.engine.carryOver(old.engine);
    const collectors = await this.buildCollectors(config, true);
    const dirChanged = config.state_dir !== this.config.state_dir;
    if (dirChanged && !this.dryRun) await mkdir(config.state_dir, { recursive: true });
    if (this.stopped) throw new Error("the daemon is stopping");

    // Commit: nothing below fails the reload.
    this.streams.abort();
    await this.scheduler.close();
    this.config = config;
    this.pipeline = pipeline;
    if (dirChanged) {
      const oldLog = this.eventLog;
      this.eventLog = this.openEventLog(config.state_dir);
      this.metrics = new MetricsTextfile(join(config.state_dir, "metrics.prom"));
      this.lastSaved = undefined;
      void oldLog.close().catch(() => {});
    }
    for (const name of this.intents.keys())
      if (!config.groups.some((g) => g.name === name)) this.intents.delete(name);
    this.streams = new AbortController();
    this.scheduler = new Scheduler(
      (_, samples) => this.ingest(samples),
      this.log,
      () => this.now(),
    );
    this.startCollectors(collectors);
    this.handle(this.pipeline.initialize(this.now()));
    void this.saveState();
    this.reschedule();
  }

  /**
   * A block as the host resolves it (a probe's `target: gateway` is the default route's gateway), when the
   * collectors start and on reload. One that cannot be resolved is not started, and says why (at start), or
   * refuses the reload (`strict`), so that the running collector is kept rather than dropped.
   */
  private async resolveTargets(spec: CollectorSpec, strict: boolean): Promise<CollectorSpec | undefined> {
    try {
      const prepared = await prepareCollector(spec);
      if (prepared !== spec)
        this.log.info({ collector: spec.name, resolved: prepared }, "collector resolved");
      return prepared;
    } catch (err) {
      if (strict) throw new Error(`collector "${spec.name}": ${(err as Error).message}`);
      this.log.error({ collector: spec.name, err: (err as Error).message }, "collector cannot start");
      return undefined;
    }
  }

  /**
   * One timer, at the pipeline's next deadline (a `for`, a hold, a stale_after, a pin expiry…). A deadline
   * beyond setTimeout's range (24.8 days) re-arms the timer when it wakes, without ticking.
   */
  private reschedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const d = this.pipeline.nextDeadline();
    if (d === undefined) return;
    const delay = Math.max(0, d - this.now());
    if (delay > MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.reschedule(), MAX_TIMER_MS);
      return;
    }
    // setTimeout can fire a millisecond early; tick at the deadline, not before it.
    this.timer = setTimeout(() => {
      try {
        this.handle(this.pipeline.tick(Math.max(this.now(), d)));
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "timer failed");
        this.reschedule();
      }
    }, delay);
  }

  /** Records the events (wall-stamped), persists, queues the switches; returns the events as recorded. */
  private handle(out: Output): StandbyEvent[] {
    const recorded = out.events.map((e) => this.record(e));
    for (const sw of out.switches) this.enqueueSwitch(sw);
    if (out.events.some((e) => e.kind !== "rule") || out.switches.length > 0) void this.saveState();
    this.reschedule();
    return recorded;
  }

  private record(event: StandbyEvent): StandbyEvent {
    const e: StandbyEvent = {
      ...event,
      ts: this.wallOf(event.ts),
      ...(this.dryRun ? { dry_run: true } : {}),
    };
    try {
      this.eventLog.append(e);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "cannot write the event log");
    }
    this.recent.push(e);
    if (this.recent.length > 1000) this.recent.splice(0, this.recent.length - 1000);
    const level = e.kind === "rule" || e.kind === "health" || e.kind === "action" ? "info" : "warn";
    this.log[level]({ event: e }, `${e.kind}${"group" in e ? ` ${e.group}` : ""}: ${e.reason}`);
    try {
      this.opts.onEvent?.(e);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "event listener failed");
    }
    if (NOTIFY_KINDS.has(e.kind) && this.config.notify.length > 0 && !this.dryRun) {
      // One at a time, in the order the events happened (each hook has its timeout, so the queue moves on).
      const hooks = this.config.notify;
      this.notifications
        .run(() => notify(hooks, e, { resolveSecret: (s) => resolveSecret(s) }))
        .then((results) => {
          for (const r of results) {
            if (!r.ok) this.log.warn({ hook: r.kind, err: r.error, event: e.kind }, "notify hook failed");
          }
        })
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "notify failed"));
    }
    return e;
  }

  /** Rewrites metrics.prom off the event loop; a write still running makes this call wait for it instead. */
  private writeMetrics(): Promise<void> {
    if (this.metricsInFlight) return this.metricsInFlight;
    const p = (async () => {
      try {
        const st = this.status();
        // MetricsTextfile.write returns a promise (writeFileAtomic) or, in older trees, nothing.
        await Promise.resolve(this.metrics.write(decisionGauges(st.groups, st.rules)));
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "cannot write metrics.prom");
      } finally {
        this.metricsInFlight = undefined;
      }
    })();
    this.metricsInFlight = p;
    return p;
  }

  /**
   * Writes state.json (the durable part of every group and the unfinished switches) off the event loop, in
   * order. Calls while a write is queued share it (it serializes the state when it starts, so it carries
   * their changes); the promise resolves when the state as of the call is on disk (true) or the write failed
   * (false, logged). A dry run writes nothing.
   */
  private saveState(): Promise<boolean> {
    if (this.dryRun) return Promise.resolve(true);
    this.stateSeq++;
    if (this.stateQueued) return this.stateQueued;
    const p: Promise<boolean> = this.stateWrites
      .run(async () => {
        this.stateQueued = undefined;
        const seq = this.stateSeq;
        this.stateInFlight = { seq, done: p };
        try {
          const groups: Record<string, DurableGroupState> = {};
          for (const g of this.config.groups) {
            const s = this.pipeline.groupState(g.name);
            if (s) groups[g.name] = toDurable(s, this.intents.get(g.name) ?? [], this.wallClock);
          }
          const key = `${this.config.state_dir}\n${JSON.stringify(groups)}`;
          if (key !== this.lastSaved) {
            await this.writeFile(stateFile(this.config.state_dir), serializeState(groups, this.clock.wall()));
            this.lastSaved = key;
          }
          return true;
        } finally {
          this.stateWritten = Math.max(this.stateWritten, seq);
          this.stateInFlight = undefined;
        }
      })
      .catch((err: unknown) => {
        this.log.error(
          { err: (err as Error).message, state_dir: this.config.state_dir },
          "cannot save state",
        );
        return false;
      });
    this.stateQueued = p;
    return p;
  }

  /**
   * Resolves once the state as of `seq` (a value of stateSeq) is on disk: at once if it is, with the write
   * running if that one started after it, else with the next one. A switch waits for this before it acts,
   * without a second write when the one for its decision is already under way.
   */
  private stateDurable(seq: number): Promise<boolean> {
    if (this.dryRun || this.stateWritten >= seq) return Promise.resolve(true);
    if (this.stateInFlight && this.stateInFlight.seq >= seq) return this.stateInFlight.done;
    return this.stateQueued ?? this.saveState();
  }

  private queue(group: string): SerialQueue {
    let q = this.groupQueues.get(group);
    if (!q) this.groupQueues.set(group, (q = new SerialQueue()));
    return q;
  }

  private enqueueSwitch(sw: SwitchOrder): void {
    const intent: SwitchIntent = { from: sw.from, to: sw.to, kind: sw.kind, reason: sw.reason };
    const list = this.intents.get(sw.group) ?? [];
    list.push(intent);
    this.intents.set(sw.group, list);
    void this.saveState();
    const seq = this.stateSeq;
    this.pendingSwitches.set(sw.group, (this.pendingSwitches.get(sw.group) ?? 0) + 1);
    this.queue(sw.group)
      .run(async () => {
        try {
          // Persist, then act: the intent is on disk before the first action runs. A disk that fails does
          // not stop the failover (logged by saveState).
          await this.stateDurable(seq);
          await this.runSwitch(sw);
        } finally {
          this.pendingSwitches.set(sw.group, (this.pendingSwitches.get(sw.group) ?? 1) - 1);
          const l = this.intents.get(sw.group);
          const i = l?.indexOf(intent) ?? -1;
          if (l && i >= 0) l.splice(i, 1);
          if (l?.length === 0) this.intents.delete(sw.group);
          await this.saveState();
        }
      })
      .catch((err: unknown) => {
        this.log.error({ group: sw.group, err: (err as Error).message }, "switch failed unexpectedly");
      });
  }

  /**
   * A switch a crash (or kill -9) cut short: its intent was saved and never cleared. The saved active member's
   * activation is run again, then the deactivation of the members left, whatever kind the actions are.
   */
  private resumeSwitch(groupName: string, list: readonly SwitchIntent[]): void {
    this.pendingSwitches.set(groupName, (this.pendingSwitches.get(groupName) ?? 0) + 1);
    this.queue(groupName)
      .run(async () => {
        try {
          const group = this.config.groups.find((g) => g.name === groupName);
          const state = this.pipeline.groupState(groupName);
          const first = list[0];
          if (!group || !state || !first) return;
          const to = group.members.find((m) => m.name === state.active);
          if (!to) return;
          const froms = [...new Set(list.map((i) => i.from))].filter((f) => f !== to.name);
          const reason = `finishing the ${first.kind} ${list.map((i) => `${i.from} → ${i.to}`).join(", ")} cut short by a restart: activating ${to.name} again${froms.length ? `, then deactivating ${froms.join(", ")}` : ""} (${first.reason})`;
          this.log.warn({ group: groupName, intents: list }, reason);
          this.handle({
            events: [
              {
                ts: this.now(),
                kind: "switch_resumed",
                group: groupName,
                from: first.from,
                to: to.name,
                reason,
              },
            ],
            switches: [],
          });
          const ctx = { group: groupName, from: first.from, to: to.name, reason };
          const failed = await this.runMemberActions(group, to, "activate", to.activate, ctx);
          if (failed) {
            this.handle(this.pipeline.switchResult(groupName, to.name, false, failed, this.now()));
            return;
          }
          for (const name of froms) {
            const m = group.members.find((x) => x.name === name);
            if (m && m.deactivate.length > 0)
              await this.runMemberActions(group, m, "deactivate", m.deactivate, ctx);
          }
        } finally {
          this.pendingSwitches.set(groupName, (this.pendingSwitches.get(groupName) ?? 1) - 1);
          const l = this.intents.get(groupName);
          if (l) {
            l.splice(0, list.length);
            if (l.length === 0) this.intents.delete(groupName);
          }
          await this.saveState();
        }
      })
      .catch((err: unknown) => {
        this.log.error({ group: groupName, err: (err as Error).message }, "resuming a switch failed");
      });
  }

  /**
   * Activation of the new member first (its actions in order; the first failure stops it), then
   * deactivation of the old one, best effort: it never blocks or undoes the activation.
   */
  private async runSwitch(sw: SwitchOrder): Promise<void> {
    const group = this.config.groups.find((g) => g.name === sw.group);
    if (!group) return;
    const to = group.members.find((m) => m.name === sw.to);
    const from = group.members.find((m) => m.name === sw.from);
    if (!to) return;
    const ctx = { group: sw.group, from: sw.from, to: sw.to, reason: sw.reason };
    const failed = await this.runMemberActions(group, to, "activate", to.activate, ctx);
    if (failed) {
      this.handle(this.pipeline.switchResult(sw.group, sw.to, false, failed, this.now()));
      return;
    }
    if (from && from.name !== to.name && from.deactivate.length > 0)
      await this.runMemberActions(group, from, "deactivate", from.deactivate, ctx);
  }

  /** Runs actions in order; returns a description of the first failure, if any. */
  private async runMemberActions(
    group: GroupSpec,
    member: MemberSpec,
    phase: "activate" | "deactivate" | "reassert",
    actions: readonly ActionSpec[],
    ctx: { group: string; from?: string; to: string; reason: string },
  ): Promise<string | undefined> {
    for (const action of actions) {
      const r = await this.act(action, {
        ...ctx,
        dryRun: this.dryRun,
        resolveSecret: (s) => resolveSecret(s),
      });
      this.handle({ events: [actionEvent(group, member, phase, r, this.now())], switches: [] });
      if (!r.ok && phase !== "deactivate") return `${r.kind}: ${r.error ?? "failed"}`;
    }
    return undefined;
  }

  private installedMembers(
    group: GroupSpec,
    routes: (spec: RouteSpec) => Promise<Route[]>,
  ): Promise<string[] | undefined> {
    if (this.opts.installed) return this.opts.installed(group);
    if (!group.members.some((m) => isCheckable(m.activate))) return Promise.resolve(undefined);
    return installedMembers(group, routes);
  }

  /**
   * Compares each group's active member with what is installed (routes, addresses) and re-asserts it when
   * something else changed it: at start (after adopting, see start()) and then periodically. Each group's
   * check is a job of its queue, so it never runs alongside a switch of that group; a group with a switch
   * queued is left to it. Never rejects.
   */
  private reconcile(why: "start" | "periodic"): Promise<void> {
    const routes = routeReader();
    const jobs = this.config.groups.map((g) =>
      this.queue(g.name)
        .run(() => this.reconcileGroup(g.name, why, routes))
        .catch((err: unknown) =>
          this.log.error({ group: g.name, err: (err as Error).message }, "reconciliation failed"),
        ),
    );
    const all = Promise.all(jobs).then(() => {
      if (this.reconcileRunning === all) this.reconcileRunning = undefined;
    });
    this.reconcileRunning = all;
    return all;
  }

  private async reconcileGroup(
    name: string,
    why: "start" | "periodic",
    routes: (spec: RouteSpec) => Promise<Route[]>,
  ): Promise<void> {
    if (this.stopped || (this.pendingSwitches.get(name) ?? 0) > 0) return;
    const group = this.config.groups.find((g) => g.name === name);
    if (!group) return; // removed by a reload
    let installed: string[] | undefined;
    try {
      installed = await this.installedMembers(group, routes);
    } catch (err) {
      this.log.warn({ group: name, err: (err as Error).message }, "cannot read the installed state");
      return;
    }
    if (installed === undefined) return;
    // Read after the await: a reload or a decision may have changed the group meanwhile.
    if (this.stopped || (this.pendingSwitches.get(name) ?? 0) > 0) return;
    const current = this.config.groups.find((g) => g.name === name);
    const state = this.pipeline.groupState(name);
    if (!current || !state) return;
    if (installed.length === 1 && installed[0] === state.active) {
      this.dryRunDiffs.delete(name);
      return;
    }
    const member = current.members.find((m) => m.name === state.active);
    if (!member) return;
    if (this.dryRun) {
      // Nothing acts in a dry run, so reality stays behind the decisions: say so once per difference.
      const diff = `${state.active}|${installed.join(",")}`;
      if (this.dryRunDiffs.get(name) === diff) return;
      this.dryRunDiffs.set(name, diff);
    }
    this.log.warn(
      { group: name, active: state.active, installed, why, dry_run: this.dryRun },
      "installed state differs from the active member; re-asserting it",
    );
    await this.runMemberActions(current, member, "reassert", member.activate, {
      group: name,
      to: member.name,
      reason: `re-assert ${member.name} (${why}): installed ${installed.length ? installed.join(", ") : "none of the members"}`,
    });
  }
}

/**
 * Interfaces the config names (probe `interface`, route `dev`, address `dev`, bond `dev`) that do not exist
 * here. Not fatal — a VLAN or VPN interface may appear later — but said at start, clearly.
 */
async function missingInterfaces(config: Config): Promise<string[]> {
  let present: Set<string>;
  try {
    present = new Set(await readdir("/sys/class/net"));
  } catch {
    return [];
  }
  const named: [string, string][] = [];
  for (const c of config.collectors) {
    for (const dev of collectorInterfaces(c)) named.push([dev, `collector "${c.name}"`]);
  }
  for (const g of config.groups) {
    for (const m of g.members) {
      for (const a of [...m.activate, ...m.deactivate]) {
        const dev =
          "route" in a ? a.route.dev : "address" in a ? a.address.dev : "bond" in a ? a.bond.dev : undefined;
        if (dev) named.push([dev, `group "${g.name}": member "${m.name}"`]);
      }
    }
  }
  return named
    .filter(([dev]) => !present.has(dev))
    .map(([dev, where]) => `${where} names interface "${dev}", which does not exist on this host (yet)`);
}

function isCheckable(actions: readonly ActionSpec[]): boolean {
  return actions.some((a) => "route" in a || "address" in a);
}

/** The members whose route/address actions are all in place. */
async function installedMembers(
  group: GroupSpec,
  getRoutes: (spec: RouteSpec) => Promise<Route[]>,
): Promise<string[]> {
  const out: string[] = [];
  for (const m of group.members) {
    if (!isCheckable(m.activate)) continue;
    let all = true;
    for (const a of m.activate) {
      if ("route" in a) {
        if (!routeMatches(a.route, await getRoutes(a.route))) all = false;
      } else if ("address" in a) {
        const present = await addressPresent(a.address);
        if (present !== (a.address.state === "present")) all = false;
      }
    }
    if (all) out.push(m.name);
  }
  return out;
}

function actionEvent(
  group: GroupSpec,
  member: MemberSpec,
  phase: string,
  r: ActionResult,
  now: number,
): StandbyEvent {
  return {
    ts: now,
    kind: "action",
    group: group.name,
    member: member.name,
    action: r.kind,
    phase,
    ok: r.ok,
    ...(r.dryRun ? { dry_run: true } : {}),
    ...(r.argv ? { argv: r.argv } : {}),
    ...(r.exitCode !== undefined ? { exit_code: r.exitCode } : {}),
    ...(r.abandoned ? { abandoned: true, ...(r.pid !== undefined ? { pid: r.pid } : {}) } : {}),
    duration_ms: r.durationMs,
    ...(r.output ? { output: r.output } : {}),
    reason: `${phase} ${member.name}: ${r.kind} ${r.dryRun ? "(dry run, not run)" : r.ok ? "ok" : `failed: ${r.error ?? ""}`}`,
  };
}

export interface DaemonStatus {
  host: string;
  started_at: number;
  now: number;
  dry_run: boolean;
  config: string;
  warnings: string[];
  /** The last reload (SIGHUP): when (wall ms), whether it was applied, and what it said. */
  last_reload?: ReloadOutcome;
  groups: {
    name: string;
    active: string;
    since: number;
    failback: string;
    hold_ms: number;
    frozen?: GroupState["frozen"];
    pin?: GroupState["pin"];
    /** A switch decided and not finished yet (its actions are running or queued). */
    switching?: boolean;
    members: { name: string; priority: number; health: string; reason: string; healthy_since?: number }[];
  }[];
  rules: {
    rule: string;
    labels: Readonly<Record<string, string>>;
    state: string;
    health: string;
    since: number;
    value?: number;
    reason: string;
  }[];
  collectors: { name: string; kind: string; stats?: CollectorStats }[];
  events: StandbyEvent[];
}

import { mkdir } from "node:fs/promises";
import { runAction } from "../actions/run.js";
import type { Caller } from "../api/guard.js";
import type { Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import { withDefaultStaleness } from "../config/staleness.js";
import type { Sample } from "../engine/types.js";
import type { Command } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import { type Output, Pipeline } from "../pipeline.js";
import { writeFileAtomic } from "../util/atomic.js";
import { type Clock, steadyOffsetClock, systemClock, toWall } from "../util/clock.js";
import { CollectorRuntime } from "./collectors.js";
import { DeadlineTimer } from "./deadline.js";
import { type EventQuery, type OperatorCaller, operatorBy, operatorEvent } from "./eventquery.js";
import { type FleetGlue, joinFleet } from "./fleet.js";
import { checkLiveness, statusLine } from "./liveness.js";
import type { CommandResult, DaemonOptions } from "./options.js";
import { missingInterfaces } from "./preflight.js";
import { EventRecorder } from "./recorder.js";
import { carriedStates, ReloadQueue, type ReloadSource } from "./reload.js";
import type { Shards } from "./shards.js";
import { Sinks } from "./sinks.js";
import { initialStates, loadSaved } from "./startup.js";
import { durableGroups } from "./state.js";
import { StateWriter } from "./statewriter.js";
import { buildStatus, type DaemonStatus, type ReloadOutcome } from "./status.js";
import { Switcher } from "./switches.js";

export type { CommandResult, DaemonOptions } from "./options.js";
export type { ReloadSource } from "./reload.js";
export type { DaemonStatus, ReloadOutcome } from "./status.js";

/**
 * The running monitor: collectors → pipeline (engine + controllers) → actions, with the event log, state
 * persistence, timers at the pipeline's exact deadlines, reconciliation with reality, and reload. The parts
 * live beside it: collectors.ts (running the collectors), switches.ts (carrying out switches, reconcile),
 * statewriter.ts (state.json), recorder.ts (events), status.ts, preflight.ts, startup.ts.
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
  private readonly events: EventRecorder;
  private readonly state: StateWriter;
  private readonly switcher: Switcher;
  private readonly collectors: CollectorRuntime;
  private metricsTimer: NodeJS.Timeout | undefined;
  private readonly deadline = new DeadlineTimer(
    () => this.now(),
    (at) => this.handle(this.pipeline.tick(at)),
    (err) => {
      this.log.error({ err: err.message }, "timer failed");
      this.reschedule();
    },
  );
  private readonly reloads: ReloadQueue;
  private readonly sinks: Sinks;
  /** Fleet mode (a `cluster:` block, not a dry run): the etcd side of shared groups. */
  private glue: FleetGlue | undefined;
  /** Fleet mode: which shared collectors this instance polls (shards.ts). */
  private shards: Shards | undefined;
  /** Monotonic ms. */
  readonly startedAt: number;
  /** Wall ms (the live view's time origin). */
  readonly startedWall: number;
  private stopped = false;
  /** Problems found at start that do not stop the daemon (e.g. an interface that does not exist yet). */
  private warnings: string[] = [];

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.dryRun = opts.dryRun === true;
    this.startedAt = this.clock.mono();
    this.startedWall = this.clock.wall();
    this.wallClock = steadyOffsetClock(this.clock);
    this.events = new EventRecorder({
      logger: this.log,
      dryRun: this.dryRun,
      appendEvents: opts.appendEvents,
      onEvent: (e) => {
        this.sinks.event(e);
        opts.onEvent?.(e);
      },
      hooks: () => this.config.notify,
      wallOf: (t) => this.wallOf(t),
    });
    this.state = new StateWriter({
      dryRun: this.dryRun,
      log: this.log,
      writeFile: opts.writeFile ?? ((path, data) => writeFileAtomic(path, data)),
      snapshot: () => ({
        stateDir: this.config.state_dir,
        groups: durableGroups(
          this.config.groups,
          (g) => this.pipeline.groupState(g),
          (g) => this.switcher.intents.get(g) ?? [],
          this.wallClock,
        ),
        savedAt: this.clock.wall(),
      }),
    });
    this.switcher = new Switcher({
      log: this.log,
      dryRun: this.dryRun,
      act: opts.runAction ?? runAction,
      installed: opts.installed,
      state: this.state,
      config: () => this.config,
      pipeline: () => this.pipeline,
      now: () => this.now(),
      stopped: () => this.stopped,
      handle: (out) => this.handle(out),
      gate: () => this.glue,
    });
    this.reloads = new ReloadQueue({
      log: this.log,
      apply: (config) => this.applyConfig(config),
      wallNow: () => this.clock.wall(),
      onOutcome: opts.onReload,
    });
    this.sinks = new Sinks({
      log: this.log,
      dryRun: this.dryRun,
      wallNow: () => this.clock.wall(),
      config: () => this.config,
      pipeline: () => this.pipeline,
      switching: (g) => this.switcher.switching(g),
      fleet: (g) => this.glue?.sinkView(g),
    });
    this.collectors = new CollectorRuntime({
      log: this.log,
      now: () => this.now(),
      ingest: (samples) => this.ingest(samples),
      override: opts.collectors,
      record: (e) => this.events.record({ ...e, ts: this.now() }),
      owns: (target) => this.shards?.owns(target) ?? true,
      // A probe now reads another gateway: the old target's rule instances go at once (not at forget_after).
      retired: (collector, why) =>
        this.handle(this.pipeline.retire((l) => l.collector === collector, this.now(), why)),
    });
  }

  private now(): number {
    return this.clock.mono();
  }

  /** Wall ↔ monotonic conversion with a steady offset (util/clock.ts). */
  private readonly wallClock: Clock;

  /** The wall time of a monotonic instant (events, status, state.json). */
  private wallOf(mono: number): number {
    return toWall(mono, this.wallClock);
  }

  async start(): Promise<void> {
    this.events.open(this.config.state_dir);
    await this.sinks.apply(this.config);
    this.warnings = await missingInterfaces(this.config);
    for (const w of this.warnings) this.log.warn({ warning: w }, w);
    const saved = await loadSaved(this.config.state_dir, {
      dryRun: this.dryRun,
      wallNow: this.clock.wall(),
      log: this.log,
      record: (e) => this.events.record({ ...e, ts: this.now() }),
    });
    this.glue = await joinFleet(
      {
        log: this.log,
        clock: this.clock,
        wallClock: this.wallClock,
        config: () => this.config,
        pipeline: () => this.pipeline,
        intents: (g) => this.switcher.intents.get(g) ?? [],
        resume: (g, list, fence) => this.switcher.resume(g, list, fence),
        handle: (out) => this.handle(out),
        runCommand: (g, cmd, caller) => this.commandHere(g, cmd, caller),
      },
      this.dryRun,
      (w) => {
        this.warnings.push(w);
        this.log.warn({ warning: w }, w);
      },
    );
    const initial = await initialStates({
      groups: this.config.groups,
      // A shared group's state lives in etcd (its leader carries on from it), not in this host's state.json.
      saved: (g) => (this.glue && g.scope === "shared" ? undefined : saved?.[g.name]),
      now: this.now(),
      wallClock: this.wallClock,
      installed: (g, routes) => this.switcher.installedMembers(g, routes),
      intents: (g, list) => this.switcher.intents.set(g, [...list]),
      log: this.log,
    });
    this.pipeline = new Pipeline(
      withDefaultStaleness(this.config.rules, this.config.collectors),
      this.config.groups,
      this.now(),
      initial,
    );
    this.pipeline.shared = this.glue;
    this.glue?.start();
    this.shards = this.glue?.startShards({
      apply: () => this.collectors.reshard(),
      record: (e) => this.handle({ events: [{ ts: this.now(), ...e } as StandbyEvent], switches: [] }),
    });
    // Before anything acts: switches a crash cut short are finished, then reality is compared with the
    // active members (both as jobs of each group's queue).
    for (const [group, list] of this.switcher.intents) this.switcher.resume(group, list);
    await this.switcher.reconcile("start");
    this.handle(this.pipeline.initialize(this.now()));
    this.collectors.start(await this.collectors.build(this.config, false));
    this.reschedule();
    const metricsEvery = this.opts.metricsEvery ?? 10_000;
    if (metricsEvery > 0) {
      this.metricsTimer = setInterval(() => this.sinks.tick(), metricsEvery);
      this.metricsTimer.unref();
    }
    this.switcher.reconcileEvery(this.opts.reassertEvery ?? 10_000);
    this.log.info(
      {
        groups: this.config.groups.map((g) => `${g.name}:${this.pipeline.groupState(g.name)?.active}`),
        rules: this.config.rules.length,
        collectors: this.collectors.inUse.map((c) => c.name),
        dry_run: this.dryRun,
      },
      "standby started",
    );
  }

  /** Stops collectors and timers, lets running switches finish, and drains every write. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.deadline.arm(undefined);
    this.switcher.reconcileEvery(0);
    clearInterval(this.metricsTimer);
    await this.reloads.close();
    this.shards?.close();
    await this.collectors.stop();
    await this.switcher.drain();
    // Resigning leads and revoking the lease: the next leader takes over at once, not a TTL later.
    await this.glue?.close();
    await this.state.save();
    await this.state.drain();
    await this.sinks.close();
    await this.events.close();
    this.log.info({}, "standby stopped");
  }

  /**
   * Reloads from `load` (SIGHUP). Reloads never overlap: one requested while another runs is done once after
   * it, however many were requested meanwhile. A reload that fails anywhere leaves the old config running,
   * collectors included. Resolves with the outcome of the last reload run.
   */
  requestReload(load: () => Promise<ReloadSource>): Promise<ReloadOutcome | undefined> {
    return this.reloads.request(load);
  }

  /** Swaps in a new, already validated config (see requestReload). */
  reload(config: Config): Promise<ReloadOutcome | undefined> {
    return this.requestReload(async () => ({ ok: true, config }));
  }

  /**
   * An operator command (from the API; monotonic times); its events carry by, who and operator_reason. A shared
   * group this instance does not lead: its leader takes the command (forwarded through etcd).
   */
  async command(group: string, cmd: Command, caller?: Caller & { reason?: string }): Promise<CommandResult> {
    if (this.glue?.shared(group) && !this.glue.decides(group))
      return this.glue.relay.forward(group, cmd, caller);
    return this.commandHere(group, cmd, caller);
  }

  private async commandHere(group: string, cmd: Command, caller?: OperatorCaller): Promise<CommandResult> {
    const r = this.pipeline.command(group, { ...cmd, by: operatorBy(caller) }, this.now());
    const events = this.handle(caller ? { ...r, events: r.events.map((e) => operatorEvent(e, caller)) } : r);
    return { ok: r.error === undefined, ...(r.error ? { error: r.error } : {}), events };
  }

  /** Events for the API (wall `since`), oldest first; every event as it is recorded (its live stream). */
  eventsSince = (q: EventQuery): Promise<StandbyEvent[]> => this.events.query(q);
  subscribe = (fn: (e: StandbyEvent) => void): (() => void) => this.events.subscribers.subscribe(fn);

  /** Feeds samples (the collectors' emit); their `ts` is monotonic. */
  ingest(samples: readonly Sample[]): void {
    this.sinks.samples(samples, this.wallClock.wall());
    const out: Output = { events: [], switches: [] };
    for (const s of samples) this.pipeline.ingest(s, out);
    if (out.events.length > 0 || out.switches.length > 0) this.handle(out);
  }

  /** Why the decision path is stuck, or undefined when it turns: the watchdog's check (liveness.ts). */
  liveness(graceMs?: number): string | undefined {
    if (!this.pipeline || this.stopped) return undefined;
    const deadline = this.pipeline.nextDeadline();
    const [busy, collectors] = [this.switcher.busy(graceMs), this.collectors.scheduled()];
    return checkLiveness({ now: this.now(), deadline, busy, collectors, graceMs });
  }

  /** One line for systemd's STATUS=: each group's active member. */
  summary(): string {
    const p = this.pipeline;
    const active = (g: string) => p?.groupState(g)?.active;
    return p
      ? statusLine(this.config.groups, active, (g) => this.switcher.switching(g), this.dryRun)
      : "starting";
  }

  /** For people: every time in it is wall time. */
  status(): DaemonStatus {
    return buildStatus({
      config: this.config,
      pipeline: this.pipeline,
      startedWall: this.startedWall,
      wallNow: this.clock.wall(),
      dryRun: this.dryRun,
      warnings: this.warnings,
      lastReload: this.reloads.last,
      switching: (g) => this.switcher.switching(g),
      collectors: this.collectors.inUse,
      stats: (c) => this.collectors.stats(c),
      events: this.events.recent(20),
      sinks: this.sinks.status(),
      wall: (t) => this.wallOf(t),
      now: this.now(),
      ...(this.glue
        ? { fleet: { status: () => this.glue!.status(), group: (g) => this.glue!.groupStatus(g) } }
        : {}),
    });
  }

  // ---- internals ----

  /**
   * Everything that can fail is built first (pipeline, collectors, the new state_dir); only then are the old
   * collectors stopped and the new ones started. Rule state carries over by rule name and labels, group state
   * by group name; a group whose `failback.hold` changed starts again from the new hold.
   */
  private async applyConfig(config: Config): Promise<string> {
    const old = this.pipeline;
    const initial = carriedStates(old, config.groups);
    const pipeline = new Pipeline(
      withDefaultStaleness(config.rules, config.collectors),
      config.groups,
      this.now(),
      initial,
    );
    pipeline.engine.carryOver(old.engine);
    pipeline.shared = this.glue;
    if (JSON.stringify(config.cluster ?? null) !== JSON.stringify(this.config.cluster ?? null))
      throw new Error("the cluster: block changed: restart standby to join another fleet or leave it");
    const collectors = await this.collectors.build(config, true);
    const dirChanged = config.state_dir !== this.config.state_dir;
    if (dirChanged && !this.dryRun) await mkdir(config.state_dir, { recursive: true });
    if (this.stopped) throw new Error("the daemon is stopping");

    // Commit: nothing below fails the reload.
    await this.collectors.stop();
    this.config = config;
    this.pipeline = pipeline;
    if (dirChanged) this.events.open(config.state_dir);
    this.switcher.keepGroups(config);
    await this.glue?.reconfigure(config);
    this.shards?.reconfigure();
    await this.sinks.apply(config);
    this.collectors.start(collectors);
    this.handle(this.pipeline.initialize(this.now()));
    void this.state.save();
    this.reschedule();
    return `reloaded: ${config.groups.length} group(s), ${config.rules.length} rule(s), ${this.collectors.inUse.length} collector(s)`;
  }

  /** The one timer at the pipeline's next deadline (deadline.ts). */
  private reschedule(): void {
    this.deadline.arm(this.stopped ? undefined : this.pipeline.nextDeadline());
  }

  /** Records the events (wall-stamped), persists, queues the switches; returns the events as recorded. */
  private handle(out: Output): StandbyEvent[] {
    const recorded = out.events.map((e) => this.events.record(this.glue?.stamp(e) ?? e));
    this.sinks.decided(out);
    for (const sw of out.switches) {
      const order = this.glue ? this.glue.order(sw) : sw;
      if (order) this.switcher.enqueue(order);
    }
    this.glue?.decided(out);
    if (out.events.some((e) => e.kind !== "rule") || out.switches.length > 0) void this.state.save();
    this.reschedule();
    return recorded;
  }
}

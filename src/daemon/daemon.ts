import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createCollectors } from "../../collectors/index.js";
import type { RouteSpec } from "../actions/argv.js";
import { notify } from "../actions/notify.js";
import { addressPresent, type Route, readRoutes, routeMatches, routeReader } from "../actions/routes.js";
import { type ActionResult, runAction } from "../actions/run.js";
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
import { EventLog } from "../sinks/eventlog.js";
import { decisionGauges, MetricsTextfile } from "../sinks/textfile.js";
import { type CollectorStats, Scheduler } from "./scheduler.js";
import { loadState, saveState } from "./state.js";

/** Group-level events are worth a notification; rule, health and action events are too chatty. */
const NOTIFY_KINDS = new Set<StandbyEvent["kind"]>(
  EVENT_KINDS.filter((k) => k !== "rule" && k !== "health" && k !== "action"),
);

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Log;
  /** Decide and log everything, run no action. */
  readonly dryRun?: boolean;
  /** Called with every event (the live view on stdout). */
  readonly onEvent?: (e: StandbyEvent) => void;
  readonly now?: () => number;
  /** How often the installed routes/addresses are compared with the desired state (ms). */
  readonly reassertEvery?: number;
  /** How often state_dir/metrics.prom is rewritten (ms, default 10 s). */
  readonly metricsEvery?: number;
  /** Collectors to use instead of the configured ones (tests). */
  readonly collectors?: readonly Collector[];
}

export interface CommandResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly events: readonly StandbyEvent[];
}

/**
 * The running monitor: collectors → pipeline (engine + controllers) → actions, with the event log, state
 * persistence, timers at the pipeline's exact deadlines, reconciliation with reality, and reload.
 */
export class Daemon {
  private config: Config;
  private pipeline!: Pipeline;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly dryRun: boolean;
  private eventLog!: EventLog;
  private metrics!: MetricsTextfile;
  private metricsTimer: NodeJS.Timeout | undefined;
  private scheduler!: Scheduler;
  private streams = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private reassertTimer: NodeJS.Timeout | undefined;
  /** Actions run one switch at a time per group, in order. */
  private readonly groupQueues = new Map<string, Promise<void>>();
  /** Switches queued or running per group; reconciliation leaves such a group alone. */
  private readonly busy = new Map<string, number>();
  private readonly recent: StandbyEvent[] = [];
  private collectorsInUse: Collector[] = [];
  readonly startedAt: number;
  private stopped = false;
  /** Problems found at start that do not stop the daemon (e.g. an interface that does not exist yet). */
  private warnings: string[] = [];

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.dryRun = opts.dryRun === true;
    this.startedAt = this.now();
  }

  async start(): Promise<void> {
    this.eventLog = new EventLog(join(this.config.state_dir, "events.jsonl"));
    this.metrics = new MetricsTextfile(join(this.config.state_dir, "metrics.prom"));
    this.warnings = await missingInterfaces(this.config);
    for (const w of this.warnings) this.log.warn({ warning: w }, w);
    const saved = loadState(this.config.state_dir);
    const initial = new Map<string, GroupState>();
    const routes = routeReader();
    for (const g of this.config.groups) {
      const s = saved?.groups[g.name];
      if (s && g.members.some((m) => m.name === s.active)) {
        initial.set(g.name, s);
        continue;
      }
      // No saved state for this group: the member whose routes/addresses are installed is adopted as active,
      // so a first start does not move traffic by itself.
      const installed = await installedMembers(g, routes).catch(() => [] as string[]);
      if (installed.length === 1) {
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
    await this.reconcile("start");
    this.handle(this.pipeline.initialize(this.now()));
    await this.startCollectors();
    this.reschedule();
    this.metricsTimer = setInterval(() => void this.writeMetrics(), this.opts.metricsEvery ?? 10_000);
    this.metricsTimer.unref();
    const every = this.opts.reassertEvery ?? 10_000;
    if (every > 0) {
      this.reassertTimer = setInterval(() => void this.reconcile("periodic"), every);
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

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.reassertTimer);
    clearInterval(this.metricsTimer);
    this.streams.abort();
    await this.scheduler.close();
    await Promise.allSettled(this.groupQueues.values());
    this.persist();
    await this.writeMetrics();
    this.eventLog.close();
    this.log.info({}, "standby stopped");
  }

  /**
   * Swaps in a new, already validated config. Rule state carries over by rule name and labels, group state
   * by group name; collectors restart.
   */
  async reload(config: Config): Promise<void> {
    const old = this.pipeline;
    this.streams.abort();
    await this.scheduler.close();
    const initial = new Map<string, GroupState>();
    for (const g of config.groups) {
      const s = old.groupState(g.name);
      if (s && g.members.some((m) => m.name === s.active)) initial.set(g.name, s);
    }
    this.config = config;
    this.pipeline = new Pipeline(
      withDefaultStaleness(config.rules, config.collectors),
      config.groups,
      this.now(),
      initial,
    );
    this.pipeline.engine.carryOver(old.engine);
    this.handle(this.pipeline.initialize(this.now()));
    if (config.state_dir !== this.eventLog.path) {
      this.eventLog.close();
      this.eventLog = new EventLog(join(config.state_dir, "events.jsonl"));
    }
    this.streams = new AbortController();
    await this.startCollectors();
    this.persist();
    this.reschedule();
    this.log.info({ rules: config.rules.length, groups: config.groups.length }, "configuration reloaded");
  }

  /** An operator command on a group (from the API). */
  async command(group: string, cmd: Command): Promise<CommandResult> {
    const r = this.pipeline.command(group, { ...cmd, by: "operator" }, this.now());
    this.handle(r);
    return { ok: r.error === undefined, ...(r.error ? { error: r.error } : {}), events: r.events };
  }

  /** Feeds samples (the collectors' emit). */
  ingest(samples: readonly Sample[]): void {
    this.metrics.record(samples);
    const out: Output = { events: [], switches: [] };
    for (const s of samples) this.pipeline.ingest(s, out);
    if (out.events.length > 0 || out.switches.length > 0) this.handle(out);
  }

  recentEvents(limit = 50): StandbyEvent[] {
    return this.recent.slice(-limit);
  }

  status(): DaemonStatus {
    const p = this.pipeline;
    return {
      host: this.config.host,
      started_at: this.startedAt,
      now: this.now(),
      dry_run: this.dryRun,
      config: this.config.configFile,
      warnings: this.warnings,
      groups: this.config.groups.map((g) => {
        const s = p.groupState(g.name)!;
        return {
          name: g.name,
          active: s.active,
          since: s.since,
          failback: g.failback.mode,
          hold_ms: s.hold,
          ...(s.frozen ? { frozen: s.frozen } : {}),
          ...(s.pin ? { pin: s.pin } : {}),
          members: g.members.map((m) => ({
            name: m.name,
            priority: m.priority,
            health: s.health[m.name]?.health ?? "unknown",
            reason: s.health[m.name]?.reason ?? "no data yet",
            ...(s.healthySince[m.name] !== undefined ? { healthy_since: s.healthySince[m.name] } : {}),
          })),
        };
      }),
      rules: [...p.engine.allInstances()].map((i) => ({
        rule: i.rule.name,
        labels: i.labels,
        state: i.state,
        health: i.health,
        since: i.since,
        ...(i.value !== undefined ? { value: i.value } : {}),
        reason: i.reason,
      })),
      collectors: this.collectorsInUse.map((c) => ({
        name: c.name,
        kind: c.kind,
        ...(this.scheduler.stats.get(c.name) ? { stats: this.scheduler.stats.get(c.name)! } : {}),
      })),
      events: this.recentEvents(20),
    };
  }

  // ---- internals ----

  private async startCollectors(): Promise<void> {
    this.scheduler = new Scheduler((_, samples) => this.ingest(samples), this.log, this.now);
    const ctx = { host: this.config.host, now: this.now, log: this.log };
    const specs = await Promise.all(this.config.collectors.map((spec) => this.resolveTargets(spec)));
    this.collectorsInUse = this.opts.collectors
      ? [...this.opts.collectors]
      : specs.flatMap((spec) => {
          if (!spec) return [];
          try {
            return createCollectors(spec, ctx);
          } catch (err) {
            this.log.error({ collector: spec.name, err: (err as Error).message }, "collector cannot start");
            return [];
          }
        });
    for (const c of this.collectorsInUse) {
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

  /**
   * A probe whose target is `gateway` probes the default route's gateway, read when collectors start (and
   * on reload). Without a default route the collector is not started, and says why.
   */
  private async resolveTargets(spec: CollectorSpec): Promise<CollectorSpec | undefined> {
    if (spec.type !== "probe" || spec.probe.target !== "gateway") return spec;
    try {
      const gw = (await readRoutes()).find((r) => r.dst === "default" && r.gateway)?.gateway;
      if (!gw) throw new Error("no default route with a gateway");
      this.log.info({ collector: spec.name, target: gw }, "probing the default gateway");
      return { ...spec, probe: { ...spec.probe, target: gw } };
    } catch (err) {
      this.log.error(
        { collector: spec.name, err: (err as Error).message },
        "cannot find the default gateway to probe",
      );
      return undefined;
    }
  }

  /** One timer, at the pipeline's next deadline (a `for`, a hold, a stale_after, a pin expiry…). */
  private reschedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const d = this.pipeline.nextDeadline();
    if (d === undefined) return;
    const delay = Math.max(0, d - this.now());
    // setTimeout can fire a millisecond early; tick at the deadline, not before it.
    this.timer = setTimeout(
      () => {
        const at = Math.max(this.now(), d);
        this.handle(this.pipeline.tick(at));
      },
      Math.min(delay, 2 ** 31 - 1),
    );
  }

  private handle(out: Output): void {
    for (const e of out.events) this.record(e);
    if (out.events.some((e) => e.kind !== "rule")) this.persist();
    for (const sw of out.switches) this.enqueueSwitch(sw);
    this.reschedule();
  }

  private record(e: StandbyEvent): void {
    try {
      this.eventLog.append(e);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "cannot write the event log");
    }
    this.recent.push(e);
    if (this.recent.length > 1000) this.recent.splice(0, this.recent.length - 1000);
    const level = e.kind === "rule" || e.kind === "health" || e.kind === "action" ? "info" : "warn";
    this.log[level]({ event: e }, `${e.kind}${e.group ? ` ${e.group}` : ""}: ${e.reason}`);
    this.opts.onEvent?.(e);
    if (NOTIFY_KINDS.has(e.kind) && this.config.notify.length > 0 && !this.dryRun) {
      void notify(this.config.notify, e, { resolveSecret: (s) => resolveSecret(s) }).then((results) => {
        for (const r of results) {
          if (!r.ok) this.log.warn({ hook: r.kind, err: r.error, event: e.kind }, "notify hook failed");
        }
      });
    }
  }

  private writeMetrics(): Promise<void> {
    const st = this.status();
    return this.metrics.write(decisionGauges(st.groups, st.rules)).catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, "cannot write metrics.prom");
    });
  }

  private persist(): void {
    const states = new Map<string, GroupState>();
    for (const g of this.config.groups) states.set(g.name, this.pipeline.groupState(g.name)!);
    try {
      saveState(this.config.state_dir, states, this.now());
    } catch (err) {
      this.log.error({ err: (err as Error).message, state_dir: this.config.state_dir }, "cannot save state");
    }
  }

  private enqueueSwitch(sw: SwitchOrder): void {
    const prev = this.groupQueues.get(sw.group) ?? Promise.resolve();
    this.busy.set(sw.group, (this.busy.get(sw.group) ?? 0) + 1);
    const next = prev
      .then(() => this.runSwitch(sw))
      .catch((err: unknown) => {
        this.log.error({ group: sw.group, err: (err as Error).message }, "switch failed unexpectedly");
      })
      .finally(() => this.busy.set(sw.group, (this.busy.get(sw.group) ?? 1) - 1));
    this.groupQueues.set(sw.group, next);
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
      const r = await runAction(action, {
        ...ctx,
        dryRun: this.dryRun,
        resolveSecret: (s) => resolveSecret(s),
      });
      this.handle({ events: [actionEvent(group, member, phase, r, this.now())], switches: [] });
      if (!r.ok && phase !== "deactivate") return `${r.kind}: ${r.error ?? "failed"}`;
    }
    return undefined;
  }

  /**
   * Compares each group's active member with what is installed (routes, addresses) and re-asserts it when
   * something else changed it: at start (after adopting, see start()) and then periodically.
   */
  private async reconcile(why: "start" | "periodic"): Promise<void> {
    if (this.stopped) return;
    const routes = routeReader();
    for (const group of this.config.groups) {
      if ((this.busy.get(group.name) ?? 0) > 0) continue;
      if (!group.members.some((m) => isCheckable(m.activate))) continue;
      const state = this.pipeline.groupState(group.name)!;
      let installed: string[];
      try {
        installed = await installedMembers(group, routes);
      } catch (err) {
        this.log.warn({ group: group.name, err: (err as Error).message }, "cannot read the installed state");
        continue;
      }
      if (installed.length === 1 && installed[0] === state.active) continue;
      const member = group.members.find((m) => m.name === state.active)!;
      this.log.warn(
        { group: group.name, active: state.active, installed, why },
        "installed state differs from the active member; re-asserting it",
      );
      await this.runMemberActions(group, member, "reassert", member.activate, {
        group: group.name,
        to: member.name,
        reason: `re-assert ${member.name} (${why}): installed ${installed.length ? installed.join(", ") : "none of the members"}`,
      });
    }
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
    if (c.type === "probe" && c.probe.interface) named.push([c.probe.interface, `collector "${c.name}"`]);
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
  groups: {
    name: string;
    active: string;
    since: number;
    failback: string;
    hold_ms: number;
    frozen?: GroupState["frozen"];
    pin?: GroupState["pin"];
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

import type { FleetStatus } from "../cluster/fleet.js";
import type { Collector } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { GroupState } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import type { GroupSpec } from "../groups/types.js";
import type { Pipeline } from "../pipeline.js";
import type { InfluxSinkStatus } from "../sinks/influx/sink.js";
import { formatDuration } from "../util/duration.js";
import type { SharedGroupStatus } from "./fleet.js";
import type { CollectorStats } from "./scheduler.js";

/** A reload's outcome, as `standby status` and the live view show it. */
export interface ReloadOutcome {
  /** Wall ms. */
  readonly ts: number;
  readonly ok: boolean;
  readonly message: string;
}

/** `standby status` (GET /v1/status): for people, so every time in it is wall time. */
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
    /** Why a more preferred healthy member is not active yet (the hold, the failback mode, a pin or a freeze). */
    waiting?: string;
    /** `shared` or absent (local). */
    scope?: "shared";
    /** A shared group in fleet mode: its leader, the fencing token, this instance's role, the observers' votes. */
    fleet?: SharedGroupStatus;
    members: {
      name: string;
      priority: number;
      health: string;
      reason: string;
      healthy_since?: number;
      /**
       * The member's health rules, as its `health:` config names them (a rule, optionally narrowed by labels,
       * `*` globs allowed): the instances in `rules` they match are the ones behind its health (the status page).
       * Always set by the daemon; optional for status objects built elsewhere.
       */
      rules?: { rule: string; labels?: Readonly<Record<string, string>> }[];
    }[];
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
  collectors: {
    name: string;
    kind: string;
    stats?: CollectorStats;
    /** A stream collector's own counters (the snmp_trap receiver's received, rejected, malformed…). */
    counters?: Readonly<Record<string, number>>;
  }[];
  events: StandbyEvent[];
  /** The sinks besides metrics.prom and the event log (queue, spool, counters, last error). */
  sinks: { influx?: InfluxSinkStatus };
  /** The daemon process itself (bytes; CPU in ms since start). */
  process: ProcessStatus;
  /** Fleet mode: this instance, its lease, the live instances, the elections, the shard map. */
  fleet?: FleetStatus & { unavailable?: string; shards?: Readonly<Record<string, readonly string[]>> };
}

export interface ProcessStatus {
  pid: number;
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  /** C++ objects bound to JS (sockets, buffers). */
  external_bytes: number;
  cpu_user_ms: number;
  cpu_system_ms: number;
}

export function processStatus(): ProcessStatus {
  const m = process.memoryUsage();
  const c = process.cpuUsage();
  return {
    pid: process.pid,
    rss_bytes: m.rss,
    heap_used_bytes: m.heapUsed,
    heap_total_bytes: m.heapTotal,
    external_bytes: m.external,
    cpu_user_ms: Math.round(c.user / 1000),
    cpu_system_ms: Math.round(c.system / 1000),
  };
}

/** What the status is built from. */
export interface StatusSource {
  readonly config: Config;
  readonly pipeline: Pipeline;
  readonly startedWall: number;
  readonly wallNow: number;
  readonly dryRun: boolean;
  readonly warnings: string[];
  readonly lastReload: ReloadOutcome | undefined;
  readonly switching: (group: string) => boolean;
  readonly collectors: readonly Collector[];
  readonly stats: (collector: string) => CollectorStats | undefined;
  readonly events: StandbyEvent[];
  readonly sinks: { influx?: InfluxSinkStatus };
  /** A monotonic time → wall time. */
  readonly wall: (mono: number) => number;
  /** Monotonic now. */
  readonly now: number;
  /** Fleet mode: the fleet's status and each shared group's. */
  readonly fleet?: {
    readonly status: () => NonNullable<DaemonStatus["fleet"]>;
    readonly group: (g: GroupSpec) => SharedGroupStatus;
  };
}

export function buildStatus(src: StatusSource): DaemonStatus {
  const { pipeline: p, wall: w } = src;
  return {
    host: src.config.host,
    started_at: src.startedWall,
    now: src.wallNow,
    dry_run: src.dryRun,
    config: src.config.configFile,
    warnings: src.warnings,
    ...(src.lastReload ? { last_reload: src.lastReload } : {}),
    groups: src.config.groups.map((g) => {
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
        ...(src.switching(g.name) ? { switching: true } : {}),
        ...withWaiting(g, s, src.now),
        ...(g.scope === "shared" ? { scope: "shared" as const } : {}),
        ...(g.scope === "shared" && src.fleet ? { fleet: src.fleet.group(g) } : {}),
        members: g.members.map((m) => ({
          name: m.name,
          priority: m.priority,
          health: s.health[m.name]?.health ?? "unknown",
          reason: s.health[m.name]?.reason ?? "no data yet",
          ...(s.healthySince[m.name] !== undefined ? { healthy_since: w(s.healthySince[m.name]!) } : {}),
          rules: m.health.map((r) => ({ rule: r.rule, ...(r.labels ? { labels: r.labels } : {}) })),
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
    collectors: src.collectors.map((c) => {
      const stats = src.stats(c.name);
      const counters = c.kind === "stream" ? c.counters?.() : undefined;
      return {
        name: c.name,
        kind: c.kind,
        ...(counters ? { counters } : {}),
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
    events: src.events,
    sinks: src.sinks,
    process: processStatus(),
    ...(src.fleet ? { fleet: src.fleet.status() } : {}),
  };
}

/** Why the group is not (yet) on a more preferred healthy member, in words; nothing when it is on the best. */
function withWaiting(g: GroupSpec, s: GroupState, now: number): { waiting?: string } {
  const active = g.members.find((m) => m.name === s.active);
  const better = g.members
    .filter((m) => active && m.priority > active.priority && s.health[m.name]?.health === "healthy")
    .sort((a, b) => b.priority - a.priority)[0];
  if (!better) return {};
  let why: string;
  if (s.frozen) why = `frozen: ${s.frozen.reason}`;
  else if (s.pin) why = `pinned to ${s.pin.member}`;
  else if (g.failback.mode !== "auto")
    why = `failback is ${g.failback.mode}: \`standby failback ${g.name}\` switches`;
  else {
    const since = s.healthySince[better.name];
    const left = since === undefined ? s.hold : Math.max(0, s.hold - (now - since));
    const doubled =
      s.hold > g.failback.hold
        ? `, doubled from ${formatDuration(g.failback.hold)} after a failed failback`
        : "";
    why = `hold ${formatDuration(s.hold)}${doubled}: failback in ${formatDuration(Math.ceil(left / 1000) * 1000)}`;
  }
  return { waiting: `${better.name} is healthy and preferred; ${why}` };
}

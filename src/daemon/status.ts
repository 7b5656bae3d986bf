import type { Collector } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { GroupState } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import type { Pipeline } from "../pipeline.js";
import type { InfluxSinkStatus } from "../sinks/influx/sink.js";
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
  };
}

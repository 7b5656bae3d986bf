/**
 * Prometheus `GET /metrics` (issue 11, part 5), on a private prom-client Registry (never the global one): counters
 * fed by every recorded event (`observe`), gauges set from the daemon's status at each scrape (`render`). The names,
 * types and labels are listed in src/api/README.md ("Prometheus /metrics"); the HTTP listener only calls these two.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { DaemonStatus } from "../daemon/status.js";
import type { StandbyEvent } from "../groups/events.js";
import { FleetGauges } from "./prometheus-fleet.js";
import { RuleStateGauge } from "./prometheus-labels.js";

/** The switch kinds counted by `standby_switches_total` (each initialized at 0 for every group). */
export const SWITCH_KINDS = ["failover", "failback", "manual_switch"] as const;

/** `standby_action_duration_seconds` buckets: a route change takes ms, an exec or an HTTP call seconds. */
export const ACTION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * prom-client's default metrics that are gauges named `*_total` (promtool: "non-counter metrics should not have
 * _total suffix"): dropped; each is the sum of its per-type gauge (`sum(nodejs_active_handles)`).
 */
const DROPPED_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export interface PromMetricsOptions {
  /** `standby_build_info{version}`; default: package.json's version. */
  readonly version?: string;
  /**
   * prom-client's process and runtime metrics (`process_*`, `nodejs_*`, unprefixed, as every client library names
   * them) on the private registry. They keep an event-loop delay monitor and a GC observer running: default true,
   * off in tests that make many instances.
   */
  readonly processMetrics?: boolean;
}

type AnyMetric = Gauge<string> | Counter<string> | Histogram<string>;

export class PromMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
  /** Set from the status at every render, after a reset (whatever disappeared from the status disappears here). */
  private readonly scraped: (Gauge<string> | Counter<string>)[] = [];

  // Constants (never reset): set in the constructor.
  private readonly up = this.gauge("standby_up", "1 while the daemon answers", [], false);
  private readonly buildInfo = this.gauge(
    "standby_build_info",
    "The running standby's version (value 1)",
    ["version"],
    false,
  );

  // From events (cumulative; series of groups and collectors no longer in the status are removed at render).
  private readonly switches = this.counter("standby_switches_total", "Switches of the active member", [
    "group",
    "kind",
  ]);
  private readonly switchFailures = this.counter(
    "standby_switch_failures_total",
    "Switches whose activation (or verify) failed (switch_failed events)",
    ["group"],
  );
  private readonly actionDuration = new Histogram({
    name: "standby_action_duration_seconds",
    help: "Duration of the actions run by switches and reasserts (action events; not in a dry run)",
    labelNames: ["group", "action", "phase", "result"],
    buckets: ACTION_BUCKETS,
    registers: this.registers,
  });
  private readonly ruleTransitions = this.counter(
    "standby_rule_transitions_total",
    "Rule instance state changes, by the state entered",
    ["rule", "state"],
  );
  private readonly targetFailures = this.counter(
    "standby_collector_target_failures_total",
    "Times a device read by a collector stopped answering (collector events, ok -> failing)",
    ["collector"],
  );

  // From the status, at every render.
  private readonly collectorUp = this.gauge(
    "standby_collector_up",
    "1 when the collector's last run succeeded",
    ["collector"],
  );
  private readonly collectorLastRun = this.gauge(
    "standby_collector_last_run_timestamp_seconds",
    "When the collector's last run started (Unix time)",
    ["collector"],
  );
  private readonly collectorLastDuration = this.gauge(
    "standby_collector_last_duration_seconds",
    "How long the collector's last finished run took",
    ["collector"],
  );
  private readonly collectorRuns = this.scrapedCounter(
    "standby_collector_runs_total",
    "Runs of the collector",
    ["collector"],
  );
  private readonly collectorFailures = this.scrapedCounter(
    "standby_collector_failures_total",
    "Runs of the collector that failed (threw)",
    ["collector"],
  );
  private readonly collectorTimeouts = this.scrapedCounter(
    "standby_collector_timeouts_total",
    "Runs of the collector abandoned at its timeout",
    ["collector"],
  );
  private readonly collectorSamples = this.scrapedCounter(
    "standby_collector_samples_total",
    "Samples the collector's runs returned",
    ["collector"],
  );
  private readonly collectorFailingTargets = this.gauge(
    "standby_collector_failing_targets",
    "Devices the collector reads that do not answer now",
    ["collector"],
  );
  private readonly streamEvents = this.scrapedCounter(
    "standby_collector_stream_events_total",
    "A stream collector's own counters (snmp_trap: received, accepted, malformed...); do not sum over event",
    ["collector", "event"],
  );
  private readonly ruleState = new RuleStateGauge(this.registry);
  private readonly memberHealthy = this.gauge("standby_member_healthy", "1 when the member is healthy", [
    "group",
    "member",
  ]);
  private readonly memberHealth = this.gauge(
    "standby_member_health",
    "The member's health: one series a member, value 1, health = healthy|degraded|unhealthy|unknown",
    ["group", "member", "health"],
  );
  private readonly activeMember = this.gauge(
    "standby_group_active_member",
    "1 for the group's active member, 0 for the others",
    ["group", "member"],
  );
  private readonly groupFrozen = this.gauge(
    "standby_group_frozen",
    "1 while the group is frozen (damping or by hand)",
    ["group"],
  );
  private readonly groupPinned = this.gauge(
    "standby_group_pinned",
    "1 while the group is pinned to a member",
    ["group"],
  );
  private readonly groupSwitching = this.gauge(
    "standby_group_switching",
    "1 while a switch of the group is decided and its actions not finished",
    ["group"],
  );
  private readonly groupActiveSince = this.gauge(
    "standby_group_active_since_timestamp_seconds",
    "When the group's active member became active (Unix time)",
    ["group"],
  );
  private readonly fleet = new FleetGauges(this.registers, (g) => this.scraped.push(g));
  private readonly dryRun = this.gauge(
    "standby_dry_run",
    "1 when the daemon runs with --dry-run (acts on nothing)",
    [],
  );
  private readonly reloadOk = this.gauge(
    "standby_config_last_reload_successful",
    "0 when the last reload (SIGHUP) was refused, 1 when it was applied or none was asked",
    [],
  );
  private readonly sink = {
    queue: this.gauge("standby_sink_queue_points", "Points queued in memory", ["sink"]),
    spoolPoints: this.gauge("standby_sink_spool_points", "Points spooled on disk", ["sink"]),
    spoolBytes: this.gauge("standby_sink_spool_bytes", "Size of the disk spool", ["sink"]),
    spoolSegments: this.gauge("standby_sink_spool_segments", "Files of the disk spool", ["sink"]),
    failing: this.gauge("standby_sink_failing", "1 while writes to the sink fail", ["sink"]),
    written: this.scrapedCounter("standby_sink_written_points_total", "Points written", ["sink"]),
    retried: this.scrapedCounter("standby_sink_retried_points_total", "Points sent again after a failure", [
      "sink",
    ]),
    dropped: this.scrapedCounter("standby_sink_dropped_points_total", "Points dropped (spool full)", [
      "sink",
    ]),
    deadLettered: this.scrapedCounter(
      "standby_sink_dead_lettered_points_total",
      "Points the database refused, set aside",
      ["sink"],
    ),
    lastError: this.gauge(
      "standby_sink_last_error_timestamp_seconds",
      "When the sink last failed (Unix time)",
      ["sink"],
    ),
  };

  /** Event-fed series of each group and collector (to remove when it leaves the config). */
  private readonly owned = new Map<string, Map<AnyMetric, Map<string, Record<string, string>>>>();
  /** Targets failing now, by collector (from collector events). */
  private readonly failing = new Map<string, Set<string>>();

  constructor(opts: PromMetricsOptions = {}) {
    this.up.set(1);
    this.buildInfo.set({ version: opts.version ?? standbyVersion() }, 1);
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of DROPPED_DEFAULTS) this.registry.removeSingleMetric(name);
    }
  }

  /** `Content-Type` of `render`'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Counts one recorded event (call it for every event, as the event log gets it). */
  observe(e: StandbyEvent): void {
    switch (e.kind) {
      case "failover":
      case "failback":
      case "manual_switch":
        this.own(`g\0${e.group}`, this.switches, { group: e.group, kind: e.kind }).inc({
          group: e.group,
          kind: e.kind,
        });
        break;
      case "switch_failed":
        this.own(`g\0${e.group}`, this.switchFailures, { group: e.group }).inc({ group: e.group });
        break;
      case "action": {
        if (e.dry_run) break; // nothing ran
        const labels = { group: e.group, action: e.action, phase: e.phase, result: actionResult(e) };
        this.own(`g\0${e.group}`, this.actionDuration, labels).observe(labels, e.duration_ms / 1000);
        break;
      }
      case "rule":
        this.ruleTransitions.inc({ rule: e.rule, state: e.state });
        break;
      case "collector": {
        let set = this.failing.get(e.collector);
        if (set === undefined) this.failing.set(e.collector, (set = new Set()));
        if (e.state === "ok") set.delete(e.target);
        else if (!set.has(e.target)) {
          set.add(e.target);
          this.own(`c\0${e.collector}`, this.targetFailures, { collector: e.collector }).inc({
            collector: e.collector,
          });
        }
        break;
      }
      default:
        break;
    }
  }

  /** The text for `GET /metrics`: the gauges set from `status` (taken at the scrape), then every series. */
  render(status: DaemonStatus): Promise<string> {
    this.update(status);
    return this.registry.metrics();
  }

  /** Sets every status gauge (after a reset) and removes the event series of groups and collectors gone. */
  update(status: DaemonStatus): void {
    for (const m of this.scraped) m.reset();
    const keep = new Set<string>();
    this.dryRun.set(status.dry_run ? 1 : 0);
    this.reloadOk.set(status.last_reload === undefined || status.last_reload.ok ? 1 : 0);
    for (const g of status.groups) {
      keep.add(`g\0${g.name}`);
      const group = g.name;
      for (const kind of SWITCH_KINDS)
        this.own(`g\0${group}`, this.switches, { group, kind }).inc({ group, kind }, 0);
      this.own(`g\0${group}`, this.switchFailures, { group }).inc({ group }, 0);
      this.groupFrozen.set({ group }, g.frozen ? 1 : 0);
      this.groupPinned.set({ group }, g.pin ? 1 : 0);
      this.groupSwitching.set({ group }, g.switching ? 1 : 0);
      this.groupActiveSince.set({ group }, g.since / 1000);
      for (const m of g.members) {
        const member = m.name;
        this.activeMember.set({ group, member }, member === g.active ? 1 : 0);
        this.memberHealthy.set({ group, member }, m.health === "healthy" ? 1 : 0);
        this.memberHealth.set({ group, member, health: m.health }, 1);
      }
    }
    this.fleet.update(status);
    for (const c of status.collectors) {
      keep.add(`c\0${c.name}`);
      const collector = c.name;
      this.own(`c\0${collector}`, this.targetFailures, { collector }).inc({ collector }, 0);
      this.collectorFailingTargets.set({ collector }, this.failing.get(collector)?.size ?? 0);
      for (const [event, v] of Object.entries(c.counters ?? {}))
        this.streamEvents.inc({ collector, event }, v);
      const s = c.stats;
      if (s === undefined) continue;
      if (s.lastOk !== undefined) this.collectorUp.set({ collector }, s.lastOk ? 1 : 0);
      if (s.lastRunAt !== undefined) this.collectorLastRun.set({ collector }, s.lastRunAt / 1000);
      if (s.lastDurationMs !== undefined)
        this.collectorLastDuration.set({ collector }, s.lastDurationMs / 1000);
      this.collectorRuns.inc({ collector }, s.runs);
      this.collectorFailures.inc({ collector }, s.failures);
      this.collectorTimeouts.inc({ collector }, s.timeouts);
      this.collectorSamples.inc({ collector }, s.samples);
    }
    this.ruleState.update(status.rules);
    const influx = status.sinks.influx;
    if (influx) {
      const l = { sink: "influx" };
      this.sink.queue.set(l, influx.queue_points);
      this.sink.spoolPoints.set(l, influx.spool_points);
      this.sink.spoolBytes.set(l, influx.spool_bytes);
      this.sink.spoolSegments.set(l, influx.spool_segments);
      this.sink.failing.set(l, influx.failing ? 1 : 0);
      this.sink.written.inc(l, influx.written);
      this.sink.retried.inc(l, influx.retried);
      this.sink.dropped.inc(l, influx.dropped);
      this.sink.deadLettered.inc(l, influx.dead_lettered);
      if (influx.last_error_at !== undefined) this.sink.lastError.set(l, influx.last_error_at / 1000);
    }
    for (const [key, series] of this.owned) {
      if (keep.has(key)) continue;
      for (const [metric, labelSets] of series)
        for (const labels of labelSets.values()) metric.remove(labels);
      this.owned.delete(key);
    }
  }

  /** Notes that `labels` of `metric` belong to a group or a collector (`key`); returns the metric. */
  private own<M extends AnyMetric>(key: string, metric: M, labels: Record<string, string>): M {
    let series = this.owned.get(key);
    if (series === undefined) this.owned.set(key, (series = new Map()));
    let labelSets = series.get(metric);
    if (labelSets === undefined) series.set(metric, (labelSets = new Map()));
    const id = JSON.stringify(labels);
    if (!labelSets.has(id)) labelSets.set(id, labels);
    return metric;
  }

  private gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    scraped = true,
  ): Gauge<L> {
    const g = new Gauge<L>({ name, help, labelNames, registers: this.registers });
    if (scraped) this.scraped.push(g);
    return g;
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter<L>({ name, help, labelNames, registers: this.registers });
  }

  /** A counter whose value is the daemon's own (reset, then set by `inc(value)` at each render). */
  private scrapedCounter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    const c = this.counter(name, help, labelNames);
    this.scraped.push(c);
    return c;
  }
}

function actionResult(e: Extract<StandbyEvent, { kind: "action" }>): string {
  if (e.ok) return "ok";
  return e.abandoned ? "abandoned" : "failed";
}

/** package.json's version, found upwards from this module (src/api in tests, dist/src/api when built). */
export function standbyVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "standby" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: one level up
    }
    dir = dirname(dir);
  }
  return "unknown";
}

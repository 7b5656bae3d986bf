/**
 * The daemon's sinks besides metrics.prom and the event log: today the influx sink (src/sinks/influx/). Built
 * from the config at start and again at a reload that changes `sinks.influx` (the old one is closed first, its
 * memory queue goes to its spool on disk, and the new one sends that spool first). In a dry run no sink runs:
 * a dry run changes no state, and a spool on disk is state (a dry run beside the real daemon would share it).
 */
import { join } from "node:path";
import type { Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { Labels, Sample } from "../engine/types.js";
import type { StandbyEvent } from "../groups/events.js";
import type { Output, Pipeline } from "../pipeline.js";
import { DecisionClock, type GroupView } from "../sinks/influx/line.js";
import { InfluxSink, type InfluxSinkStatus } from "../sinks/influx/sink.js";
import { decisionGauges, MetricsTextfile, sinkGauges } from "../sinks/textfile.js";

export interface SinksOptions {
  readonly log: Log;
  readonly dryRun: boolean;
  readonly wallNow: () => number;
  /** The config and the pipeline in force (both change at a reload). */
  readonly config: () => Config;
  readonly pipeline: () => Pipeline | undefined;
  /** A switch of the group is being carried out. */
  readonly switching: (group: string) => boolean;
  /** Fleet mode: a shared group's leader and votes. */
  readonly fleet?: (group: string) => GroupView["fleet"];
}

type RuleView = { rule: string; labels: Labels; state: string; value?: number; reason: string };

/** The spool of the influx sink under a state_dir. */
export function influxSpoolDir(stateDir: string): string {
  return join(stateDir, "spool", "influx");
}

export class Sinks {
  private influx: InfluxSink | undefined;
  private key = "";
  private metrics: MetricsTextfile | undefined;
  private metricsInFlight: Promise<void> | undefined;
  /** Events held while the influx sink is replaced. */
  private holding: StandbyEvent[] | undefined;
  private readonly clock = new DecisionClock();

  constructor(private readonly o: SinksOptions) {}

  /**
   * metrics.prom in the config's state_dir (a new one when it moved), and the influx sink started, replaced or
   * stopped as the config says.
   */
  async apply(config: Config): Promise<void> {
    const prom = join(config.state_dir, "metrics.prom");
    if (this.metrics?.path !== prom) this.metrics = new MetricsTextfile(prom);
    const spec = config.sinks.influx;
    const key = spec ? JSON.stringify({ spec, dir: config.state_dir, host: config.host }) : "";
    if (key === this.key) return;
    if (spec && this.o.dryRun) {
      if (this.key === "") this.o.log.info({}, "dry run: the influx sink does not run");
      this.key = key;
      return;
    }
    // While one sink is closed and the next starts, events are held here, then given to the new one: a reload
    // never loses an event (the two cannot run at once: they share the spool directory).
    const old = this.influx;
    this.influx = undefined;
    this.key = key;
    const held: StandbyEvent[] = [];
    this.holding = held;
    try {
      if (old) await old.close();
      if (!spec) {
        if (old)
          this.o.log.info({}, "influx sink removed; its spool stays on disk for when it is configured again");
        return;
      }
      const sink = new InfluxSink(spec, {
        host: config.host,
        dir: influxSpoolDir(config.state_dir),
        log: this.o.log,
        now: this.o.wallNow,
        severityOf: (rule) => this.severities().get(rule),
        clock: this.clock,
      });
      try {
        await sink.start();
      } catch (err) {
        // The spool directory cannot be used: no sink (a reload must not fail half-way); said loudly.
        this.o.log.error(
          { err: (err as Error).message, dir: influxSpoolDir(config.state_dir) },
          "influx sink not started: its spool directory cannot be used",
        );
        return;
      }
      this.influx = sink;
      this.o.log.info({ url: spec.url, database: spec.database }, "influx sink started");
      sink.events(held);
      sink.groups(this.groups());
    } finally {
      this.holding = undefined;
    }
  }

  /** Samples as the collectors emit them (monotonic `ts`; `wallOffset` turns it into wall time). */
  samples(samples: readonly Sample[], wallOffset: number): void {
    this.metrics?.record(samples);
    this.influx?.samples(samples, wallOffset);
  }

  /** An event as recorded (wall `ts`). */
  event(e: StandbyEvent): void {
    if (this.holding) this.holding.push(e);
    else this.influx?.events([e]);
  }

  /** After a decision: the groups whose state changed, as points (every group's also every 10 s). */
  decided(out: Output): void {
    if (!this.influx) return;
    const touched = new Set<string>();
    for (const e of out.events)
      if ("group" in e && e.group !== undefined && e.kind !== "action") touched.add(e.group);
    for (const sw of out.switches) touched.add(sw.group);
    if (touched.size) this.influx.groups(this.groups([...touched]));
  }

  /** Every 10 s: metrics.prom rewritten; every group's state, the rules not ok and the sink's counters. */
  tick(): void {
    void this.writeMetrics();
    if (!this.influx) return;
    this.influx.groups(this.groups());
    this.influx.ruleStates(this.rules());
    this.influx.selfPoint();
  }

  /** Rewrites metrics.prom off the event loop; a write still running makes this call wait for it instead. */
  writeMetrics(): Promise<void> {
    if (this.metricsInFlight) return this.metricsInFlight;
    const m = this.metrics;
    if (m === undefined) return Promise.resolve();
    const p = (async () => {
      try {
        // The gauges are made as the file is written, not from a whole status (built only to be thrown away).
        await m.write(this.gauges());
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, "cannot write metrics.prom");
      } finally {
        this.metricsInFlight = undefined;
      }
    })();
    this.metricsInFlight = p;
    return p;
  }

  status(): { influx?: InfluxSinkStatus } {
    return this.influx ? { influx: this.influx.status() } : {};
  }

  private severityMap: { config: Config; map: Map<string, string> } | undefined;
  private severities(): Map<string, string> {
    const config = this.o.config();
    if (this.severityMap?.config !== config)
      this.severityMap = { config, map: new Map(config.rules.map((r) => [r.name, r.severity])) };
    return this.severityMap.map;
  }

  /** metrics.prom's gauges of the decisions and of the sinks, made lazily. */
  private *gauges(): Generator<string> {
    yield* decisionGauges(this.groups(), this.rules());
    yield* sinkGauges(this.status());
  }

  /** Groups as the sinks show them (all of them when `names` is undefined). */
  private groups(names?: readonly string[]): GroupView[] {
    const p = this.o.pipeline();
    if (p === undefined) return [];
    const out: GroupView[] = [];
    for (const g of this.o.config().groups) {
      if (names && !names.includes(g.name)) continue;
      const s = p.groupState(g.name);
      if (!s) continue;
      const fleet = g.scope === "shared" ? this.o.fleet?.(g.name) : undefined;
      out.push({
        ...(fleet ? { fleet } : {}),
        name: g.name,
        active: s.active,
        switching: this.o.switching(g.name),
        frozen: s.frozen !== undefined,
        pinned: s.pin !== undefined,
        members: g.members.map((m) => ({
          name: m.name,
          priority: m.priority,
          health: s.health[m.name]?.health ?? "unknown",
          reason: s.health[m.name]?.reason ?? "no data yet",
        })),
      });
    }
    return out;
  }

  private *rules(): Generator<RuleView> {
    const p = this.o.pipeline();
    if (p === undefined) return;
    for (const i of p.engine.allInstances())
      yield {
        rule: i.rule.name,
        labels: i.labels,
        state: i.state,
        reason: i.reason,
        ...(i.value !== undefined ? { value: i.value } : {}),
      };
  }

  /** At stop: metrics.prom written a last time; what the influx sink holds in memory goes to its spool. */
  async close(): Promise<void> {
    await this.writeMetrics();
    const s = this.influx;
    this.influx = undefined;
    await s?.close();
  }
}

import { DEFAULT_FORGET_MS } from "../engine/engine.js";
import type { Labels, Sample } from "../engine/types.js";
import { writeFileAtomic } from "../util/atomic.js";
import type { InfluxSinkStatus } from "./influx/sink.js";

/** `probe.rtt_ms` → `standby_probe_rtt_ms` (Prometheus metric names allow [a-zA-Z0-9_:]). */
export function promName(metric: string): string {
  return `standby_${metric.replace(/[^a-zA-Z0-9_:]/g, "_")}`;
}

function promLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) =>
      `${k.replace(/[^a-zA-Z0-9_]/g, "_")}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

interface Entry {
  /** The Prometheus label text, `{k="v",…}`: one string per label set, shared by all its metrics. */
  readonly labels: string;
  value: number;
  at: number;
  /** Dropped from the file (forgotten): a new sample of the series makes a new entry. */
  gone: boolean;
}

/** A label object's text and its entries by metric. */
interface LabelSet {
  readonly text: string;
  /**
   * Metric → entry, as a plain object: label sets of one kind get their metrics in one order and share V8's hidden
   * class, ~100 bytes each where a Map's table is ~400 (5,000 label sets of 1,000 SNMP agents: 1.6 MB less).
   */
  readonly byMetric: Record<string, Entry | undefined>;
}

/**
 * The latest value of every series, written as a Prometheus text file (as node_exporter's textfile collector
 * reads them) to `state_dir/metrics.prom`: what the daemon measures is on disk without any server. Written
 * atomically (a reader never sees half a file) and off the event loop, mode 0644 (node_exporter does not run as
 * root), and without timestamps: the textfile collector skips a whole file whose samples carry one.
 */
export class MetricsTextfile {
  /**
   * Prometheus name → label text → the latest value. No per-series key string: a series is its metric's name
   * (one per metric) and its label set's text (one per label set — an interface's 10 metrics share one), so
   * 1,000 SNMP agents' 41,000 series keep ~5,000 label texts instead of 41,000 `name{labels}` strings (~7 MB).
   */
  private readonly last = new Map<string, Map<string, Entry>>();
  /**
   * Each label object's text and entries: collectors reuse their label objects, so a sample finds its entry with
   * two lookups of small keys, without building or hashing its label text (1,000 SNMP agents: 4,400 samples a
   * second).
   */
  private readonly byLabels = new WeakMap<Labels, LabelSet>();
  /** The newest sample time seen: a series whose last sample is `forgetMs` older is dropped at the next write. */
  private latest = Number.NEGATIVE_INFINITY;
  /** Metric → Prometheus name. */
  private readonly names = new Map<string, string>();

  /** `forgetMs`: as the engine's default `forget_after`, so label churn (veths, mounts) does not grow the file. */
  constructor(
    readonly path: string,
    private readonly forgetMs = DEFAULT_FORGET_MS,
  ) {}

  record(samples: readonly Sample[]): void {
    for (const s of samples) {
      let set = this.byLabels.get(s.labels);
      if (set === undefined) {
        // A flat string: a concatenation kept alive holds all its parts (a "cons string") and costs more.
        set = { text: flatten(promLabels(s.labels)), byMetric: {} };
        this.byLabels.set(s.labels, set);
      }
      let e = Object.hasOwn(set.byMetric, s.metric) ? set.byMetric[s.metric] : undefined;
      if (e === undefined || e.gone) {
        e = this.entry(s.metric, set.text, s);
        set.byMetric[s.metric] = e;
      }
      e.value = s.value;
      e.at = s.ts;
      if (s.ts > this.latest) this.latest = s.ts;
    }
  }

  /** The entry of a series (another label object with the same labels may have made it already). */
  private entry(metric: string, labels: string, s: Sample): Entry {
    let name = this.names.get(metric);
    if (name === undefined) this.names.set(metric, (name = promName(metric)));
    let series = this.last.get(name);
    if (series === undefined) this.last.set(name, (series = new Map()));
    let e = series.get(labels);
    if (e === undefined) {
      e = { labels, value: s.value, at: s.ts, gone: false };
      series.set(labels, e);
    }
    return e;
  }

  /** Series in the file now (for tests and status). */
  get size(): number {
    let n = 0;
    for (const m of this.last.values()) n += m.size;
    return n;
  }

  /**
   * Writes the file; `extra` lines (group and rule gauges) follow. The lines are made while the file is written,
   * in chunks (41,000 series are 7 MB of text: built as one string every 10 s, that was the largest garbage of the
   * daemon, promoted to the old generation because the write outlives a young-generation cycle); a value
   * recorded meanwhile may or may not make it into this write. The disk work runs on libuv's pool. Callers
   * serialize writes (a later write may otherwise lose to an earlier one that finishes last).
   */
  write(extra: Iterable<string> = []): Promise<void> {
    return writeFileAtomic(this.path, this.lines(extra), 0o644);
  }

  private *lines(extra: Iterable<string>): Generator<string> {
    const horizon = this.latest - this.forgetMs;
    for (const name of [...this.last.keys()].sort((a, b) => a.localeCompare(b))) {
      const series = this.last.get(name);
      if (series === undefined) continue;
      let typed = false;
      for (const [labels, e] of series) {
        if (e.at < horizon) {
          series.delete(labels);
          e.gone = true;
          continue;
        }
        if (!typed) {
          typed = true;
          yield `# TYPE ${name} gauge`;
        }
        yield `${name}${labels} ${e.value}`;
      }
      if (series.size === 0) this.last.delete(name);
    }
    yield* extra;
  }
}

/** Gauges of the decisions: the active member of each group, each member's health, each rule instance's state. */
export function* decisionGauges(
  groups: readonly {
    name: string;
    active: string;
    members: readonly { name: string; health: string }[];
    fleet?: { isLeader: boolean; votes: Readonly<Record<string, Readonly<Record<string, number>>>> };
  }[],
  rules: Iterable<{ rule: string; labels: Labels; state: string }>,
): Generator<string> {
  if (groups.some((g) => g.fleet)) {
    yield "# TYPE standby_group_leader gauge";
    for (const g of groups)
      if (g.fleet) yield `standby_group_leader${promLabels({ group: g.name })} ${g.fleet.isLeader ? 1 : 0}`;
    yield "# TYPE standby_member_votes gauge";
    for (const g of groups)
      for (const [member, tally] of Object.entries(g.fleet?.votes ?? {}))
        for (const [health, n] of Object.entries(tally))
          yield `standby_member_votes${promLabels({ group: g.name, member, health })} ${n}`;
  }
  yield "# TYPE standby_group_active gauge";
  for (const g of groups) {
    for (const m of g.members)
      yield `standby_group_active${promLabels({ group: g.name, member: m.name })} ${m.name === g.active ? 1 : 0}`;
  }
  yield "# TYPE standby_member_healthy gauge";
  for (const g of groups) {
    for (const m of g.members) {
      yield `standby_member_healthy${promLabels({ group: g.name, member: m.name, health: m.health })} ${m.health === "healthy" ? 1 : 0}`;
    }
  }
  yield "# TYPE standby_rule_firing gauge";
  for (const r of rules) {
    const firing = r.state === "firing" || r.state === "recovering" || r.state === "flapping" ? 1 : 0;
    yield `standby_rule_firing${promLabels({ ...r.labels, rule: r.rule, state: r.state })} ${firing}`;
  }
}

/** The sinks' own counters (`standby_sink_*{sink="influx"}`), for users who watch the sink from Prometheus. */
export function* sinkGauges(sinks: { influx?: InfluxSinkStatus }): Generator<string> {
  const s = sinks.influx;
  if (!s) return;
  const l = promLabels({ sink: "influx" });
  const gauges: [string, number, string][] = [
    ["standby_sink_queue_points", s.queue_points, "gauge"],
    ["standby_sink_spool_points", s.spool_points, "gauge"],
    ["standby_sink_spool_bytes", s.spool_bytes, "gauge"],
    ["standby_sink_spool_segments", s.spool_segments, "gauge"],
    ["standby_sink_failing", s.failing ? 1 : 0, "gauge"],
    ["standby_sink_written_points_total", s.written, "counter"],
    ["standby_sink_retried_points_total", s.retried, "counter"],
    ["standby_sink_dropped_points_total", s.dropped, "counter"],
    ["standby_sink_dead_lettered_points_total", s.dead_lettered, "counter"],
  ];
  for (const [name, v, type] of gauges) yield* [`# TYPE ${name} ${type}`, `${name}${l} ${v}`];
  if (s.last_error_at !== undefined) {
    yield "# TYPE standby_sink_last_error_timestamp_seconds gauge";
    yield `standby_sink_last_error_timestamp_seconds${l} ${s.last_error_at / 1000}`;
  }
}

/** A string's own flat copy (V8 keeps a concatenation as a tree of its parts, which a map key then holds). */
function flatten(s: string): string {
  return Buffer.from(s, "utf8").toString("utf8");
}

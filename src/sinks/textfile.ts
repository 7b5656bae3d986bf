import { DEFAULT_FORGET_MS } from "../engine/engine.js";
import type { Labels, Sample } from "../engine/types.js";
import { writeFileAtomic } from "../util/atomic.js";

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

/**
 * The latest value of every series, written as a Prometheus text file (as node_exporter's textfile collector
 * reads them) to `state_dir/metrics.prom`: what the daemon measures is on disk without any server. Written
 * atomically (a reader never sees half a file) and off the event loop, mode 0644 (node_exporter does not run as
 * root), and without timestamps: the textfile collector skips a whole file whose samples carry one.
 */
interface Entry {
  readonly key: string;
  readonly name: string;
  value: number;
  at: number;
  /** Dropped from the file (forgotten): a new sample of the series makes a new entry. */
  gone: boolean;
}

export class MetricsTextfile {
  /** `name{labels}` → the latest value; the Prometheus name and label text are built once per series. */
  private readonly last = new Map<string, Entry>();
  /**
   * Each label object's entries by metric: collectors reuse their label objects, so a sample finds its entry
   * with two lookups of small keys, not by hashing a 100-character `name{labels}` string (1,000 SNMP agents:
   * 44,000 series, 4,400 samples a second).
   */
  private readonly byLabels = new WeakMap<Labels, Map<string, Entry>>();
  /** The newest sample time seen: a series whose last sample is `forgetMs` older is dropped at the next write. */
  private latest = Number.NEGATIVE_INFINITY;

  /** `forgetMs`: as the engine's default `forget_after`, so label churn (veths, mounts) does not grow the file. */
  constructor(
    readonly path: string,
    private readonly forgetMs = DEFAULT_FORGET_MS,
  ) {}

  private readonly names = new Map<string, string>();

  record(samples: readonly Sample[]): void {
    for (const s of samples) {
      let byMetric = this.byLabels.get(s.labels);
      if (byMetric === undefined) this.byLabels.set(s.labels, (byMetric = new Map()));
      let e = byMetric.get(s.metric);
      if (e === undefined || e.gone) {
        e = this.entry(s);
        byMetric.set(s.metric, e);
      }
      e.value = s.value;
      e.at = s.ts;
      if (s.ts > this.latest) this.latest = s.ts;
    }
  }

  /** The entry of a sample's series (one another label object of the same labels may have made already). */
  private entry(s: Sample): Entry {
    let name = this.names.get(s.metric);
    if (name === undefined) this.names.set(s.metric, (name = promName(s.metric)));
    // A flat string: a concatenation kept as a map key holds both halves (a "cons string") and costs more.
    const key = flatten(`${name}${promLabels(s.labels)}`);
    let e = this.last.get(key);
    if (e === undefined) {
      e = { key, name, value: s.value, at: s.ts, gone: false };
      this.last.set(key, e);
    }
    return e;
  }

  /**
   * Writes the file; `extra` lines (group and rule gauges) are appended. The text is built at once (a snapshot of
   * now); the disk work runs on libuv's pool. Callers serialize writes (a later write may otherwise lose to an
   * earlier one that finishes last).
   */
  write(extra: readonly string[] = []): Promise<void> {
    const byName = new Map<string, string[]>();
    const horizon = this.latest - this.forgetMs;
    for (const [key, e] of this.last) {
      if (e.at < horizon) {
        this.last.delete(key);
        e.gone = true;
        continue;
      }
      let lines = byName.get(e.name);
      if (!lines) byName.set(e.name, (lines = []));
      lines.push(`${key} ${e.value}`);
    }
    const out: string[] = [];
    for (const [name, lines] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`# TYPE ${name} gauge`, ...lines);
    }
    return writeFileAtomic(this.path, `${[...out, ...extra].join("\n")}\n`, 0o644);
  }
}

/** Gauges of the decisions: the active member of each group, each member's health, each rule instance's state. */
export function decisionGauges(
  groups: readonly { name: string; active: string; members: readonly { name: string; health: string }[] }[],
  rules: readonly { rule: string; labels: Labels; state: string }[],
): string[] {
  const out = ["# TYPE standby_group_active gauge"];
  for (const g of groups) {
    for (const m of g.members)
      out.push(
        `standby_group_active${promLabels({ group: g.name, member: m.name })} ${m.name === g.active ? 1 : 0}`,
      );
  }
  out.push("# TYPE standby_member_healthy gauge");
  for (const g of groups) {
    for (const m of g.members) {
      out.push(
        `standby_member_healthy${promLabels({ group: g.name, member: m.name, health: m.health })} ${m.health === "healthy" ? 1 : 0}`,
      );
    }
  }
  out.push("# TYPE standby_rule_firing gauge");
  for (const r of rules) {
    const firing = r.state === "firing" || r.state === "recovering" || r.state === "flapping" ? 1 : 0;
    out.push(`standby_rule_firing${promLabels({ ...r.labels, rule: r.rule, state: r.state })} ${firing}`);
  }
  return out;
}

/** A string's own flat copy (V8 keeps a concatenation as a tree of its parts, which a map key then holds). */
function flatten(s: string): string {
  return Buffer.from(s, "utf8").toString("utf8");
}

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
export class MetricsTextfile {
  /** `name{labels}` → the latest value; the Prometheus name and label text are built once per series. */
  private readonly last = new Map<string, { name: string; value: number; at: number }>();
  /** The newest sample time seen: a series whose last sample is `forgetMs` older is dropped at the next write. */
  private latest = Number.NEGATIVE_INFINITY;

  /** `forgetMs`: as the engine's default `forget_after`, so label churn (veths, mounts) does not grow the file. */
  constructor(
    readonly path: string,
    private readonly forgetMs = DEFAULT_FORGET_MS,
  ) {}

  /** Collectors reuse their label objects and metric names: format each once. */
  private readonly labelText = new WeakMap<Labels, string>();
  private readonly names = new Map<string, string>();

  record(samples: readonly Sample[]): void {
    for (const s of samples) {
      let name = this.names.get(s.metric);
      if (name === undefined) this.names.set(s.metric, (name = promName(s.metric)));
      let text = this.labelText.get(s.labels);
      if (text === undefined) this.labelText.set(s.labels, (text = promLabels(s.labels)));
      const key = `${name}${text}`;
      const e = this.last.get(key);
      if (e) {
        e.value = s.value;
        e.at = s.ts;
      } else this.last.set(key, { name, value: s.value, at: s.ts });
      if (s.ts > this.latest) this.latest = s.ts;
    }
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

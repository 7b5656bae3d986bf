/**
 * `standby_rule_state`: one series per rule instance, its labels the instance's own, made valid Prometheus label
 * names. Its label names are not known in advance (they are the collectors' labels), so the gauge is made again
 * whenever the set of names in use changes.
 */
import { Gauge, type Registry } from "prom-client";

export const RULE_STATE_METRIC = "standby_rule_state";

/** The labels `standby_rule_state` sets itself: an instance label of one of these names is renamed. */
const OWN = new Set(["rule", "state"]);

/**
 * An instance label's name as a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`): every other character becomes
 * `_`, a leading digit (or an empty name) gets a `_` in front; a name that is one of the metric's own labels
 * (`rule`, `state`) or reserved by Prometheus (`__*`) gets `exported_` in front, as Prometheus itself renames a
 * target's label that collides with one it sets (`exported_job`).
 */
export function promLabelName(name: string): string {
  let n = name.replace(/[^a-zA-Z0-9_]/g, "_");
  if (n === "" || /^[0-9]/.test(n)) n = `_${n}`;
  if (OWN.has(n) || n.startsWith("__")) n = `exported_${n}`;
  return n;
}

/**
 * An instance's labels with valid names. Two names that become the same (`if.name` and `if_name`): the first in
 * the order of the original names is kept, the others are left out.
 */
export function promInstanceLabels(
  labels: Readonly<Record<string, string>>,
  names: (n: string) => string = promLabelName,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) {
    const n = names(k);
    if (!Object.hasOwn(out, n)) out[n] = labels[k]!;
  }
  return out;
}

/** The gauge of the rule instances' states (see src/api/README.md). */
export class RuleStateGauge {
  private gauge: Gauge<string> | undefined;
  private labelKey: string | undefined;
  /** Label name → its Prometheus name (collectors reuse a handful of names). */
  private readonly names = new Map<string, string>();

  constructor(private readonly registry: Registry) {
    this.update([]);
  }

  /** Sets one series per instance (value 1, `state` = its state); the series of instances not listed go. */
  update(rules: readonly { rule: string; labels: Readonly<Record<string, string>>; state: string }[]): void {
    const series = rules.map((r) => ({
      ...promInstanceLabels(r.labels, (n) => this.name(n)),
      rule: r.rule,
      state: r.state,
    }));
    const names = new Set<string>(OWN);
    for (const s of series) for (const k of Object.keys(s)) names.add(k);
    const labelNames = [...names].sort();
    const key = labelNames.join(",");
    if (this.gauge === undefined || key !== this.labelKey) {
      if (this.gauge !== undefined) this.registry.removeSingleMetric(RULE_STATE_METRIC);
      this.gauge = new Gauge({
        name: RULE_STATE_METRIC,
        help: "A rule instance's state: one series an instance, value 1, state = ok|pending|firing|recovering|flapping|unknown; the other labels are the instance's",
        labelNames,
        registers: [this.registry],
      });
      this.labelKey = key;
    } else {
      this.gauge.reset();
    }
    for (const s of series) this.gauge.set(s, 1);
  }

  private name(n: string): string {
    let p = this.names.get(n);
    if (p === undefined) this.names.set(n, (p = promLabelName(n)));
    return p;
  }
}

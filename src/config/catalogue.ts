/**
 * Warnings from the collectors' metric catalogues: a rule whose `metric` no configured collector emits
 * (`probe.sucess`), whose `collector` label names no configured collector, or whose label matchers name a label the
 * metric does not have — each would leave its members unknown for ever, and each passed `check` before.
 */
import { COLLECTORS, collectorDefinition } from "../../collectors/index.js";
import type { MetricInfo } from "../collector.js";
import { closest } from "./crosscheck.js";
import type { ConfigError } from "./errors.js";
import type { RuleFileLoad } from "./rulefiles.js";
import type { CollectorSpec } from "./schema.js";
import { at, type Path } from "./yaml.js";

/** Labels every sample carries, whatever its collector. */
const COMMON_LABELS = ["host", "collector"];

/** What one block emits: its type's catalogue, and what its own settings add (snmp's `oids:`). */
function metricsOfBlock(c: CollectorSpec): readonly MetricInfo[] {
  const def = collectorDefinition(c.type);
  return [...(def?.metrics ?? []), ...(def?.metricsOf?.(c) ?? [])];
}

export function catalogueWarnings(
  loads: readonly RuleFileLoad[],
  collectors: readonly CollectorSpec[],
): ConfigError[] {
  if (collectors.length === 0) return []; // a config for `simulate` only: nothing to compare with
  const out: ConfigError[] = [];
  const byName = new Map(collectors.map((c) => [c.name, c]));
  const emitted = new Map<string, MetricInfo>();
  // Two collector types may emit one metric (snmp polls snmp.psu, snmp_trap turns traps into it): its labels
  // are the union of what each says.
  for (const c of collectors)
    for (const m of metricsOfBlock(c)) {
      const had = emitted.get(m.name);
      emitted.set(m.name, had ? { ...had, labels: [...new Set([...had.labels, ...m.labels])] } : m);
    }
  const known = new Set(COLLECTORS.flatMap((d) => d.metrics.map((m) => m.name)));
  for (const load of loads) {
    const f = load.f;
    if (!f || !load.rules) continue;
    for (const [i, rule] of load.rules.entries()) {
      const warn = (p: Path, message: string) =>
        out.push({ ...at(f, ["rules", i, ...p], message), severity: "warning" });
      const named = rule.labels.collector;
      const collector = named !== undefined && !named.includes("*") ? byName.get(named) : undefined;
      if (named !== undefined && !named.includes("*") && !collector) {
        const guess = closest(named, [...byName.keys()]);
        warn(
          ["labels", "collector"],
          `no configured collector is named "${named}"${guess ? ` (did you mean "${guess}"?)` : ""}; configured: ${[...byName.keys()].join(", ")}`,
        );
        continue;
      }
      const info = emitted.get(rule.metric);
      if (!info) {
        const guess = closest(rule.metric, [...emitted.keys()]);
        const why = known.has(rule.metric)
          ? `no configured collector emits "${rule.metric}" (its collector type is not configured)`
          : `no collector emits "${rule.metric}"`;
        warn(["metric"], `${why}${guess ? `; did you mean "${guess}"?` : ""}`);
        continue;
      }
      if (collector) {
        const theirs = metricsOfBlock(collector);
        if (!theirs.some((m) => m.name === rule.metric)) {
          warn(
            ["labels", "collector"],
            `collector "${collector.name}" (${collector.type}) does not emit "${rule.metric}"; it emits ${theirs.map((m) => m.name).join(", ")}`,
          );
          continue;
        }
      }
      const labels = [...COMMON_LABELS, ...info.labels];
      for (const key of Object.keys(rule.labels)) {
        if (labels.includes(key)) continue;
        const guess = closest(key, labels);
        warn(
          ["labels", key],
          `"${rule.metric}" has no label "${key}"${guess ? ` (did you mean "${guess}"?)` : ""}; its labels: ${labels.join(", ")}`,
        );
      }
    }
  }
  return out;
}

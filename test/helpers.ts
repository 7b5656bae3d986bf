import { parseCondition } from "../src/engine/condition.js";
import type { Condition, FlapSpec, Labels, RuleSpec, Sample, Severity } from "../src/engine/types.js";
import { parseDuration, parseSpan } from "../src/util/duration.js";

export function cond(text: string): Condition {
  const r = parseCondition(text);
  if (!r.ok) throw new Error(`bad condition in test: ${r.error.message}`);
  return r.condition;
}

export interface RuleInput {
  name?: string;
  metric?: string;
  labels?: Labels;
  problem: string;
  recovery?: string;
  for?: string;
  recover_for?: string;
  stale_after?: string;
  severity?: Severity;
  flap?: FlapSpec | false;
}

/** A RuleSpec from the strings a user writes (flap detection off unless asked). */
export function rule(r: RuleInput): RuleSpec {
  const span = (t: string | undefined) => {
    if (t === undefined) return undefined;
    const s = parseSpan(t);
    if (!s) throw new Error(`bad span in test: ${t}`);
    return s;
  };
  return {
    name: r.name ?? "r",
    metric: r.metric ?? "m",
    labels: r.labels ?? {},
    problem: cond(r.problem),
    ...(r.recovery ? { recovery: cond(r.recovery) } : {}),
    ...(r.for ? { for: span(r.for)! } : {}),
    ...(r.recover_for ? { recover_for: span(r.recover_for)! } : {}),
    ...(r.stale_after ? { stale_after: parseDuration(r.stale_after)! } : {}),
    severity: r.severity ?? "critical",
    flap: r.flap ?? false,
  };
}

export function sample(ts: number, value: number, labels: Labels = {}, metric = "m"): Sample {
  return { ts, metric, labels, value };
}

import { parseCondition } from "../src/engine/condition.js";
import { RuleEngine } from "../src/engine/engine.js";
import type { Condition, Labels, RuleSpec, Sample } from "../src/engine/types.js";
import { parseSpan } from "../src/util/duration.js";

function cond(text: string): Condition {
  const r = parseCondition(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.condition;
}

export interface EngineBenchResult {
  readonly name: string;
  readonly instances: number;
  readonly samples: number;
  readonly samplesPerSec: number;
  readonly nsPerSample: number;
  readonly transitions: number;
}

/** The rule mix a host monitoring uplinks, PSUs, NICs and CPUs has: most rules windowed, some with `for`. */
const MIX: ReadonlyArray<Omit<RuleSpec, "name" | "metric" | "labels" | "severity">> = [
  { problem: cond("max over 3 samples == 0"), recovery: cond("min over 10 samples == 1") },
  { problem: cond("avg over 10s > 150"), recovery: cond("avg over 10s < 80"), for: parseSpan("5s")! },
  { problem: cond("in [failed, absent]") },
  { problem: cond("last > 90"), for: parseSpan("3 samples")!, flap: false },
  { problem: cond("p95 over 10 samples > 200"), recovery: cond("p95 over 10 samples < 100") },
];

/**
 * `metrics` metrics × `perMetric` rules each × `series` label sets = instances. Every sample is of one series
 * and evaluates the `perMetric` rule instances of its metric.
 */
export function benchEngine(opts: {
  name: string;
  metrics: number;
  perMetric: number;
  series: number;
  samples: number;
}): EngineBenchResult {
  const rules: RuleSpec[] = [];
  for (let m = 0; m < opts.metrics; m++) {
    for (let r = 0; r < opts.perMetric; r++) {
      rules.push({
        ...MIX[(m * opts.perMetric + r) % MIX.length]!,
        name: `rule-${m}-${r}`,
        metric: `metric.${m}`,
        labels: { host: "*" },
        severity: "critical",
      });
    }
  }
  const labelSets: Labels[] = [];
  for (let s = 0; s < opts.series; s++) labelSets.push({ host: `host-${s}`, device: `eth${s % 4}` });
  const engine = new RuleEngine(rules);
  // One sample object per series, updated in place as a collector would emit it; values mostly healthy with
  // rare excursions, so transitions happen but are rare (as in life).
  const nSeries = opts.metrics * opts.series;
  const series: { ts: number; metric: string; labels: Labels; value: number }[] = [];
  for (let k = 0; k < nSeries; k++) {
    series.push({
      ts: 0,
      metric: `metric.${k % opts.metrics}`,
      labels: labelSets[Math.floor(k / opts.metrics)]!,
      value: 1,
    });
  }
  let ts = 1_700_000_000_000;
  let transitions = 0;
  let rnd = 42;
  const feed = (count: number, offset: number) => {
    for (let i = offset; i < offset + count; i++) {
      const s = series[i % nSeries]!;
      s.ts = ts += 1;
      rnd = (rnd * 1103515245 + 12345) >>> 0; // deterministic pseudo-random
      const h = (rnd >>> 8) % 1000;
      s.value = h < 990 ? 1 : h < 995 ? 0 : 500; // 1: up/ok; 0: lost/ok-state; 500: slow
      transitions += engine.ingest(s as Sample).length;
    }
  };
  feed(nSeries * 20, 0); // warm-up: create every instance, let the JIT settle
  transitions = 0;
  const t0 = process.hrtime.bigint();
  feed(opts.samples, nSeries * 20);
  const ns = Number(process.hrtime.bigint() - t0);
  return {
    name: opts.name,
    instances: engine.instanceCount,
    samples: opts.samples,
    samplesPerSec: Math.round((opts.samples * 1e9) / ns),
    nsPerSample: Math.round(ns / opts.samples),
    transitions,
  };
}

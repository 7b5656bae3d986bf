import { formatDuration, formatElapsed } from "../util/duration.js";
import { aggregate, compare, retention } from "./aggregate.js";
import { report } from "./describe.js";
import { recordFlap } from "./flap.js";
import {
  type CompiledRule,
  compileRule,
  Instance,
  type InstanceView,
  type Phase,
  Series,
  spanHeld,
  type Transition,
  UNMATCHED_CACHE_MAX,
} from "./instance.js";
import { labelsMatch } from "./labels.js";
import type { Condition, Labels, RuleSpec, Sample } from "./types.js";

export { DEFAULT_FLAP, DEFAULT_FORGET_MS, type InstanceView, type Transition } from "./instance.js";

const NO_TRANSITIONS: readonly Transition[] = Object.freeze([]);
/** Stands for every label set no rule selects (it holds no instance, so ingest stops at it). */
const UNMATCHED = new Series("", Object.freeze({}));

/**
 * The rule engine. Deterministic: time comes only from sample timestamps and from `tick(now)`.
 * Samples are indexed by metric, so a sample re-evaluates only the rules that select its metric.
 * State is kept in place (mutable) for throughput; nothing here does I/O.
 */
export class RuleEngine {
  private readonly byMetric = new Map<string, CompiledRule[]>();
  private readonly rules = new Map<string, CompiledRule>();
  /** metric → (label key in insertion order) → series; and the canonical (sorted) index. */
  private readonly fastSeries = new Map<string, Map<string, Series>>();
  /** metric → label object → series: collectors that reuse their label objects skip building a key. */
  private readonly byLabelObject = new Map<string, WeakMap<Labels, Series>>();
  private readonly canonicalSeries = new Map<string, Series>();
  /** metric → label keys that no rule selects (bounded; see UNMATCHED_CACHE_MAX). */
  private readonly unmatched = new Map<string, Set<string>>();
  /** Instances waiting on a time-based `for` / `recover_for`. */
  private readonly timed = new Set<Instance>();
  /** A lower bound of the earliest time an instance can go stale or be forgotten. */
  private staleCheckAt = Number.POSITIVE_INFINITY;
  /** Metrics some rule of which names `unknown` in its conditions. */
  private readonly judgesUnknown = new Set<string>();
  /** Samples dropped because they were older than the series' last one. */
  outOfOrder = 0;

  constructor(rules: readonly RuleSpec[]) {
    for (const spec of rules) {
      if (this.rules.has(spec.name)) throw new Error(`duplicate rule name "${spec.name}"`);
      const compiled = compileRule(spec);
      if (compiled.judgesUnknown) this.judgesUnknown.add(spec.metric);
      this.rules.set(spec.name, compiled);
      let list = this.byMetric.get(spec.metric);
      if (!list) this.byMetric.set(spec.metric, (list = []));
      list.push(compiled);
      if (!this.byLabelObject.has(spec.metric)) this.byLabelObject.set(spec.metric, new WeakMap());
    }
  }

  /** Feeds one sample; its timestamp is the engine's `now`. Returns the transitions it caused. */
  ingest(sample: Sample): readonly Transition[] {
    const byObject = this.byLabelObject.get(sample.metric);
    if (byObject === undefined) return NO_TRANSITIONS; // no rule selects this metric
    let series = byObject.get(sample.labels);
    if (series === undefined || series.dead) {
      // A series that has never had a value and says `unknown` (a disabled sensor, `ns`) is not judged at all:
      // no instance, so it is neither healthy nor unknown until it reads something.
      const create = sample.state !== "unknown" || this.judgesUnknown.has(sample.metric);
      const found = this.seriesFor(sample, create);
      if (found === undefined) return NO_TRANSITIONS;
      series = found;
      byObject.set(sample.labels, series);
    }
    if (series.instances.length === 0) return NO_TRANSITIONS;
    const now = sample.ts;
    if (now < series.lastTs) {
      this.outOfOrder++;
      return NO_TRANSITIONS;
    }
    if (sample.state === "unknown") {
      const t = this.unknownReading(series, now);
      if (t !== undefined) return t;
    }
    series.lastTs = now;
    series.push(now, sample.value);
    let out: Transition[] | undefined;
    for (const inst of series.instances) {
      const t = this.evaluate(inst, now);
      if (t) (out ??= []).push(t);
    }
    return out ?? NO_TRANSITIONS;
  }

  /**
   * A component-state sample whose state is `unknown` (a sensor without a reading, a BMC that stopped answering):
   * the device does not say, so it is no data — every instance that does not ask about `unknown` itself goes
   * unknown at once (as if stale_after had passed), without waiting for stale_after. Returns undefined when
   * some instance judges unknown readings, which then takes the sample as a value.
   */
  private unknownReading(series: Series, now: number): readonly Transition[] | undefined {
    if (series.instances.some((i) => i.compiled.judgesUnknown)) return undefined;
    // A sign of life (the device lists it), not silence: the series is kept, not forgotten, while it says so.
    series.lastTs = now;
    let out: Transition[] | undefined;
    for (const inst of series.instances) {
      if (inst.stale) continue;
      inst.stale = true;
      inst.v = Number.NaN;
      this.timed.delete(inst);
      const t = report(
        inst,
        now,
        `${inst.compiled.spec.name} unknown: the device reports no reading (state unknown)`,
      );
      if (t) (out ??= []).push(t);
    }
    return out ?? NO_TRANSITIONS;
  }

  /** Advances time without a sample: stale data, and `for`/`recover_for` durations that have run out. */
  tick(now: number): readonly Transition[] {
    let out: Transition[] | undefined;
    for (const inst of this.timed) {
      const t = this.evaluateTimer(inst, now);
      if (t) (out ??= []).push(t);
    }
    if (now >= this.staleCheckAt) {
      let next = Number.POSITIVE_INFINITY;
      for (const rule of this.rules.values()) {
        const after = rule.spec.stale_after;
        for (const inst of rule.instances.values()) {
          const last = inst.series.lastTs;
          const forgetAt = last + rule.forgetAfter;
          if (now >= forgetAt) {
            const t = this.forget(inst, now);
            if (t) (out ??= []).push(t);
            continue;
          }
          if (forgetAt < next) next = forgetAt;
          if (after === undefined || inst.stale) continue;
          const deadline = last + after;
          if (now >= deadline) {
            inst.stale = true;
            inst.v = Number.NaN;
            this.timed.delete(inst); // a streak cannot complete without data
            const t = report(
              inst,
              now,
              `${rule.spec.name} unknown: no sample for ${formatElapsed(now - last)} (stale_after ${formatDuration(after)})`,
            );
            if (t) (out ??= []).push(t);
          } else if (deadline < next) next = deadline;
        }
      }
      this.staleCheckAt = next;
    }
    return out ?? NO_TRANSITIONS;
  }

  /**
   * Removes at once every instance whose series' labels satisfy `which` (a collector now reads another target: the
   * old target's series will not come back), as `forget_after` would later; `why` ends up in the reason.
   */
  retire(which: (labels: Labels) => boolean, now: number, why: string): readonly Transition[] {
    const out: Transition[] = [];
    for (const rule of this.rules.values())
      for (const inst of [...rule.instances.values()])
        if (which(inst.series.labels)) out.push(this.forget(inst, now, why));
    return out;
  }

  /** The earliest time at which `tick` may change something, if any. */
  nextDeadline(): number | undefined {
    let next = this.staleCheckAt;
    for (const inst of this.timed) {
      const d = this.timerDeadline(inst);
      if (d < next) next = d;
    }
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  /** The instances of a rule (empty when no sample has matched it yet). */
  instancesOf(rule: string): Iterable<InstanceView> {
    return this.rules.get(rule)?.instances.values() ?? [];
  }

  *allInstances(): Iterable<InstanceView> {
    for (const r of this.rules.values()) yield* r.instances.values();
  }

  get instanceCount(): number {
    let n = 0;
    for (const r of this.rules.values()) n += r.instances.size;
    return n;
  }

  /**
   * After a reload: rebuild windows from `old`'s kept samples, and carry rule state over by rule name and
   * label set (as Prometheus does), so a rule that was firing before the reload is firing after it.
   */
  carryOver(old: RuleEngine): void {
    for (const series of old.canonicalSeries.values()) {
      const metric = series.key.slice(0, series.key.indexOf("\u0002"));
      if (!this.byMetric.has(metric)) continue;
      for (let i = 0; i < series.length; i++) {
        this.ingest({ metric, labels: series.labels, value: series.valueAt(i), ts: series.tsAt(i) });
      }
    }
    for (const [name, rule] of this.rules) {
      const prev = old.rules.get(name);
      if (!prev || prev.spec.metric !== rule.spec.metric) continue;
      for (const [key, inst] of rule.instances) {
        const p = prev.instances.get(key);
        if (!p) continue;
        inst.phase = p.phase;
        inst.settled = p.settled;
        inst.stale = p.stale;
        inst.flapping = p.flapping && rule.flap !== undefined;
        inst.streakAt = p.streakAt;
        inst.streak = p.streak;
        inst.state = p.state;
        inst.since = p.since;
        inst.v = p.v;
        inst.reason = p.reason;
        inst.flapBits = p.flapBits;
        inst.flapLen = Math.min(p.flapLen, rule.flap?.history ?? 0);
        if (this.timerDeadline(inst) !== Number.POSITIVE_INFINITY) this.timed.add(inst);
        else this.timed.delete(inst);
      }
    }
  }

  // ---- internals ----

  /** The series of a sample's label set; a new one (with its instances) unless `create` is false. */
  private seriesFor(sample: Sample, create: boolean): Series | undefined {
    const labels = sample.labels;
    let fastKey = "";
    for (const k in labels) fastKey += `${k}\u0000${labels[k]}\u0001`;
    let byKey = this.fastSeries.get(sample.metric);
    if (byKey === undefined) this.fastSeries.set(sample.metric, (byKey = new Map()));
    let series = byKey.get(fastKey);
    if (series !== undefined) return series;
    if (this.unmatched.get(sample.metric)?.has(fastKey)) return UNMATCHED;
    const sortedKeys = Object.keys(labels).sort();
    const canon = `${sample.metric}\u0002${sortedKeys.map((k) => `${k}\u0000${labels[k]}`).join("\u0001")}`;
    series = this.canonicalSeries.get(canon);
    if (series === undefined && !create) return undefined;
    if (series === undefined) {
      const rules = (this.byMetric.get(sample.metric) ?? []).filter((r) => labelsMatch(r.matchers, labels));
      if (rules.length === 0) {
        // Remember the miss without keeping a series: label churn (veths, mounts) must not grow the engine.
        let miss = this.unmatched.get(sample.metric);
        if (miss === undefined) this.unmatched.set(sample.metric, (miss = new Set()));
        if (miss.size >= UNMATCHED_CACHE_MAX) miss.clear();
        miss.add(fastKey);
        return UNMATCHED;
      }
      const frozen: Labels = Object.freeze(Object.fromEntries(sortedKeys.map((k) => [k, labels[k]!])));
      series = new Series(canon, frozen);
      this.canonicalSeries.set(canon, series);
      for (const rule of rules) {
        const inst = new Instance(rule, series, sample.ts);
        rule.instances.set(canon, inst);
        series.instances.push(inst);
        for (const c of [rule.spec.problem, rule.spec.recovery]) {
          const r = retention(c);
          series.retain(r.n, r.ms);
        }
        const first = sample.ts + Math.min(rule.spec.stale_after ?? rule.forgetAfter, rule.forgetAfter);
        if (first < this.staleCheckAt) this.staleCheckAt = first;
      }
    }
    byKey.set(fastKey, series);
    series.fastKeys.push(fastKey);
    return series;
  }

  /**
   * Removes an instance whose series has been silent for `forget_after` (a NIC unplugged for good, a mount
   * removed): the member is judged on the instances that remain. The series goes when no rule holds it.
   */
  private forget(inst: Instance, now: number, why?: string): Transition {
    const rule = inst.compiled;
    const series = inst.series;
    rule.instances.delete(series.key);
    this.timed.delete(inst);
    const i = series.instances.indexOf(inst);
    if (i >= 0) series.instances.splice(i, 1);
    if (series.instances.length === 0) {
      series.dead = true;
      this.canonicalSeries.delete(series.key);
      const metric = series.key.slice(0, series.key.indexOf("\u0002"));
      const byKey = this.fastSeries.get(metric);
      for (const k of series.fastKeys) byKey?.delete(k);
    }
    const prev = inst.state;
    inst.state = "forgotten";
    inst.since = now;
    inst.reason = `${rule.spec.name} forgotten: ${why ?? `no sample for ${formatElapsed(now - series.lastTs)} (forget_after ${formatDuration(rule.forgetAfter)})`}; instance removed`;
    const { labels } = series;
    return { ts: now, rule: rule.spec.name, labels, state: "forgotten", prev, reason: inst.reason };
  }

  private cond(c: Condition, inst: Instance, now: number): boolean | undefined {
    const v = aggregate(c.fn, c.window, inst.series, now);
    inst.v = v;
    return Number.isNaN(v) ? undefined : compare(c, v);
  }

  /** Runs the phase machine for one sample. */
  private evaluate(inst: Instance, now: number): Transition | undefined {
    const spec = inst.compiled.spec;
    if (inst.stale) this.resume(inst, now);
    let verdict: boolean | undefined; // the condition that drives the current phase held
    switch (inst.phase) {
      case "unknown":
      case "ok":
      case "pending": {
        const p = this.cond(spec.problem, inst, now);
        verdict = p;
        if (p === true) {
          if (inst.phase !== "pending") this.startStreak(inst, now, spec.for);
          else inst.streak++;
          if (spanHeld(spec.for, inst, now)) this.setPhase(inst, "firing");
        } else if (p === false) {
          this.setPhase(inst, "ok");
        }
        break;
      }
      case "firing":
      case "recovering": {
        let r: boolean | undefined;
        if (spec.recovery) r = this.cond(spec.recovery, inst, now);
        else {
          const p = this.cond(spec.problem, inst, now);
          r = p === undefined ? undefined : !p;
        }
        verdict = r;
        if (r === true) {
          if (inst.phase !== "recovering") this.startStreak(inst, now, spec.recover_for);
          else inst.streak++;
          if (spanHeld(spec.recover_for, inst, now)) this.setPhase(inst, "ok");
        } else if (r === false) {
          this.setPhase(inst, "firing");
        }
        break;
      }
    }
    if (verdict !== undefined && inst.compiled.flap) recordFlap(inst);
    return report(inst, now);
  }

  /**
   * Data is back after a gap: staleness is re-armed (missing data must end as unknown every time), and a
   * `for` / `recover_for` streak starts over — it needs the condition observed continuously, not across a gap.
   */
  private resume(inst: Instance, now: number): void {
    inst.stale = false;
    const after = inst.compiled.spec.stale_after;
    if (after !== undefined && now + after < this.staleCheckAt) this.staleCheckAt = now + after;
    if (inst.phase === "pending") inst.phase = inst.settled ? "ok" : "unknown";
    else if (inst.phase === "recovering") inst.phase = "firing";
  }

  private startStreak(inst: Instance, now: number, span: RuleSpec["for"]): void {
    inst.streakAt = now;
    inst.streak = 1;
    this.setPhase(inst, inst.phase === "firing" || inst.phase === "recovering" ? "recovering" : "pending");
    if (span?.kind === "time" && span.ms > 0) this.timed.add(inst);
  }

  private setPhase(inst: Instance, phase: Phase): void {
    if (phase === inst.phase) return;
    inst.phase = phase;
    if (phase === "ok" || phase === "firing") {
      inst.settled = true;
      this.timed.delete(inst);
    }
  }

  private timerDeadline(inst: Instance): number {
    const span =
      inst.phase === "pending"
        ? inst.compiled.spec.for
        : inst.phase === "recovering"
          ? inst.compiled.spec.recover_for
          : undefined;
    return span?.kind === "time" ? inst.streakAt + span.ms : Number.POSITIVE_INFINITY;
  }

  private evaluateTimer(inst: Instance, now: number): Transition | undefined {
    if (now < this.timerDeadline(inst)) return undefined;
    this.setPhase(inst, inst.phase === "pending" ? "firing" : "ok");
    this.timed.delete(inst);
    return report(inst, now);
  }
}

/**
 * What the engine keeps: compiled rules, series (a metric and label set, with its samples) and rule instances
 * (a rule on a series, with its phase machine's state). Mutated in place by the engine for throughput.
 */
import type { Health } from "../groups/types.js";
import type { RulePhase } from "../states.js";
import { compileMatchers, type GlobMatcher } from "./labels.js";
import type { Condition, FlapSpec, Labels, RuleSpec, RuleState } from "./types.js";
import { SampleBuffer } from "./window.js";

/** A rule instance changed its reported state. */
export interface Transition {
  readonly ts: number;
  readonly rule: string;
  readonly labels: Labels;
  readonly state: RuleState;
  readonly prev: RuleState;
  readonly value?: number;
  readonly reason: string;
}

/** What the outside may read of an instance. */
export interface InstanceView {
  readonly rule: RuleSpec;
  readonly labels: Labels;
  readonly state: RuleState;
  readonly health: Health;
  /** When the reported state last changed. */
  readonly since: number;
  readonly value: number | undefined;
  readonly lastSampleTs: number;
  readonly reason: string;
}

export const DEFAULT_FLAP: FlapSpec = { history: 21, low: 5, high: 20 };
/** A series silent this long is forgotten (its rule instances removed) unless the rule says otherwise. */
export const DEFAULT_FORGET_MS = 600_000;
/** Label sets of a metric that no rule selects, remembered to skip matching; cleared past this many. */
export const UNMATCHED_CACHE_MAX = 4096;

export type Phase = RulePhase;

export interface CompiledRule {
  readonly spec: RuleSpec;
  readonly matchers: readonly GlobMatcher[];
  readonly flap: FlapSpec | undefined;
  readonly forgetAfter: number;
  /** Its problem or recovery condition names `unknown` (−1): an unknown reading is something it judges. */
  readonly judgesUnknown: boolean;
  readonly instances: Map<string, Instance>;
}

/** One metric + label set, with its samples (the ring buffer is the series itself: one object less to chase). */
export class Series extends SampleBuffer {
  readonly instances: Instance[] = [];
  lastTs = Number.NEGATIVE_INFINITY;
  /** The keys under which `fastSeries` holds this series (label order as collectors send them). */
  readonly fastKeys: string[] = [];
  /** Forgotten: the engine no longer holds it; a label object still mapped to it must look again. */
  dead = false;
  constructor(
    readonly key: string,
    readonly labels: Labels,
  ) {
    super(1, 0);
  }
}

export class Instance implements InstanceView {
  phase: Phase = "unknown";
  /** Reached ok or firing at least once: before that its health is unknown. */
  settled = false;
  stale = false;
  flapping = false;
  /** When the current pending/recovering streak began, and how many evaluations it holds. */
  streakAt = 0;
  streak = 0;
  state: RuleState = "unknown";
  since: number;
  /** The last computed aggregate; NaN when there is none (kept a double for speed). */
  v = Number.NaN;
  reason = "no data yet";
  /** Flap history as a shift register: bit 0 = the newest verdict, 1 = problem (firing/recovering). */
  flapBits = 0;
  flapLen = 0;

  constructor(
    readonly compiled: CompiledRule,
    readonly series: Series,
    now: number,
  ) {
    this.since = now;
  }
  get rule(): RuleSpec {
    return this.compiled.spec;
  }
  get labels(): Labels {
    return this.series.labels;
  }
  get value(): number | undefined {
    return Number.isNaN(this.v) ? undefined : this.v;
  }
  get lastSampleTs(): number {
    return this.series.lastTs;
  }
  get health(): Health {
    if (this.stale || !this.settled) return "unknown";
    if (this.flapping || this.phase === "firing" || this.phase === "recovering") {
      return this.compiled.spec.severity === "warning" ? "degraded" : "unhealthy";
    }
    return "healthy";
  }
}

/** Whether a `for` / `recover_for` streak has lasted its span. */
export function spanHeld(span: RuleSpec["for"], inst: Instance, now: number): boolean {
  if (span === undefined) return true;
  return span.kind === "samples" ? inst.streak >= span.n : now - inst.streakAt >= span.ms;
}

/** A rule made ready for the engine: its label matchers, flap settings and forget_after resolved. */
export function compileRule(spec: RuleSpec): CompiledRule {
  return {
    spec,
    matchers: compileMatchers(spec.labels),
    flap: spec.flap === false ? undefined : (spec.flap ?? DEFAULT_FLAP),
    forgetAfter: spec.forget_after ?? Math.max(DEFAULT_FORGET_MS, 2 * (spec.stale_after ?? 0)),
    judgesUnknown: namesUnknown(spec.problem) || (spec.recovery !== undefined && namesUnknown(spec.recovery)),
    instances: new Map(),
  };
}

/** Whether a condition names the unknown state (−1): `== unknown`, `in [failed, unknown]`. */
function namesUnknown(c: Condition): boolean {
  return c.op === "in" ? c.values.includes(-1) : c.value === -1;
}

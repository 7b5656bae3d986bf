import { COMPONENT_STATES } from "../states.js";
import type { Span } from "../util/duration.js";

export type Labels = Readonly<Record<string, string>>;

/** One observation. `ts` in milliseconds since the epoch. */
export interface Sample {
  readonly metric: string;
  readonly labels: Labels;
  readonly value: number;
  readonly state?: string;
  readonly ts: number;
}

/** Component state words and their numeric values, shared by every collector (see src/states.ts). */
export const STATE_VALUES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(COMPONENT_STATES).map(([word, s]) => [word, s.value]),
);

export const AGG_FNS = [
  "last",
  "avg",
  "min",
  "max",
  "sum",
  "count",
  "p50",
  "p90",
  "p95",
  "p99",
  "rate",
  "delta",
] as const;
export type AggFn = (typeof AGG_FNS)[number];

export const COMPARE_OPS = [">=", "<=", "==", "!=", ">", "<"] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

/** A parsed condition `[FN over WINDOW] OP VALUE`. */
export type Condition =
  | {
      readonly text: string;
      readonly fn: AggFn;
      readonly window?: Span;
      readonly op: CompareOp;
      readonly value: number;
    }
  | {
      readonly text: string;
      readonly fn: AggFn;
      readonly window?: Span;
      readonly op: "in";
      readonly values: readonly number[];
    };

export type Severity = "critical" | "warning";

export interface FlapSpec {
  /** Number of evaluations kept, 3 to 32 (Nagios keeps 21). */
  readonly history: number;
  /** Percent state change below which a flapping rule stops flapping. */
  readonly low: number;
  /** Percent state change above which a rule starts flapping. */
  readonly high: number;
}

/** Where a thing was defined, for messages. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A validated rule, as the engine consumes it. */
export interface RuleSpec {
  readonly name: string;
  readonly metric: string;
  /** Label matchers; values may contain `*` globs. */
  readonly labels: Labels;
  readonly problem: Condition;
  /** Default: not problem. */
  readonly recovery?: Condition;
  readonly for?: Span;
  readonly recover_for?: Span;
  /** Milliseconds without a sample after which the instance is unknown. */
  readonly stale_after?: number;
  /** Milliseconds without a sample after which the instance is removed (default 10 minutes). */
  readonly forget_after?: number;
  readonly severity: Severity;
  /** Flap detection; `false` disables it. Default: {history: 21, low: 5, high: 20}. */
  readonly flap?: FlapSpec | false;
  readonly description?: string;
  readonly source?: SourcePos;
}

export type { RuleState } from "../states.js";

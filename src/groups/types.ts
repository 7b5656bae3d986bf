import type { ActionSpec } from "../actions/types.js";
import type { Labels, SourcePos } from "../engine/types.js";

/** A member's health rule reference: a rule by name, optionally narrowed to instances with these labels. */
export interface HealthRef {
  readonly rule: string;
  readonly labels?: Labels;
}

export interface MemberSpec {
  readonly name: string;
  /** Higher is preferred. */
  readonly priority: number;
  readonly health: readonly HealthRef[];
  readonly activate: readonly ActionSpec[];
  readonly deactivate: readonly ActionSpec[];
}

export type FailbackMode = "auto" | "manual" | "never";

/** local: this instance decides the group alone; shared: the fleet's elected leader does (docs/fleet.md). */
export type GroupScope = "local" | "shared";

/**
 * How many of the live observers must see a shared group's member unhealthy before it is failed over:
 * `majority` (⌊n/2⌋+1), `any` (1), `all` (n), or a number (no quorum while fewer observers are live).
 */
export type Quorum = "majority" | "any" | "all" | number;

export interface GroupSpec {
  readonly name: string;
  /** Sorted by priority, highest first (the loader sorts; ties keep file order). */
  readonly members: readonly MemberSpec[];
  readonly failback: {
    readonly mode: FailbackMode;
    /** ms of continuous health before an automatic failback. */
    readonly hold: number;
    /** Cap for the hold after it doubled (failback followed by relapse). Default hold × 8. */
    readonly max_hold: number;
  };
  readonly damping: {
    readonly max_switches: number;
    /** ms */
    readonly within: number;
  };
  readonly min_healthy?: number;
  readonly verify?: { readonly rules: readonly string[]; readonly within: number };
  /** Absent: local (the loader always sets it). */
  readonly scope?: GroupScope;
  /** Absent: majority (the loader always sets it); only shared groups use it. */
  readonly quorum?: Quorum;
  readonly source?: SourcePos;
}

export type { Health } from "../states.js";

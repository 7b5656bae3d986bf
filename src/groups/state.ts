/** A group controller's inputs, state and result: plain data, JSON-serializable (see controller.ts). */
import type { Culprit, StandbyEvent } from "./events.js";
import type { GroupSpec, Health } from "./types.js";

export interface MemberStatus {
  readonly health: Health;
  /** The rule instances that make the member less than healthy (empty when healthy). */
  readonly culprits: readonly Culprit[];
  readonly reason: string;
}

/** Everything the controller decides from, recomputed by the caller when a rule changes state. */
export interface HealthSnapshot {
  readonly members: Readonly<Record<string, MemberStatus>>;
  /** The group's `verify` rules that are firing now (their reasons). */
  readonly verifyFiring: readonly string[];
}

export type Command =
  | { readonly command: "failover"; readonly member?: string; readonly until?: number }
  | { readonly command: "failback" }
  | { readonly command: "pin"; readonly member: string; readonly until?: number; readonly force?: boolean }
  | { readonly command: "unpin" }
  | { readonly command: "freeze"; readonly reason?: string }
  | { readonly command: "unfreeze" };

export type Input =
  | { readonly type: "health"; readonly snapshot: HealthSnapshot }
  | { readonly type: "tick" }
  | ({ readonly type: "command"; readonly by?: string } & Command)
  /** The action runner's verdict on activating `to`. */
  | { readonly type: "switch_result"; readonly to: string; readonly ok: boolean; readonly detail: string };

/** The controller's whole state: plain data, JSON-serializable, persisted by the daemon. */
export interface GroupState {
  readonly active: string;
  /** When `active` became active. */
  readonly since: number;
  /** Times of the automatic switches still inside the damping window. */
  readonly switches: readonly number[];
  /**
   * Frozen by damping (with `until`) or by hand: no automatic failback. `avoid` is the member that kept failing
   * (as Pacemaker's migration-threshold bans a node): not chosen while another healthy member exists.
   */
  readonly frozen?: {
    readonly at: number;
    readonly until?: number;
    readonly reason: string;
    readonly avoid?: string;
  };
  /** The operator's choice (`pin`, or `failover`, which holds the group as a pin does) until unpin/failback/expiry. */
  readonly pin?: { readonly member: string; readonly until?: number; readonly by?: "pin" | "failover" };
  /**
   * A member the operator put in charge although it was unhealthy or unknown (`pin --force`, `failover --to`):
   * automatic failover away from it waits until its health changes.
   */
  readonly forced?: string;
  /** The hold in force: the configured one, doubled after each failed failback, capped at max_hold. */
  readonly hold: number;
  /** After a failback: a relapse of `to` before `until` doubles the next hold. */
  readonly probation?: { readonly to: string; readonly until: number };
  /** After a switch: `verify` rules are checked at `deadline`. */
  readonly verify?: { readonly to: string; readonly deadline: number };
  /** Members whose activation failed, excluded as targets until the given time. */
  readonly excluded: Readonly<Record<string, number>>;
  readonly health: Readonly<Record<string, MemberStatus>>;
  /** When each member became continuously healthy (absent when it is not healthy). */
  readonly healthySince: Readonly<Record<string, number>>;
  /** Members that have had a known health at least once (redundancy is judged once all have). */
  readonly seen: readonly string[];
  readonly verifyFiring: readonly string[];
  readonly noHealthy: boolean;
  readonly redundancy?: "ok" | "lost";
  readonly startedAt: number;
}

export interface StepResult {
  readonly state: GroupState;
  readonly events: readonly StandbyEvent[];
  /**
   * Set when the active member changed (at most one switch a step): the daemon deactivates `from` (best effort)
   * and activates `to`. `retry` re-runs the activation of the active member after its activation failed.
   */
  readonly switch?: { readonly from: string; readonly to: string; readonly kind: SwitchKind };
  /** A command that was refused, and why. */
  readonly error?: string;
}

export type SwitchKind = "failover" | "failback" | "manual_switch" | "switch_retry";

/** Redundancy is judged once every member has reported, or this long after start. */
export const REDUNDANCY_GRACE_MS = 30_000;

export const UNKNOWN_STATUS: MemberStatus = { health: "unknown", culprits: [], reason: "no data yet" };

export function initialState(spec: GroupSpec, now: number, active?: string): GroupState {
  const first = spec.members[0];
  if (!first) throw new Error(`group "${spec.name}" has no members`);
  const start = active && spec.members.some((m) => m.name === active) ? active : first.name;
  return {
    active: start,
    since: now,
    switches: [],
    hold: spec.failback.hold,
    excluded: {},
    health: Object.fromEntries(spec.members.map((m) => [m.name, UNKNOWN_STATUS])),
    healthySince: {},
    seen: [],
    verifyFiring: [],
    noHealthy: false,
    startedAt: now,
  };
}

/** GroupState with everything writable, for the working copy of one step. */

import type { Labels, RuleState } from "../engine/types.js";

export const EVENT_KINDS = [
  "rule",
  "health",
  "failover",
  "failback",
  "manual_switch",
  "switch_failed",
  "frozen",
  "unfrozen",
  "pinned",
  "unpinned",
  "redundancy_lost",
  "redundancy_restored",
  "no_healthy_member",
  "action",
  "switch_retry",
  "state_discarded",
  "switch_resumed",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** A rule instance that contributes to a decision. */
export interface Culprit {
  readonly rule: string;
  readonly labels: Labels;
  readonly state: RuleState;
  readonly value?: number;
  readonly reason: string;
}

/**
 * One event, as the event log, `standby simulate --json` and the API write it (DESIGN.md "Events and traces").
 * Only the fields that apply are present.
 */
export interface StandbyEvent {
  readonly ts: number;
  readonly kind: EventKind;
  readonly group?: string;
  readonly member?: string;
  readonly from?: string;
  readonly to?: string;
  readonly rule?: string;
  readonly labels?: Labels;
  readonly state?: string;
  readonly value?: number;
  readonly reason: string;
  readonly [extra: string]: unknown;
}

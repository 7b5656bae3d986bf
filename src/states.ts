/**
 * Every state standby reports, in one place, each value with its meaning where it is declared (as multipath-tools'
 * `checkers.h` does). Events, `standby status`, metrics and the docs use these words; nothing else invents one.
 */

/** A rule instance's phase: where it is in `problem` → `for` → firing → `recovery` → `recover_for`. */
export const RULE_PHASES = {
  unknown: "not judged yet: no sample, or not enough for its window",
  ok: "the problem condition does not hold",
  pending: "the problem holds, for less than `for`",
  firing: "the problem held for `for`; the recovery condition does not hold",
  recovering: "firing, and the recovery holds, for less than `recover_for`",
} as const;
export type RulePhase = keyof typeof RULE_PHASES;

/** What a rule instance reports (events, status): its phase, or an overlay on it. */
export const RULE_STATES = {
  ...RULE_PHASES,
  unknown: "no fresh data (stale_after passed, or never enough): never evidence of health",
  flapping: "its verdict changed too often (percent state change ≥ high): counts at its severity",
  forgotten: "its series was silent for forget_after: the instance is removed",
} as const;
export type RuleState = keyof typeof RULE_STATES;

/** A member's health: the worst of its rule instances. */
export const HEALTHS = {
  healthy: "every health rule ok (or pending after ok)",
  degraded: "a warning rule fires or flaps: kept as active, a target only when nothing is healthy",
  unhealthy: "a critical rule fires or flaps: failed over from at once",
  unknown: "a health rule has no fresh data: kept as active, never a target",
} as const;
export type Health = keyof typeof HEALTHS;

/** A group's redundancy against `min_healthy`. */
export const REDUNDANCY = {
  ok: "at least min_healthy members healthy",
  lost: "fewer than min_healthy members healthy (redundancy_lost raised)",
} as const;
export type Redundancy = keyof typeof REDUNDANCY;

/**
 * Component state words and the numbers collectors send with them (DESIGN "Core types"): rules may test the
 * word (`in [failed, absent]`) or the number.
 */
export const COMPONENT_STATES = {
  ok: { value: 0, meaning: "working" },
  warning: { value: 1, meaning: "working, with a fault worth a look (a fan slow, a PSU input low)" },
  failed: { value: 2, meaning: "not working" },
  absent: { value: 3, meaning: "not present (a PSU pulled, a disk removed)" },
  unknown: { value: -1, meaning: "the device does not say" },
} as const;
export type ComponentState = keyof typeof COMPONENT_STATES;

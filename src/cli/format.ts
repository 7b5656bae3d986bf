import type { Labels } from "../engine/types.js";
import type { EventKind, EventOf, StandbyEvent } from "../groups/events.js";

export function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Seconds relative to the start, as `+12.300s`. */
export function formatOffset(ts: number, t0: number): string {
  const d = (ts - t0) / 1000;
  return `${d >= 0 ? "+" : "-"}${Math.abs(d).toFixed(3)}s`;
}

const memberOf = (e: { group: string; member: string }) => `${e.group}/${e.member}`;
const switchOf = (e: { group: string; from: string; to: string }) => `${e.group}: ${e.from} → ${e.to}`;

const fleetOf = (e: { group?: string; leader?: string; fence?: string }) =>
  `${e.group ?? "fleet"}${e.leader !== undefined ? ` leader ${e.leader}` : ""}${e.fence !== undefined ? ` fence ${e.fence}` : ""}`;

/** What each kind of event is about, in a few words: one entry per kind (the compiler checks that none is missing). */
const SUBJECT: { readonly [K in EventKind]: (e: EventOf<K>) => string } = {
  rule: (e) => `${e.rule}${formatLabels(e.labels)} ${e.prev} → ${e.state}`,
  health: (e) => `${memberOf(e)} ${e.state}`,
  failover: switchOf,
  failback: switchOf,
  manual_switch: switchOf,
  switch_resumed: switchOf,
  switch_failed: memberOf,
  switch_retry: memberOf,
  frozen: memberOf,
  unfrozen: memberOf,
  pinned: memberOf,
  unpinned: memberOf,
  no_healthy_member: memberOf,
  redundancy_lost: (e) => e.group,
  redundancy_restored: (e) => e.group,
  action: (e) => `${memberOf(e)} ${e.phase} ${e.action}${e.dry_run ? " (dry run)" : e.ok ? "" : " failed"}`,
  state_discarded: () => "state.json",
  collector: (e) => `${e.collector} ${e.target} ${e.state}`,
  leader_elected: fleetOf,
  leader_lost: fleetOf,
  fleet_unavailable: fleetOf,
  fleet_available: fleetOf,
  switch_fenced: (e) => `${fleetOf(e)}${e.from !== undefined ? `: ${e.from} → ${e.to}` : ""}`,
  shards_moved: (e) => `${e.targets?.length ?? 0} target(s), ${e.moved ?? 0} moved`,
};

function subject<K extends EventKind>(e: EventOf<K>): string {
  return (SUBJECT[e.kind] as (e: EventOf<K>) => string)(e);
}

/** What an event is about, after its kind: `failover uplink: isp-a → isp-b` (an annotation's title). */
export function eventTitle(e: StandbyEvent): string {
  return `${e.kind} ${subject(e)}`;
}

/** One event as a human reads it: time, kind, what it is about, why. */
export function formatEvent(e: StandbyEvent, t0: number): string {
  return `${formatOffset(e.ts, t0).padStart(10)}  ${e.kind.padEnd(19)} ${subject(e)}  — ${e.reason}`;
}

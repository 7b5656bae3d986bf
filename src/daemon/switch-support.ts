/**
 * What the switcher (switches.ts) uses besides its queues: the fencing gate of shared groups (fleet mode), which
 * members' routes and addresses are installed (reconciliation), and the event of an action that ran.
 */
import type { RouteSpec } from "../actions/argv.js";
import { addressPresent, type Route, routeMatches } from "../actions/routes.js";
import type { ActionResult } from "../actions/run.js";
import type { ActionSpec } from "../actions/types.js";
import type { ActionEvent, FleetEvent } from "../groups/events.js";
import type { GroupSpec, MemberSpec } from "../groups/types.js";
import type { SwitchIntent } from "./state.js";

/**
 * A shared group's switch is carried out under the leader's fencing token: its intent is written to etcd in a
 * transaction that compares the token before the first action, the token is compared again before every action,
 * and the state without the intent is written after. A refused token stops the switch (docs/fleet.md).
 */
export interface FenceGate {
  /** Whether the group is shared (decided by the fleet's leader). */
  shared(group: string): boolean;
  /** The token under which this instance may act for the shared group now; undefined when it does not lead it. */
  fenceOf(group: string): string | undefined;
  /** Writes the switch intent under `fence`. Undefined when written, else why not (refused, etcd unreachable). */
  begin(group: string, intent: SwitchIntent, fence: string): Promise<string | undefined>;
  /** Compares `fence` in etcd. Undefined when it still leads, else why not. */
  check(group: string, fence: string): Promise<string | undefined>;
  /** After the switch: the state without the intent (best effort). */
  end(group: string, fence: string): Promise<void>;
}

/** runMemberActions' result when a fencing token was refused (the switch_fenced event is already recorded). */
export const FENCED = "fenced";

export function isCheckable(actions: readonly ActionSpec[]): boolean {
  return actions.some((a) => "route" in a || "address" in a);
}

/** The members whose route/address actions are all in place. */
export async function installedMembers(
  group: GroupSpec,
  getRoutes: (spec: RouteSpec) => Promise<Route[]>,
): Promise<string[]> {
  const out: string[] = [];
  for (const m of group.members) {
    if (!isCheckable(m.activate)) continue;
    let all = true;
    for (const a of m.activate) {
      if ("route" in a) {
        if (!routeMatches(a.route, await getRoutes(a.route))) all = false;
      } else if ("address" in a) {
        const present = await addressPresent(a.address);
        if (present !== (a.address.state === "present")) all = false;
      }
    }
    if (all) out.push(m.name);
  }
  return out;
}

export function actionEvent(
  group: GroupSpec,
  member: MemberSpec,
  phase: string,
  r: ActionResult,
  now: number,
): ActionEvent {
  return {
    ts: now,
    kind: "action",
    group: group.name,
    member: member.name,
    action: r.kind,
    phase,
    ok: r.ok,
    ...(r.dryRun ? { dry_run: true } : {}),
    ...(r.argv ? { argv: r.argv } : {}),
    ...(r.exitCode !== undefined ? { exit_code: r.exitCode } : {}),
    ...(r.abandoned ? { abandoned: true, ...(r.pid !== undefined ? { pid: r.pid } : {}) } : {}),
    duration_ms: r.durationMs,
    ...(r.output ? { output: r.output } : {}),
    reason: `${phase} ${member.name}: ${r.kind} ${r.dryRun ? "(dry run, not run)" : r.ok ? "ok" : `failed: ${r.error ?? ""}`}`,
  };
}

/** A shared group's switch (or action) not carried out: its fencing token was refused or etcd did not answer. */
export function fencedEvent(
  now: number,
  group: string,
  from: string | undefined,
  to: string,
  fence: string,
  why: string,
): FleetEvent {
  return {
    ts: now,
    kind: "switch_fenced",
    group,
    ...(from !== undefined ? { from } : {}),
    to,
    fence,
    reason: `${from !== undefined ? `${from} → ${to}` : to} not carried out: ${why}`,
  };
}

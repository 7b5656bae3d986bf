/**
 * Whether the daemon's decision path turns: the check behind the systemd watchdog's pings (watchdog.ts), beside
 * its check that the event loop turns. Pure: the daemon hands in what it has (Daemon.liveness), time is a
 * parameter.
 *
 * Three things must keep moving, each within a bound it can be held to:
 * - **the pipeline's timer**: its next deadline (a `for`, a hold, a `stale_after`…) is not overdue by more than
 *   the grace: the timer that ticks the pipeline fired and the tick consumed the deadline;
 * - **each group's switch queue**: the job running now (a switch, a switch resumed after a crash, or a
 *   reconciliation) has not run longer than all its group's actions may take — every action's timeout (twice:
 *   snmp_set reads back, address runs arping), the kill grace, an `ip` read each — plus the grace. Every action
 *   has a timeout, so a job that runs longer waits on something that will never end (or on a stalled disk);
 * - **the collectors' scheduler**: each polling collector started a run within its interval (+ jitter) or its
 *   timeout, whichever is longer, plus the grace (its first run within the start spread).
 *
 * The grace is large (20 s) because a false alarm restarts a healthy failover daemon: the check is for a path
 * that stopped, not for one that is slow. An event loop lagging seconds is the watchdog's other check.
 */
import { READ_TIMEOUT_MS } from "../actions/routes.js";
import type { ActionSpec } from "../actions/types.js";
import type { GroupSpec } from "../groups/types.js";
import { formatDuration } from "../util/duration.js";
import { KILL_GRACE_MS } from "../util/kill.js";
import { FIRST_RUN_SPREAD_MS } from "./scheduler.js";

export const LIVENESS_GRACE_MS = 20_000;

/** A group's switch queue while a job runs in it. */
export interface BusyGroup {
  readonly group: string;
  /** Monotonic ms when the job started. */
  readonly since: number;
  /** The most it may take (see switchBudgetMs). */
  readonly budgetMs: number;
}

/** A polling collector as scheduled. */
export interface ScheduledCollector {
  readonly name: string;
  /** ms */
  readonly interval: number;
  /** ms */
  readonly timeout: number;
  /** Monotonic ms: when its last run started, if any. */
  readonly lastRunAt?: number | undefined;
  /** Monotonic ms: when the scheduler took it. */
  readonly addedAt: number;
}

export interface LivenessInput {
  /** Monotonic ms. */
  readonly now: number;
  /** The pipeline's next deadline (monotonic ms), if any. */
  readonly deadline: number | undefined;
  readonly busy: readonly BusyGroup[];
  readonly collectors: readonly ScheduledCollector[];
  readonly graceMs?: number | undefined;
}

/** Why the decision path is stuck (every reason found, `; `-separated), or undefined when it turns. */
export function checkLiveness(i: LivenessInput): string | undefined {
  const grace = i.graceMs ?? LIVENESS_GRACE_MS;
  const ago = (t: number) => formatDuration(Math.round(i.now - t));
  const why: string[] = [];
  if (i.deadline !== undefined && i.now - i.deadline > grace)
    why.push(`the pipeline's timer is stuck: its deadline passed ${ago(i.deadline)} ago`);
  for (const b of i.busy) {
    if (i.now - b.since > b.budgetMs)
      why.push(
        `group ${b.group}'s switch queue is stuck: a job has run for ${ago(b.since)} (its actions may take ${formatDuration(b.budgetMs)})`,
      );
  }
  const late = i.collectors.filter((c) => i.now - (c.lastRunAt ?? c.addedAt) > collectorBoundMs(c) + grace);
  if (late.length > 0) {
    const c = late[0]!;
    why.push(
      `the scheduler is stuck: collector ${c.name} (every ${formatDuration(c.interval)}) has not run for ${ago(c.lastRunAt ?? c.addedAt)}${late.length > 1 ? ` (and ${late.length - 1} more)` : ""}`,
    );
  }
  return why.length > 0 ? why.join("; ") : undefined;
}

/** The longest a collector's next run may be in coming (scheduler.ts: jitter ±10 % up to 1 s, start spread). */
export function collectorBoundMs(c: ScheduledCollector): number {
  if (c.lastRunAt === undefined) return Math.min(c.interval, FIRST_RUN_SPREAD_MS);
  return Math.max(c.interval + Math.min(c.interval * 0.1, 1000), c.timeout);
}

/** The most a job of the group's switch queue may take: all its members' actions, bounded by their timeouts. */
export function switchBudgetMs(group: GroupSpec | undefined, graceMs = LIVENESS_GRACE_MS): number {
  let ms = graceMs;
  for (const m of group?.members ?? [])
    for (const a of [...m.activate, ...m.deactivate])
      ms += 2 * (actionTimeout(a) + KILL_GRACE_MS) + READ_TIMEOUT_MS;
  return ms;
}

function actionTimeout(a: ActionSpec): number {
  const spec = Object.values(a)[0] as { timeout?: number } | undefined;
  return spec?.timeout ?? 0;
}

/**
 * systemd's STATUS= line when all is well: each group's active member (`uplink: isp-b (switching)`), e.g.
 * `2 group(s): uplink: isp-a, svc: backup (switching)`.
 */
export function statusLine(
  groups: readonly GroupSpec[],
  active: (group: string) => string | undefined,
  switching: (group: string) => boolean,
  dryRun: boolean,
): string {
  const each = groups.map(
    (g) => `${g.name}: ${active(g.name) ?? "none"}${switching(g.name) ? " (switching)" : ""}`,
  );
  return `${groups.length} group(s)${each.length ? `: ${each.join(", ")}` : ""}${dryRun ? " (dry run)" : ""}`;
}

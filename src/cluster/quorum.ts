/**
 * A shared member's health for the leader, from the views of the live observers (every instance publishes its
 * own view of each shared member under its lease, so a dead instance's view disappears with it).
 *
 * With n live observers and q the number the group's `quorum` needs (`majority` ⌊n/2⌋+1, `any` 1, `all` n, a
 * number N), the verdict is:
 * - unhealthy when at least q observers see the member unhealthy — the only verdict that fails it over;
 * - unknown when fewer than q observers have a view at all (a live observer that published none, or whose view
 *   is unknown, counts as unknown: never as unhealthy, never as healthy);
 * - healthy when every observer with a view sees it healthy;
 * - degraded otherwise: some observers see it degraded or unhealthy, too few to fail it over. Like a degraded
 *   member on one host, it is kept as active and a failover target only when no member is healthy, and it is not
 *   failed back to: doubt stops a switch towards a member, only a quorum starts one away from it.
 * Fail closed: no live observer, or a number N above the live count, means no quorum: unknown, never a failover
 * (a configured N is not lowered to the live count: three of five observers dead must not make one enough).
 * Only unhealthy fails over (an unknown or degraded active member is kept, DESIGN.md), so an instance that lost its
 * own path to everything is outvoted ("1 of 3 observers see r1 unhealthy (majority needs 2): kept") instead of
 * causing a failover.
 *
 * Pure: the caller (the leader) passes the views it read from etcd and the number of live instances.
 */
import type { Quorum } from "../groups/types.js";
import type { Health } from "../states.js";

/** One observer's view of one member, as it publishes it. */
export interface ObserverView {
  readonly observer: string;
  readonly health: Health;
  /** The observer's own reason (its firing rules), for status and events. */
  readonly reason?: string;
}

export interface Tally {
  readonly healthy: number;
  readonly degraded: number;
  readonly unhealthy: number;
  /** Views that say unknown, and live observers without a view. */
  readonly unknown: number;
}

export interface FleetVerdict {
  readonly health: Health;
  /** In words, e.g. "3 of 3 observers: r1 unhealthy", "1 of 3 observers see r1 unhealthy (majority needs 2): kept". */
  readonly reason: string;
  /** Live observers counted: the larger of `live` and the observers that gave a view. */
  readonly observers: number;
  /** How many the quorum needs; undefined when it cannot be met (N above the live count, or nobody live). */
  readonly needed: number | undefined;
  readonly tally: Tally;
  /** The observers that see the member unhealthy, sorted. */
  readonly unhealthyBy: readonly string[];
}

/** How many of `live` observers the quorum needs; undefined when it cannot be met. */
export function quorumNeeded(q: Quorum, live: number): number | undefined {
  if (live < 1) return undefined;
  switch (q) {
    case "majority":
      return Math.floor(live / 2) + 1;
    case "any":
      return 1;
    case "all":
      return live;
    default:
      return q >= 1 && q <= live ? q : undefined;
  }
}

/** "majority", "any", "all", or "quorum 2": for reasons. */
export function describeQuorum(q: Quorum): string {
  return typeof q === "number" ? `quorum ${q}` : q;
}

/**
 * The fleet's verdict on `member` from the live observers' views. `live` is the number of live observers
 * (instances holding a lease); views from the same observer count once (the last one).
 */
export function fleetHealth(
  member: string,
  views: readonly ObserverView[],
  quorum: Quorum,
  live: number,
): FleetVerdict {
  const byObserver = new Map<string, ObserverView>();
  for (const v of views) byObserver.set(v.observer, v);
  const n = Math.max(live, byObserver.size);
  const count = (h: Health) => [...byObserver.values()].filter((v) => v.health === h).length;
  const unhealthy = count("unhealthy");
  const degraded = count("degraded");
  const healthy = count("healthy");
  const tally: Tally = { healthy, degraded, unhealthy, unknown: n - healthy - degraded - unhealthy };
  const unhealthyBy = [...byObserver.values()]
    .filter((v) => v.health === "unhealthy")
    .map((v) => v.observer)
    .sort();
  const needed = quorumNeeded(quorum, n);
  const base = { observers: n, needed, tally, unhealthyBy };
  const of = `of ${n} observer${n === 1 ? "" : "s"}`;

  if (needed === undefined) {
    const why =
      n === 0
        ? "no live observers"
        : `${describeQuorum(quorum)} but only ${n} observer${n === 1 ? "" : "s"} live`;
    return { ...base, health: "unknown", reason: `${why}: ${member} unknown, no failover` };
  }
  if (unhealthy >= needed)
    return { ...base, health: "unhealthy", reason: `${unhealthy} ${of}: ${member} unhealthy` };

  const known = unhealthy + degraded + healthy;
  const health: Health = known < needed ? "unknown" : healthy === known ? "healthy" : "degraded";
  const needs = `(${describeQuorum(quorum)} needs ${needed})`;
  if (unhealthy > 0)
    return { ...base, health, reason: `${unhealthy} ${of} see ${member} unhealthy ${needs}: kept` };
  const reason =
    health === "unknown"
      ? `only ${known} ${of} have a view of ${member} ${needs}: ${member} unknown`
      : health === "healthy"
        ? `${healthy} ${of}: ${member} healthy`
        : `${degraded} ${of} see ${member} degraded: ${member} degraded`;
  return { ...base, health, reason };
}

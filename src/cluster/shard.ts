/**
 * Which live instance polls which shared target: rendezvous (highest random weight) hashing. Every instance
 * computes the same map from the same membership, with no coordination beyond agreeing on who is alive (the
 * leases under `<prefix>/instances/`). A target belongs to the instance whose weight for it is highest, so when an
 * instance leaves only its own targets move (each to the instance with the next-highest weight), and when one
 * joins it takes about 1/(N+1) of the targets, from every other instance alike.
 *
 * The weight is the first 8 bytes of SHA-256 over `instance \0 target` (UTF-8), read big-endian as an unsigned
 * 64-bit integer: the same in every process, on every platform and Node version. Ties (never seen in practice)
 * go to the instance whose name sorts first. Pure: no clock, no I/O.
 */
import { createHash } from "node:crypto";

/** An instance's weight for a target: higher wins. */
export function weight(instance: string, target: string): bigint {
  return createHash("sha256").update(`${instance}\0${target}`).digest().readBigUInt64BE(0);
}

/** The live instances, each once, sorted (so that ties and iteration order are the same everywhere). */
function members(instances: Iterable<string>): string[] {
  return [...new Set(instances)].sort();
}

function best(target: string, sorted: readonly string[]): string | undefined {
  let owner: string | undefined;
  let top = -1n;
  for (const i of sorted) {
    const w = weight(i, target);
    // Strictly greater: on a tie the earlier (sorted-first) instance keeps it.
    if (w > top) [owner, top] = [i, w];
  }
  return owner;
}

/** The instance that polls `target`; undefined when no instance is live. */
export function owner(target: string, instances: Iterable<string>): string | undefined {
  return best(target, members(instances));
}

/**
 * The shard map: every live instance (sorted by name) with the targets it polls, in the order given (a target
 * listed twice counts once). An instance with no target has an empty list; no instances, an empty map.
 */
export function assign(targets: Iterable<string>, instances: Iterable<string>): Map<string, string[]> {
  const sorted = members(instances);
  const map = new Map<string, string[]>(sorted.map((i) => [i, []]));
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t)) continue;
    seen.add(t);
    const o = best(t, sorted);
    if (o !== undefined) map.get(o)!.push(t);
  }
  return map;
}

/** A target that changed hands between two shard maps. */
export interface Move {
  readonly target: string;
  readonly from: string;
  readonly to: string;
}

/** Each target's owner in a shard map. */
export function owners(map: ReadonlyMap<string, readonly string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [instance, targets] of map) for (const t of targets) out.set(t, instance);
  return out;
}

/**
 * The targets whose owner differs between `before` and `after`, sorted by target. A target in only one of the
 * maps (added to or removed from the config) is not a move: nobody polled it before, or nobody polls it now.
 */
export function movedTargets(
  before: ReadonlyMap<string, readonly string[]>,
  after: ReadonlyMap<string, readonly string[]>,
): Move[] {
  const was = owners(before);
  const out: Move[] = [];
  for (const [target, to] of owners(after)) {
    const from = was.get(target);
    if (from !== undefined && from !== to) out.push({ target, from, to });
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

/** How many targets changed owner between two shard maps (see `movedTargets`). */
export function moves(
  before: ReadonlyMap<string, readonly string[]>,
  after: ReadonlyMap<string, readonly string[]>,
): number {
  return movedTargets(before, after).length;
}

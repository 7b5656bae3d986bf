/**
 * The shard map applied to the collectors (fleet mode, docs/fleet.md "Rendezvous sharding of shared targets"):
 * which of this instance's shared collectors (`shared: true` blocks, one target each, named by the block) it polls
 * now. Each target belongs to the live instance with the highest rendezvous weight (src/cluster/shard.ts) among
 * the live instances whose `instances/<name>` key lists that target, this instance counting for the targets of its
 * own config. Every instance computes the same map from the same read of `instances/`, so in steady state each
 * target is polled by exactly one instance.
 *
 * - Before the first fleet read (this instance's lease held, a read not older than the TTL): no shared target is
 *   polled — the map is not known, and polling everything at every start would poll each target N times. If no
 *   read comes within one lease TTL of `start` (etcd unreachable at start), every shared target is polled until
 *   one does: monitoring more is harmless, monitoring nothing is not.
 * - While etcd cannot be vouched for (`fleet.available()` false, or the last read older than the TTL): the last
 *   shard is kept (the others may take this instance's targets over when its lease expires: a target then polled
 *   twice is harmless).
 * - A target newly configured (reload) that the last map did not know is polled until a read places it.
 * - A change of this instance's set is applied at once (`apply`: the runtime starts the new targets with a first
 *   poll right away and stops the others) and recorded as a `shards_moved` event: the targets polled now and the
 *   number of targets that changed owner fleet-wide since the last map (`moves`).
 */
import { moves, owner } from "../cluster/shard.js";
import type { FleetEvent } from "../groups/events.js";

/** What the shard map needs of the `Fleet` (src/cluster/fleet.ts); a fake in the unit tests. */
export interface ShardFleet {
  readonly name: string;
  readonly ttlMs: number;
  available(now?: number): boolean;
  readonly votes: {
    instancesRead(): ReadonlyMap<string, { readonly targets?: readonly string[] }>;
    /** Age of the last successful read (ms), Infinity before one. */
    readAge(now?: number): number;
  };
  on(event: "change" | "available", fn: () => void): unknown;
  off(event: "change" | "available", fn: () => void): unknown;
}

export interface ShardsOptions {
  readonly fleet: ShardFleet;
  /** This instance's shared targets (the names of its `shared: true` collector blocks), from the current config. */
  readonly targets: () => readonly string[];
  /** This instance's set changed: start and stop the shared collectors (CollectorRuntime.reshard). */
  readonly apply: () => void;
  /** Records a fleet event (the daemon's event path; without ts). */
  readonly record: (e: Omit<FleetEvent, "ts">) => void;
  /** Monotonic ms (fleet.available and readAge take it). */
  readonly now: () => number;
  readonly setTimer?: (fn: () => void, ms: number) => { unref?(): unknown };
  readonly clearTimer?: (t: unknown) => void;
}

type Mode = "waiting" | "all" | "sharded";

export class Shards {
  private mode: Mode = "waiting";
  /** The last map computed from a read: instance → its targets (sorted instances). */
  private map = new Map<string, string[]>();
  /** The targets this instance polls while sharded. */
  private mine = new Set<string>();
  /** Every target the last map placed. */
  private known = new Set<string>();
  /** The inputs of the last map (recomputed only when they change). */
  private signature = "";
  private timer: unknown;
  private readonly onChange = () => this.update();

  constructor(private readonly o: ShardsOptions) {}

  /** Listens to the fleet's reads; polls every shared target if none arrives within one lease TTL. */
  start(): void {
    this.o.fleet.on("change", this.onChange);
    this.o.fleet.on("available", this.onChange);
    const set = this.o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    const t = set(() => this.timedOut(), this.o.fleet.ttlMs);
    t.unref?.();
    this.timer = t;
    this.update();
  }

  close(): void {
    this.o.fleet.off("change", this.onChange);
    this.o.fleet.off("available", this.onChange);
    (this.o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout)))(this.timer);
  }

  /** Whether this instance polls the shared target `target` now. */
  owns(target: string): boolean {
    if (this.mode === "waiting") return false;
    if (this.mode === "all") return true;
    return this.mine.has(target) || !this.known.has(target);
  }

  /** The shared targets this instance polls now, in config order. */
  polled(): string[] {
    return this.o.targets().filter((t) => this.owns(t));
  }

  /** For `standby status`: each live instance's targets as last computed (before a read: this instance's set). */
  status(): Record<string, string[]> {
    if (this.mode !== "sharded") return { [this.o.fleet.name]: this.polled() };
    return Object.fromEntries(this.map);
  }

  /** After a reload (new targets): recomputed from the last read, applied by the runtime's start. */
  reconfigure(): void {
    this.update(false);
  }

  private timedOut(): void {
    if (this.mode !== "waiting") return;
    this.mode = "all";
    const targets = this.polled();
    this.o.apply();
    if (targets.length === 0) return; // nothing shared to poll: nothing to say
    this.o.record({
      kind: "shards_moved",
      targets,
      moved: 0,
      reason: `no fleet read within ${this.o.fleet.ttlMs} ms of start (etcd unreachable?): polling all ${targets.length} shared target(s) until one arrives`,
    });
  }

  /** Recomputes from the last read when it can be trusted; applies and records a change of this instance's set. */
  private update(apply = true): void {
    const now = this.o.now();
    const f = this.o.fleet;
    if (!f.available(now) || f.votes.readAge(now) > f.ttlMs) return; // keep the last shard
    const me = f.name;
    const own = [...new Set(this.o.targets())];
    const lists = new Map<string, readonly string[]>();
    for (const [name, info] of f.votes.instancesRead())
      if (name !== me) lists.set(name, [...new Set(info.targets ?? [])].sort());
    lists.set(me, [...own].sort());
    const names = [...lists.keys()].sort();
    const signature = JSON.stringify(names.map((n) => [n, lists.get(n)]));
    if (signature === this.signature && this.mode === "sharded") return;
    this.signature = signature;

    // Every target any live instance lists, each among the instances that list it.
    const holders = new Map<string, string[]>();
    for (const n of names)
      for (const t of lists.get(n)!) {
        let h = holders.get(t);
        if (!h) holders.set(t, (h = []));
        h.push(n);
      }
    const map = new Map<string, string[]>(names.map((n) => [n, []]));
    for (const t of [...holders.keys()].sort()) map.get(owner(t, holders.get(t)!)!)!.push(t);

    const before = this.polled();
    const moved = this.mode === "sharded" ? moves(this.map, map) : 0;
    const wasMode = this.mode;
    this.map = map;
    this.mine = new Set(map.get(me));
    this.known = new Set(holders.keys());
    this.mode = "sharded";
    const after = this.polled();
    if (wasMode === "sharded" && same(before, after)) return;
    if (apply) this.o.apply();
    const total = holders.size;
    this.o.record({
      kind: "shards_moved",
      targets: after,
      moved,
      reason:
        wasMode === "sharded"
          ? `shard map changed (${names.length} live instance(s)): ${moved} of ${total} target(s) moved; ${me} polls ${after.length}`
          : `first shard map (${names.length} live instance(s)): ${me} polls ${after.length} of ${total} shared target(s)${wasMode === "all" ? " (was polling all)" : ""}`,
    });
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

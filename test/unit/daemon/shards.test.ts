/**
 * The shard map applied to the collectors (src/daemon/shards.ts) against a fake fleet: ownership by rendezvous
 * among the instances that list a target, nothing polled before the first read and everything after one TTL
 * without one, the last shard kept while etcd is unavailable, a `shards_moved` event per change of this
 * instance's set with the fleet-wide moved count.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { assign, owner } from "../../../src/cluster/shard.js";
import { type ShardFleet, Shards } from "../../../src/daemon/shards.js";
import type { FleetEvent } from "../../../src/groups/events.js";

const TTL = 2000;
const TARGETS = Array.from({ length: 60 }, (_, i) => `t${i}`);

class FakeFleet extends EventEmitter implements ShardFleet {
  readonly ttlMs = TTL;
  up = true;
  /** Mono time of the last read; undefined before one. */
  readAt: number | undefined;
  instances = new Map<string, { targets?: readonly string[] }>();
  now = 0;
  constructor(readonly name: string) {
    super();
  }
  available(): boolean {
    return this.up;
  }
  readonly votes = {
    instancesRead: () => this.instances,
    readAge: (now: number = this.now) =>
      this.readAt === undefined ? Number.POSITIVE_INFINITY : now - this.readAt,
  };
  /** A successful read of `instances` (each listing `targets` unless given). */
  read(instances: Record<string, readonly string[] | undefined>): void {
    this.instances = new Map(
      Object.entries(instances).map(([n, t]) => [n, t === undefined ? {} : { targets: t }]),
    );
    this.readAt = this.now;
    this.emit("change");
  }
}

function setup(name = "a", targets: readonly string[] = TARGETS) {
  const fleet = new FakeFleet(name);
  const events: Omit<FleetEvent, "ts">[] = [];
  let applied = 0;
  let fire: (() => void) | undefined;
  let config = [...targets];
  const shards = new Shards({
    fleet,
    targets: () => config,
    apply: () => applied++,
    record: (e) => events.push(e),
    now: () => fleet.now,
    setTimer: (fn) => {
      fire = fn;
      return {};
    },
    clearTimer: () => (fire = undefined),
  });
  shards.start();
  return {
    fleet,
    shards,
    events,
    applied: () => applied,
    timeout: () => fire?.(),
    setConfig: (t: string[]) => (config = t),
  };
}

describe("Shards", () => {
  it("owns exactly its rendezvous share among the live instances; the three instances' sets partition the targets", () => {
    const sets = ["a", "b", "c"].map((name) => {
      const s = setup(name);
      s.fleet.read({ a: TARGETS, b: TARGETS, c: TARGETS });
      return s;
    });
    const map = assign(TARGETS, ["a", "b", "c"]);
    for (const [i, name] of ["a", "b", "c"].entries()) {
      const { shards, events, applied } = sets[i]!;
      expect(shards.polled()).toEqual(map.get(name));
      for (const t of TARGETS) expect(shards.owns(t)).toBe(owner(t, ["a", "b", "c"]) === name);
      expect(applied()).toBe(1);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: "shards_moved", moved: 0, targets: map.get(name) });
      // status: each instance's targets sorted (the same JSON on every instance)
      expect(shards.status()).toEqual(Object.fromEntries([...map].map(([n, l]) => [n, [...l].sort()])));
    }
    const polled = sets.flatMap((s) => s.shards.polled()).sort();
    expect(polled).toEqual([...TARGETS].sort());
  });

  it("a target is assigned only among the instances that list it; one no other lists stays here", () => {
    const { fleet, shards } = setup("a", ["x", "y", "only-a"]);
    // b lists only x; c lists nothing (an older version): c is never an owner.
    fleet.read({ a: ["x", "y", "only-a"], b: ["x"], c: undefined });
    expect(shards.owns("only-a")).toBe(true);
    expect(shards.owns("y")).toBe(true);
    expect(shards.owns("x")).toBe(owner("x", ["a", "b"]) === "a");
    expect(shards.status().c).toEqual([]);
  });

  it("an instance leaving: only its targets move, the event counts them; unchanged reads record nothing", () => {
    const { fleet, shards, events, applied } = setup("a");
    fleet.read({ a: TARGETS, b: TARGETS, c: TARGETS });
    const before = assign(TARGETS, ["a", "b", "c"]);
    fleet.read({ a: TARGETS, b: TARGETS, c: TARGETS });
    expect(events).toHaveLength(1);
    expect(applied()).toBe(1);
    fleet.read({ a: TARGETS, b: TARGETS });
    const after = assign(TARGETS, ["a", "b"]);
    expect(shards.polled()).toEqual(after.get("a"));
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ kind: "shards_moved", moved: before.get("c")!.length });
    for (const t of before.get("a")!) expect(shards.owns(t)).toBe(true);
    expect(applied()).toBe(2);
  });

  it("before the first read polls nothing; a read older than the TTL or while unavailable does not count", () => {
    const { fleet, shards, events } = setup("a");
    expect(shards.polled()).toEqual([]);
    fleet.up = false;
    fleet.read({ a: TARGETS });
    expect(shards.polled()).toEqual([]);
    fleet.up = true;
    fleet.now = TTL + 1; // that read is stale now
    fleet.emit("available");
    expect(shards.polled()).toEqual([]);
    expect(events).toEqual([]);
    fleet.read({ a: TARGETS });
    expect(shards.polled()).toEqual(TARGETS);
  });

  it("no read within one TTL of start: polls every shared target until a read places them", () => {
    const { fleet, shards, events, applied, timeout } = setup("a");
    timeout();
    expect(shards.polled()).toEqual(TARGETS);
    expect(applied()).toBe(1);
    expect(events[0]).toMatchObject({ kind: "shards_moved", moved: 0, targets: TARGETS });
    expect(events[0]!.reason).toMatch(/no fleet read within 2000 ms of start/);
    fleet.read({ a: TARGETS, b: TARGETS });
    expect(shards.polled()).toEqual(assign(TARGETS, ["a", "b"]).get("a"));
    expect(applied()).toBe(2);
    expect(events[1]).toMatchObject({ kind: "shards_moved", moved: 0 });
    expect(events[1]!.reason).toMatch(/was polling all/);
  });

  it("a read before the TTL: the timer does nothing", () => {
    const { fleet, shards, events, timeout } = setup("a");
    fleet.read({ a: TARGETS, b: TARGETS });
    const mine = shards.polled();
    timeout();
    expect(shards.polled()).toEqual(mine);
    expect(events).toHaveLength(1);
  });

  it("while etcd is unavailable the last shard is kept, whatever is read; available again, it is recomputed", () => {
    const { fleet, shards, events } = setup("a");
    fleet.read({ a: TARGETS, b: TARGETS, c: TARGETS });
    const mine = shards.polled();
    fleet.up = false;
    fleet.read({ a: TARGETS }); // e.g. the others' keys seen gone
    expect(shards.polled()).toEqual(mine);
    fleet.now += 10 * TTL;
    fleet.emit("change");
    expect(shards.polled()).toEqual(mine);
    expect(events).toHaveLength(1);
    fleet.up = true;
    fleet.read({ a: TARGETS, b: TARGETS });
    expect(shards.polled()).toEqual(assign(TARGETS, ["a", "b"]).get("a"));
    expect(events).toHaveLength(2);
  });

  it("a reload: a new target is placed from the last read (this instance counting for its own config); while unavailable it is polled", () => {
    const { fleet, shards, setConfig } = setup("a", ["x"]);
    fleet.read({ a: ["x"], b: ["x", "n1", "n2", "n3"] });
    setConfig(["x", "n1", "n2", "n3"]);
    shards.reconfigure();
    for (const t of ["n1", "n2", "n3"]) expect(shards.owns(t)).toBe(owner(t, ["a", "b"]) === "a");
    fleet.up = false;
    setConfig(["x", "n1", "n2", "n3", "new"]);
    shards.reconfigure();
    expect(shards.owns("new")).toBe(true);
  });
});

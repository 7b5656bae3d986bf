/**
 * Rendezvous sharding of shared targets (src/cluster/shard.ts): one owner per target, minimal moves when an
 * instance leaves or joins, the same map in every process.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assign, movedTargets, moves, owner, owners, weight } from "../../../src/cluster/shard.js";

const instanceName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
const instancesArb = fc.uniqueArray(instanceName, { minLength: 1, maxLength: 9 });
const targetsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 20 }), {
  minLength: 0,
  maxLength: 80,
});

const range = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const TARGETS = range(3000, "10.1.");

describe("weight", () => {
  it("is SHA-256 of instance \\0 target, first 8 bytes big-endian: fixed across processes and versions", () => {
    expect(weight("web-01", "192.0.2.1")).toBe(1665290681128402994n);
    expect(weight("web-02", "192.0.2.1")).toBe(13868931904985520940n);
    expect(weight("web-03", "192.0.2.1")).toBe(14907595039713624550n);
    expect(owner("192.0.2.1", ["web-01", "web-02", "web-03"])).toBe("web-03");
  });

  it("separates instance and target ('a'+'bc' is not 'ab'+'c')", () => {
    expect(weight("a", "bc")).not.toBe(weight("ab", "c"));
  });
});

describe("assign", () => {
  it("gives every target exactly one owner, the one owner() names; every instance a list", () => {
    fc.assert(
      fc.property(targetsArb, instancesArb, (targets, instances) => {
        const map = assign(targets, instances);
        expect([...map.keys()]).toEqual([...instances].sort());
        const all = [...map.values()].flat();
        expect(all.length).toBe(targets.length);
        expect(new Set(all)).toEqual(new Set(targets));
        for (const [i, ts] of map) for (const t of ts) expect(owner(t, instances)).toBe(i);
      }),
      { numRuns: 200 },
    );
  });

  it("is deterministic: the order of instances and targets, and duplicates, change nothing", () => {
    fc.assert(
      fc.property(targetsArb, instancesArb, fc.integer(), (targets, instances, seed) => {
        const shuffle = <T>(a: readonly T[]) =>
          [...a]
            .map((x, i) => [x, (i * 2654435761 + seed) % 1000] as const)
            .sort((p, q) => p[1] - q[1])
            .map((p) => p[0]);
        const a = owners(assign(targets, instances));
        const b = owners(assign([...shuffle(targets), ...targets], [...shuffle(instances), ...instances]));
        expect(b).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  it("no instances: no owner, an empty map", () => {
    expect(owner("x", [])).toBeUndefined();
    expect(assign(["x", "y"], [])).toEqual(new Map());
    expect(assign([], ["a", "b"])).toEqual(
      new Map([
        ["a", []],
        ["b", []],
      ]),
    );
  });

  it("spreads 300 targets over 3 instances about evenly", () => {
    const map = assign(range(300, "t"), ["a", "b", "c"]);
    for (const ts of map.values()) {
      expect(ts.length).toBeGreaterThan(70);
      expect(ts.length).toBeLessThan(130);
    }
  });
});

describe("moves", () => {
  it("removing an instance moves only its targets, each to a survivor", () => {
    fc.assert(
      fc.property(
        targetsArb,
        instancesArb.filter((i) => i.length >= 2),
        fc.nat(),
        (targets, instances, k) => {
          const gone = instances[k % instances.length]!;
          const before = assign(targets, instances);
          const after = assign(
            targets,
            instances.filter((i) => i !== gone),
          );
          const moved = movedTargets(before, after);
          expect(moved.map((m) => m.target).sort()).toEqual([...before.get(gone)!].sort());
          for (const m of moved) expect(m.from).toBe(gone);
          expect(moves(before, after)).toBe(before.get(gone)!.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("adding an instance moves targets only to it", () => {
    fc.assert(
      fc.property(targetsArb, instancesArb, instanceName, (targets, instances, added) => {
        fc.pre(!instances.includes(added));
        const before = assign(targets, instances);
        const after = assign(targets, [...instances, added]);
        const moved = movedTargets(before, after);
        for (const m of moved) expect(m.to).toBe(added);
        expect(moved.length).toBe(after.get(added)!.length);
      }),
      { numRuns: 200 },
    );
  });

  it.each([2, 3, 5, 10])("removing one of %i instances moves about 1/N of 3000 targets", (n) => {
    const instances = range(n, "node-");
    const before = assign(TARGETS, instances);
    const after = assign(TARGETS, instances.slice(1));
    const share = moves(before, after) / TARGETS.length;
    expect(share).toBeGreaterThan((1 / n) * 0.85);
    expect(share).toBeLessThan((1 / n) * 1.15);
  });

  it.each([1, 2, 4, 9])("adding one to %i instances moves about 1/(N+1) of 3000 targets", (n) => {
    const instances = range(n, "node-");
    const before = assign(TARGETS, instances);
    const after = assign(TARGETS, [...instances, "newcomer"]);
    const share = moves(before, after) / TARGETS.length;
    expect(share).toBeGreaterThan((1 / (n + 1)) * 0.85);
    expect(share).toBeLessThan((1 / (n + 1)) * 1.15);
  });

  it("targets added or removed from the config are not moves", () => {
    const before = assign(["a", "b"], ["x", "y"]);
    const after = assign(["b", "c"], ["x", "y"]);
    expect(moves(before, after)).toBe(0);
  });
});

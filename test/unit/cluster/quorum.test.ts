/**
 * Observer votes → a shared member's fleet verdict (src/cluster/quorum.ts): unhealthy only when the quorum of the
 * live observers says so; fail closed (unknown, never a failover) when the quorum cannot be met.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fleetHealth, type ObserverView, quorumNeeded } from "../../../src/cluster/quorum.js";
import type { Quorum } from "../../../src/groups/types.js";
import type { Health } from "../../../src/states.js";

const views = (...hs: Health[]): ObserverView[] => hs.map((health, i) => ({ observer: `i${i + 1}`, health }));

describe("quorumNeeded", () => {
  it.each([
    ["majority", 1, 1],
    ["majority", 2, 2],
    ["majority", 3, 2],
    ["majority", 4, 3],
    ["majority", 5, 3],
    ["any", 3, 1],
    ["all", 3, 3],
    [2, 3, 2],
    [3, 3, 3],
    [4, 3, undefined],
    ["majority", 0, undefined],
    ["any", 0, undefined],
  ] as [Quorum, number, number | undefined][])("%s of %i live needs %s", (q, live, needed) => {
    expect(quorumNeeded(q, live)).toBe(needed);
  });
});

describe("fleetHealth", () => {
  it("3 of 3 see it unhealthy: unhealthy, the votes in the reason", () => {
    const v = fleetHealth("r1", views("unhealthy", "unhealthy", "unhealthy"), "majority", 3);
    expect(v.health).toBe("unhealthy");
    expect(v.reason).toBe("3 of 3 observers: r1 unhealthy");
    expect(v.unhealthyBy).toEqual(["i1", "i2", "i3"]);
    expect(v.tally).toEqual({ healthy: 0, degraded: 0, unhealthy: 3, unknown: 0 });
  });

  it("an instance that lost its own path (1 of 3) is outvoted: kept (degraded: not failed back to)", () => {
    const v = fleetHealth("r1", views("unhealthy", "healthy", "healthy"), "majority", 3);
    expect(v.health).toBe("degraded");
    expect(v.reason).toBe("1 of 3 observers see r1 unhealthy (majority needs 2): kept");
    expect(v.unhealthyBy).toEqual(["i1"]);
  });

  it("2 of 3 reach the majority", () => {
    const v = fleetHealth("r1", views("unhealthy", "healthy", "unhealthy"), "majority", 3);
    expect(v).toMatchObject({ health: "unhealthy", reason: "2 of 3 observers: r1 unhealthy", needed: 2 });
  });

  it("any: one observer is enough", () => {
    const v = fleetHealth("r1", views("unhealthy", "healthy", "healthy"), "any", 3);
    expect(v).toMatchObject({ health: "unhealthy", reason: "1 of 3 observers: r1 unhealthy" });
  });

  it("all: every live observer must agree", () => {
    expect(fleetHealth("r1", views("unhealthy", "unhealthy", "healthy"), "all", 3)).toMatchObject({
      health: "degraded",
      reason: "2 of 3 observers see r1 unhealthy (all needs 3): kept",
    });
    expect(fleetHealth("r1", views("unhealthy", "unhealthy", "unhealthy"), "all", 3).health).toBe(
      "unhealthy",
    );
  });

  it("a number: N of the live observers", () => {
    expect(fleetHealth("r1", views("unhealthy", "unhealthy", "healthy", "healthy"), 2, 4)).toMatchObject({
      health: "unhealthy",
      reason: "2 of 4 observers: r1 unhealthy",
    });
    expect(fleetHealth("r1", views("unhealthy", "healthy", "healthy", "healthy"), 2, 4).reason).toBe(
      "1 of 4 observers see r1 unhealthy (quorum 2 needs 2): kept",
    );
  });

  it("N above the live count: no quorum, unknown, never a failover (not lowered to the live count)", () => {
    const v = fleetHealth("r1", views("unhealthy", "unhealthy", "unhealthy"), 4, 3);
    expect(v).toMatchObject({ health: "unknown", needed: undefined });
    expect(v.reason).toBe("quorum 4 but only 3 observers live: r1 unknown, no failover");
  });

  it("no live observers: unknown", () => {
    expect(fleetHealth("r1", [], "majority", 0)).toMatchObject({
      health: "unknown",
      reason: "no live observers: r1 unknown, no failover",
    });
  });

  it("unknown views and silent live observers count as not unhealthy: 1 unhealthy of 3 with 2 unknown is kept, unknown", () => {
    const v = fleetHealth("r1", [{ observer: "i1", health: "unhealthy" }], "majority", 3);
    expect(v.health).toBe("unknown");
    expect(v.reason).toBe("1 of 3 observers see r1 unhealthy (majority needs 2): kept");
    expect(v.tally).toEqual({ healthy: 0, degraded: 0, unhealthy: 1, unknown: 2 });
  });

  it("too few views to vouch for a member: unknown (never a failover target)", () => {
    const v = fleetHealth("r1", views("healthy", "unknown", "unknown"), "majority", 3);
    expect(v.health).toBe("unknown");
    expect(v.reason).toBe("only 1 of 3 observers have a view of r1 (majority needs 2): r1 unknown");
  });

  it("degraded: some doubt, too little for a failover", () => {
    expect(fleetHealth("r1", views("degraded", "healthy", "healthy"), "majority", 3)).toMatchObject({
      health: "degraded",
      reason: "1 of 3 observers see r1 degraded: r1 degraded",
    });
    expect(fleetHealth("r1", views("degraded", "unhealthy", "healthy"), "majority", 3)).toMatchObject({
      health: "degraded",
      reason: "1 of 3 observers see r1 unhealthy (majority needs 2): kept",
    });
    // 2 of 3 see it dead, `all` needs 3: kept, but never chosen as healthy.
    expect(fleetHealth("r1", views("unhealthy", "unhealthy", "healthy"), "all", 3).health).toBe("degraded");
  });

  it("healthy needs enough views, all healthy; unknown views do not count against it", () => {
    expect(fleetHealth("r1", views("healthy", "healthy", "unknown"), "majority", 3)).toMatchObject({
      health: "healthy",
      reason: "2 of 3 observers: r1 healthy",
    });
    expect(fleetHealth("r1", views("healthy", "healthy", "unknown"), "all", 3).health).toBe("unknown");
  });

  it("healthy: all agree", () => {
    expect(fleetHealth("r1", views("healthy", "healthy", "healthy"), "majority", 3)).toMatchObject({
      health: "healthy",
      reason: "3 of 3 observers: r1 healthy",
    });
    expect(fleetHealth("r1", views("healthy"), "majority", 1).reason).toBe("1 of 1 observer: r1 healthy");
  });

  it("a view from the same observer counts once (the last); more views than live counts them all", () => {
    const dup: ObserverView[] = [
      { observer: "a", health: "unhealthy" },
      { observer: "a", health: "healthy" },
      { observer: "b", health: "unhealthy" },
    ];
    expect(fleetHealth("r1", dup, "majority", 2).health).toBe("degraded");
    expect(fleetHealth("r1", views("unhealthy", "unhealthy", "unhealthy"), "majority", 2).observers).toBe(3);
  });

  it("property: unhealthy exactly when at least the quorum of live observers say unhealthy", () => {
    const health = fc.constantFrom<Health>("healthy", "degraded", "unhealthy", "unknown");
    const quorum = fc.oneof(
      fc.constantFrom<Quorum>("majority", "any", "all"),
      fc.integer({ min: 1, max: 8 }),
    );
    fc.assert(
      fc.property(fc.array(health, { maxLength: 7 }), fc.nat(3), quorum, (hs, silent, q) => {
        const live = hs.length + silent;
        const v = fleetHealth("m", views(...hs), q, live);
        const needed = quorumNeeded(q, live);
        const u = hs.filter((h) => h === "unhealthy").length;
        expect(v.health === "unhealthy").toBe(needed !== undefined && u >= needed);
        if (needed === undefined) expect(v.health).toBe("unknown");
        if (v.health === "healthy") expect(hs.every((h) => h === "healthy" || h === "unknown")).toBe(true);
        // Adding a silent observer never turns a verdict into unhealthy.
        if (v.health !== "unhealthy")
          expect(fleetHealth("m", views(...hs), q, live + 1).health).not.toBe("unhealthy");
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * Shared groups in the pipeline (fleet mode): decided from the hooks' verdicts and only while this instance
 * decides them; a follower keeps the verdicts for status, runs no controller, ticks nothing and refuses commands.
 * Pure: the fleet is a fake here (tests against a real etcd: test/integration/fleet-*.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { HealthSnapshot, MemberStatus } from "../../src/groups/state.js";
import type { GroupSpec } from "../../src/groups/types.js";
import { Pipeline, type SharedHooks } from "../../src/pipeline.js";
import { group, rule, sample } from "../helpers.js";

class FakeFleet implements SharedHooks {
  leads = true;
  /** What the fleet says of each member (by default: this instance's own view). */
  verdict: Record<string, MemberStatus> = {};
  published: Record<string, string>[] = [];
  health(spec: GroupSpec, local: HealthSnapshot) {
    this.published.push(Object.fromEntries(spec.members.map((m) => [m.name, local.members[m.name]!.health])));
    const members = { ...local.members, ...this.verdict };
    return { snapshot: { members, verifyFiring: [] }, decides: this.leads };
  }
  decides(): boolean {
    return this.leads;
  }
  notLeader(g: string): string {
    return `group "${g}" is shared: its leader decides it`;
  }
}

function setup(hold = 30_000) {
  const g: GroupSpec = {
    ...group({ name: "vip", members: ["r1", "r2"], hold }),
    scope: "shared",
    quorum: "majority",
  };
  const p = new Pipeline(
    [
      rule({ name: "r1-down", metric: "m1", problem: "last == 0" }),
      rule({ name: "r2-down", metric: "m2", problem: "last == 0" }),
    ],
    [g],
    0,
  );
  const fleet = new FakeFleet();
  p.shared = fleet;
  p.initialize(0);
  p.ingest(sample(0, 1, {}, "m1"));
  p.ingest(sample(0, 1, {}, "m2"));
  return { p, fleet };
}

const down = (reason: string): MemberStatus => ({ health: "unhealthy", culprits: [], reason });

describe("shared groups in the pipeline", () => {
  it("this instance's own view is published, the controller decides from the fleet's verdict", () => {
    const { p, fleet } = setup();
    expect(fleet.published.at(-1)).toEqual({ r1: "healthy", r2: "healthy" });
    // This instance sees r1 down, the fleet does not: kept.
    fleet.verdict = { r1: { health: "degraded", culprits: [], reason: "1 of 3 observers see r1 unhealthy" } };
    const kept = p.ingest(sample(1000, 0, {}, "m1"));
    expect(fleet.published.at(-1)).toEqual({ r1: "unhealthy", r2: "healthy" });
    expect(kept.switches).toEqual([]);
    expect(p.groupState("vip")!.active).toBe("r1");
    // The fleet's verdict turns: one failover, its reason the verdict's.
    fleet.verdict = { r1: down("3 of 3 observers: r1 unhealthy") };
    const out = p.refreshShared(2000);
    expect(out.switches.map((s) => `${s.from}>${s.to}`)).toEqual(["r1>r2"]);
    expect(out.switches[0]!.reason).toMatch(/^r1 unhealthy \(3 of 3 observers: r1 unhealthy\)/);
  });

  it("a follower runs no controller: the verdicts for status only, no switch, no tick, commands refused", () => {
    const { p, fleet } = setup(1000);
    fleet.leads = false;
    fleet.verdict = { r1: down("3 of 3 observers: r1 unhealthy") };
    const out = p.ingest(sample(1000, 0, {}, "m1"));
    expect(out.switches).toEqual([]);
    expect(out.events.filter((e) => e.kind !== "rule")).toEqual([]);
    expect(p.groupState("vip")!.health.r1!.health).toBe("unhealthy");
    expect(p.groupState("vip")!.active).toBe("r1");
    expect(p.tick(100_000).switches).toEqual([]);
    expect(p.command("vip", { command: "failover" }, 2000).error).toMatch(/its leader decides it/);
    // Leadership comes: the next refresh decides.
    fleet.leads = true;
    expect(p.refreshShared(3000).switches.map((s) => s.to)).toEqual(["r2"]);
  });

  it("a follower that becomes leader keeps the failback hold from when the member became healthy", () => {
    const { p, fleet } = setup(30_000);
    fleet.leads = false;
    p.adopt("vip", { ...p.groupState("vip")!, active: "r2" }); // the leader had failed over
    fleet.verdict = { r1: down("3 of 3 observers: r1 unhealthy") };
    p.refreshShared(1000);
    fleet.verdict = {};
    p.refreshShared(2000); // r1 healthy again from 2 s
    expect(p.groupState("vip")!.healthySince.r1).toBe(2000);
    fleet.leads = true;
    expect(p.refreshShared(3000).switches).toEqual([]); // not at once: the hold runs from 2 s
    expect(p.nextDeadline()).toBeLessThanOrEqual(32_000);
    expect(p.tick(31_999).switches).toEqual([]);
    expect(p.tick(32_000).switches.map((s) => `${s.kind}:${s.to}`)).toEqual(["failback:r1"]);
  });

  it("adopt() replaces the durable state and keeps this instance's health view", () => {
    const { p } = setup();
    const before = p.groupState("vip")!;
    p.adopt("vip", { ...before, active: "r2", since: 5, health: {} });
    const after = p.groupState("vip")!;
    expect(after.active).toBe("r2");
    expect(after.since).toBe(5);
    expect(after.health).toEqual(before.health);
  });

  it("without hooks a shared group is decided as a local one (simulate, dry run)", () => {
    const { p } = setup();
    p.shared = undefined;
    expect(p.ingest(sample(1000, 0, {}, "m1")).switches.map((s) => s.to)).toEqual(["r2"]);
  });
});

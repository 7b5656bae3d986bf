/**
 * Fleet mode, acceptance (issue 12): three `standby run` daemons observe r1, each through its own link (veth
 * pairs between the fleet namespace and r1's, test/peers/fleet-net.ts), and share the group `vip` (quorum
 * majority) through a real 3-member etcd.
 * - one daemon loses its link: it sees r1 down, is outvoted (1 of 3), nothing switches;
 * - r1 really fails: one failover, made by the leader alone, with the observers' votes in its reason; only the
 *   leader runs the actions.
 * Needs root, ip, etcd and a built dist/; under CI=true a missing dependency fails the run instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { FleetTopology } from "../peers/fleet-net.js";
import { FleetDaemon, fleetConfig, logAction, sleep, waitFor } from "./fleet-daemons.js";

const missing = FleetTopology.missing();
failInCiWhenMissing("fleet observers", missing);

type Votes = {
  member: string;
  verdict: string;
  reason: string;
  views: { observer: string; health: string }[];
}[];

describe.skipIf(missing !== undefined)("fleet mode: a majority of observers", () => {
  let topo: FleetTopology;
  let root: string;
  const d: FleetDaemon[] = [];

  const config = (i: number) =>
    fleetConfig(topo, i, {
      prefix: "/sb-observers",
      groups: (x) => `  - name: vip
    scope: shared
    quorum: majority
    members:
      - {name: r1, priority: 100, health: [r1-down], activate: [${logAction(x, "r1-up")}]}
      - {name: r2, priority: 50, health: [], activate: [${logAction(x, "r2-up")}]}
    failback: {mode: manual}`,
    });

  const leaderVotes = async (): Promise<Votes> => {
    for (const x of d) {
      const f = await x.fleetOf("vip");
      if (f.role === "leader") return f.votes as Votes;
    }
    throw new Error("no leader");
  };
  const r1Reason = async () => (await leaderVotes()).find((v) => v.member === "r1")?.reason;

  beforeAll(async () => {
    assertBuilt();
    topo = await FleetTopology.create({ observers: 3 });
    root = mkdtempSync(join(tmpdir(), "sb-fleet-obs-"));
    for (const i of [1, 2, 3]) d.push(new FleetDaemon(topo, `d${i}`, root, config(i)));
    await Promise.all(d.map((x) => x.start()));
    await waitFor(
      "3 healthy views of r1 at the leader",
      async () => (await r1Reason()) === "3 of 3 observers: r1 healthy",
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(d.map((x) => x.stop()));
    await topo?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("one observer loses its own link: it is outvoted (1 of 3), nothing switches", async () => {
    await topo.linkDown(2);
    await waitFor(
      "d2's vote against r1 counted and outvoted",
      async () => (await r1Reason()) === "1 of 3 observers see r1 unhealthy (majority needs 2): kept",
    );
    const own = await d[1]!.status();
    expect(own.rules.find((r: { rule: string }) => r.rule === "r1-down").state).toBe("firing");
    const v = (await leaderVotes()).find((x) => x.member === "r1")!;
    expect(v.verdict).toBe("degraded");
    expect(v.views.find((x) => x.observer === "d2")?.health).toBe("unhealthy");
    await sleep(2000);
    for (const x of d) {
      expect(x.eventsOf("failover")).toEqual([]);
      expect(x.actions()).toEqual([]);
      expect((await x.status()).groups[0].active).toBe("r1");
    }
    await topo.linkUp(2);
    await waitFor("3 healthy views again", async () => (await r1Reason()) === "3 of 3 observers: r1 healthy");
  }, 30_000);

  it("r1 really fails: one failover, by the leader alone, with the votes in the reason", async () => {
    await topo.r1.stop();
    const fo = await waitFor("the failover", () => d.flatMap((x) => x.eventsOf("failover"))[0], 10_000);
    await sleep(1500);
    const all = d.flatMap((x) => x.eventsOf("failover"));
    expect(all).toHaveLength(1);
    const e = fo as { reason: string; leader?: string; fence?: string; from: string; to: string };
    expect([e.from, e.to]).toEqual(["r1", "r2"]);
    expect(e.reason).toMatch(/^r1 unhealthy \([23] of 3 observers: r1 unhealthy\); r2 is the healthy member/);
    const leader = d.find((x) => x.name === e.leader)!;
    expect((await leader.fleetOf("vip")).role).toBe("leader");
    expect(leader.actions()).toEqual([`r2-up to=r2 fence=${e.fence} by=${leader.name}`]);
    for (const x of d) if (x !== leader) expect(x.actions()).toEqual([]);
    for (const x of d)
      await waitFor(`${x.name} on r2`, async () => (await x.status()).groups[0].active === "r2");
  }, 30_000);
});

/**
 * Fleet mode, acceptance (issue 12): two `standby run` daemons share the group `vip` through a real 3-member etcd,
 * all inside network namespaces (test/peers/fleet-net.ts): each daemon probes r1 through its own link.
 * - the leader SIGSTOPped: the other takes over within the lease TTL + one evaluation; the old leader, resumed,
 *   runs nothing and is a follower;
 * - etcd quorum lost (2 of 3 members killed) while r1 fails: no shared switch, events say why, a local group on
 *   the same daemons fails over as ever; quorum back: the
 *   failover is made, once, by the leader, with the observers' votes in its reason and its fencing token in the
 *   actions' environment;
 * - the leader SIGSTOPped in the middle of that switch: the next leader finishes the intent it left behind with
 *   its own token; the old one, resumed, is refused by etcd before its next action (switch_fenced) and runs it not.
 * Needs root, ip, etcd and a built dist/; under CI=true a missing dependency fails the run instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { FleetTopology } from "../peers/fleet-net.js";
import { FleetDaemon, fleetConfig, logAction, sleep, TTL_MS, waitFor } from "./fleet-daemons.js";

const missing = FleetTopology.missing();
failInCiWhenMissing("fleet takeover", missing);

const vipFailovers = (x: FleetDaemon) => x.groupEvents("failover");

describe.skipIf(missing !== undefined)("fleet mode: two daemons share a group", () => {
  let topo: FleetTopology;
  let root: string;
  const d: FleetDaemon[] = [];

  const config = (i: number) =>
    fleetConfig(topo, i, {
      prefix: "/sb-takeover",
      groups: (x) => `  - name: vip
    scope: shared
    members:
      - {name: r1, priority: 100, health: [r1-down], activate: [${logAction(x, "r1-up")}]}
      - {name: r2, priority: 50, health: [], activate: [${logAction(x, "r2-start", 3)}, ${logAction(x, "r2-second")}]}
    failback: {mode: manual}
  - name: local-svc
    members:
      - {name: a, priority: 100, health: [r1-down], activate: []}
      - {name: b, priority: 50, health: [], activate: []}
    failback: {mode: manual}`,
    });

  beforeAll(async () => {
    assertBuilt();
    topo = await FleetTopology.create({ observers: 2 });
    root = mkdtempSync(join(tmpdir(), "sb-fleet-"));
    for (const i of [1, 2]) d.push(new FleetDaemon(topo, `d${i}`, root, config(i)));
    await d[0]!.start();
    await waitFor("d1 to lead", async () => (await d[0]!.fleetOf("vip")).role === "leader");
    await d[1]!.start();
    await waitFor("d2 to follow d1", async () => {
      const f = await d[1]!.fleetOf("vip");
      return f.role === "follower" && f.leader === "d1";
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(d.map((x) => x.stop()));
    await topo?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("status shows the leader, its fencing token and both observers' votes", async () => {
    const s = await d[1]!.status();
    const g = s.groups.find((x: { name: string }) => x.name === "vip");
    expect(g.scope).toBe("shared");
    expect(g.active).toBe("r1");
    expect(g.fleet.fence).toMatch(/^[1-9]\d*$/);
    await waitFor("both views of r1", async () => {
      const f = (await d[1]!.fleetOf("vip")) as { votes: { member: string; reason: string }[] };
      return f.votes.find((v) => v.member === "r1")?.reason === "2 of 2 observers: r1 healthy";
    });
    expect(s.fleet.instances.map((i: { name: string }) => i.name).sort()).toEqual(["d1", "d2"]);
    const text = await d[1]!.statusText();
    expect(text).toMatch(/^group vip \(shared\): active r1 for /m);
    expect(text).toMatch(
      /^ {2}fleet: leader d1 \(fencing token \d+\); this instance: follower; quorum majority$/m,
    );
    expect(text).toMatch(
      /^ {2}votes r1: healthy — 2 of 2 observers: r1 healthy \[d1 healthy, d2 healthy\]$/m,
    );
    expect(text).toMatch(/^fleet: this instance "d2" \(\/sb-takeover\); lease held \(ttl 2s\)$/m);
    expect(text).toMatch(/^fleet: 2 live instance\(s\): d1, d2$/m);
  });

  it("the leader SIGSTOPped: the other takes over within TTL + one evaluation; resumed, the old one follows", async () => {
    const fenceBefore = (await d[0]!.fleetOf("vip")).fence!;
    const stoppedAt = Date.now();
    d[0]!.signal("SIGSTOP");
    const elected = await waitFor("d2 to be elected", () => d[1]!.eventsOf("leader_elected")[0], 10_000, 50);
    const took = elected.ts - stoppedAt;
    console.log(`takeover: leader_elected on d2 ${took} ms after SIGSTOP of d1 (TTL ${TTL_MS} ms)`);
    expect(took).toBeLessThan(TTL_MS + 1500);
    expect(BigInt((elected as { fence: string }).fence)).toBeGreaterThan(BigInt(fenceBefore));
    await sleep(500);
    d[0]!.signal("SIGCONT");
    await waitFor("d1 to follow d2", async () => {
      const f = await d[0]!.fleetOf("vip");
      return f.role === "follower" && f.leader === "d2";
    });
    expect(d[0]!.eventsOf("leader_lost").length).toBeGreaterThan(0);
    expect([...d[0]!.actions(), ...d[1]!.actions()]).toEqual([]);
  }, 30_000);

  it("a command given to a follower is forwarded to the leader, which runs it and answers", async () => {
    // d1 follows d2 now.
    const t0 = Date.now();
    const pin = await d[0]!.cli("pin", "vip", "r1", "--reason", "maintenance window");
    console.log(`forwarded pin: the CLI returned after ${Date.now() - t0} ms (node start included)`);
    expect(pin.code, pin.stderr).toBe(0);
    expect(pin.stdout).toMatch(/pinned vip\/r1 .*via d1/);
    const onLeader = d[1]!.groupEvents("pinned")[0] as { who?: string; operator_reason?: string } | undefined;
    expect(onLeader?.who).toMatch(/^uid \d+.* via d1$/);
    expect(onLeader?.operator_reason).toBe("maintenance window");
    expect(d[0]!.groupEvents("pinned")).toEqual([]); // the follower ran nothing itself
    await waitFor(
      "the follower to adopt the pin",
      async () => (await d[0]!.status()).groups[0].pin?.member === "r1",
    );
    const bad = await d[0]!.cli("pin", "vip", "nobody");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/group "vip" has no member "nobody"/);
    const unpin = await d[0]!.cli("unpin", "vip");
    expect(unpin.code, unpin.stderr).toBe(0);
    await waitFor("the pin gone on both", async () => {
      const [a, b] = await Promise.all(d.map((x) => x.status()));
      return a.groups[0].pin === undefined && b.groups[0].pin === undefined;
    });
  }, 30_000);

  it("etcd quorum lost: r1 fails, no shared switch, events say why; quorum back: one failover with the votes", async () => {
    await topo.etcd.kill(1);
    await topo.etcd.kill(2);
    for (const x of d)
      await waitFor(`${x.name}: fleet_unavailable`, () => x.eventsOf("fleet_unavailable")[0], 10_000);
    const why = d.map((x) => x.eventsOf("fleet_unavailable")[0]!.reason);
    for (const r of why) expect(r).toMatch(/shared group\(s\) vip: no switch: .*local groups keep working/);
    await topo.r1.stop();
    // Both observers see r1 down (their own probes), the local API answers, nothing switches.
    await waitFor("r1 unhealthy in d1's own view", async () => {
      const s = await d[0]!.status();
      return s.rules.some(
        (r: { rule: string; state: string }) => r.rule === "r1-down" && r.state === "firing",
      );
    });
    await sleep(3000);
    for (const x of d) {
      expect(vipFailovers(x)).toEqual([]);
      expect(x.actions()).toEqual([]);
      expect((await x.status()).groups[0].active).toBe("r1");
      // A local group needs no etcd: it failed over on each host.
      expect(x.eventsOf("failover").filter((e) => "group" in e && e.group === "local-svc")).toHaveLength(1);
    }
    await topo.etcd.restart(1);
    await topo.etcd.restart(2);
    for (const x of d)
      await waitFor(`${x.name}: fleet_available`, () => x.eventsOf("fleet_available")[0], 15_000);
    // The leader fails over; the test stops it in the middle of its switch (its first action sleeps 3 s).
    const leader = await waitFor(
      "the failover's first action",
      () => d.find((x) => x.actions().some((l) => l.startsWith("r2-start"))),
      15_000,
      20,
    );
    leader.signal("SIGSTOP");
    const other = d.find((x) => x !== leader)!;
    const failovers = d.flatMap(vipFailovers);
    expect(failovers).toHaveLength(1);
    const fo = failovers[0] as { reason: string; leader?: string; fence?: string; to: string };
    expect(fo.to).toBe("r2");
    expect(fo.reason).toMatch(/r1 unhealthy \(2 of 2 observers: r1 unhealthy\)/);
    expect(fo.leader).toBe(leader.name);
    expect(leader.actions()[0]).toBe(`r2-start to=r2 fence=${fo.fence} by=${leader.name}`);

    // The other takes over and finishes the switch left behind, under its own token.
    const resumed = await waitFor(
      "the intent finished by the next leader",
      () => other.eventsOf("switch_resumed")[0],
      15_000,
    );
    const fence = (resumed as { fence?: string }).fence!;
    expect(BigInt(fence)).toBeGreaterThan(BigInt(fo.fence!));
    await waitFor(
      "the next leader's second action",
      () => other.actions().some((l) => l.startsWith("r2-second")),
      10_000,
    );
    expect(other.actions()).toEqual([
      `r2-start to=r2 fence=${fence} by=${other.name}`,
      `r2-second to=r2 fence=${fence} by=${other.name}`,
    ]);

    // The old leader resumes: etcd refuses its token before its second action.
    leader.signal("SIGCONT");
    const fenced = await waitFor(
      "switch_fenced on the old leader",
      () => leader.eventsOf("switch_fenced")[0],
      10_000,
    );
    expect(fenced.reason).toMatch(/fencing token \d+ refused by etcd/);
    await sleep(500);
    expect(leader.actions()).toEqual([`r2-start to=r2 fence=${fo.fence} by=${leader.name}`]);
    await waitFor("the old leader to follow", async () => (await leader.fleetOf("vip")).role === "follower");
    for (const x of d) expect((await x.status()).groups[0].active).toBe("r2");
    expect(d.flatMap(vipFailovers)).toHaveLength(1);
  }, 90_000);
});

/**
 * Fleet mode's observer votes against a real 3-member etcd on loopback (test/peers/etcd.ts), lease TTL 2 s, three
 * instances (three clients, as three daemons would be) publishing their views of member r1 of group g:
 * - a second instance with a taken name is refused (and writes no vote);
 * - all three see r1 unhealthy: "3 of 3 observers: r1 unhealthy" on every instance;
 * - one sees it unhealthy (its own path lost): outvoted, degraded, no failover;
 * - unchanged views are not re-written; a vote deleted by hand is written again;
 * - an instance closed: its vote and instance key go, the live count drops to 2; its keepalives stopped: the same
 *   within the TTL; a lease revoked (as etcd expiring it): gone, then re-registered and re-voted under a new lease;
 * - etcd quorum lost (2 of 3 members SIGKILLed): every verdict unknown within the TTL (fail closed).
 * Needs etcd; under CI=true a missing etcd fails the run instead of skipping.
 */
import type { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterSpec, createClient } from "../../src/cluster/client.js";
import { type InstanceLease, instanceLease } from "../../src/cluster/lease.js";
import { type MemberView, Votes } from "../../src/cluster/votes.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { until } from "../peers/common.js";
import { Etcd } from "../peers/etcd.js";

const missing = Etcd.missing();
failInCiWhenMissing("cluster votes", missing);

const TTL = 2000;

interface Instance {
  name: string;
  client: Etcd3;
  lease: InstanceLease;
  votes: Votes;
  closed: boolean;
}

const r1 = (health: MemberView["health"], reason?: string): Record<string, MemberView> => ({
  r1: { health, ...(reason ? { reason } : {}) },
});

describe.skipIf(missing !== undefined)("cluster votes", () => {
  const etcd = new Etcd();
  const all: Instance[] = [];
  const spec = (name: string, prefix: string): ClusterSpec => ({
    etcd: etcd.endpoints,
    lease_ttl: TTL,
    prefix,
    name,
  });

  const instance = (name: string, prefix: string): Instance => {
    const client = createClient(spec(name, prefix));
    const lease = instanceLease(client, spec(name, prefix));
    const votes = new Votes(client, lease, { prefix, name, groups: ["g"], version: "test" });
    votes.on("error", () => {});
    lease.start();
    votes.start();
    const i = { name, client, lease, votes, closed: false };
    all.push(i);
    return i;
  };
  const fleet = async (prefix: string): Promise<Instance[]> => {
    const three = ["a", "b", "c"].map((n) => instance(n, prefix));
    await Promise.all(three.map((i) => i.lease.whenHeld(5000)));
    await until(() => three.every((i) => i.votes.live("g").length === 3), 5000, "three live instances");
    return three;
  };
  const closeInstance = async (i: Instance) => {
    if (i.closed) return;
    i.closed = true;
    await i.votes.close();
    await i.lease.close();
    i.client.close();
  };
  const verdicts = (xs: Instance[]) => xs.map((i) => i.votes.verdict("g", "r1", "majority"));

  beforeAll(async () => {
    await etcd.start();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(all.map((i) => closeInstance(i).catch(() => {})));
    await etcd.destroy();
  }, 20_000);

  it("all three see r1 unhealthy: a quorum; one sees it unhealthy: outvoted; unchanged views are not re-written", async () => {
    const xs = await fleet("/v1");
    const [a, b, c] = xs as [Instance, Instance, Instance];
    // a second instance named "a" is refused and stays out of the fleet
    const dup = instance("a", "/v1");
    const refused = new Promise<string>((r) => dup.votes.once("refused", r));
    expect(await refused).toMatch(/instance name "a" is taken by another instance/);
    await dup.votes.publish("g", r1("healthy"));
    expect(await a.client.get("/v1/groups/g/votes/a").string()).toBeNull(); // not over a's vote
    await closeInstance(dup);
    expect(JSON.parse((await a.client.get("/v1/instances/a").string()) ?? "{}").host).toBeDefined();
    await Promise.all(xs.map((i) => i.votes.publish("g", r1("unhealthy", "r1-down"))));
    await until(
      () => verdicts(xs).every((v) => v.health === "unhealthy"),
      3000,
      "every instance to see the quorum",
    );
    for (const v of verdicts(xs)) {
      expect(v.reason).toBe("3 of 3 observers: r1 unhealthy");
      expect(v.unhealthyBy).toEqual(["a", "b", "c"]);
      expect(v.needed).toBe(2);
    }
    const stored = JSON.parse((await a.client.get("/v1/groups/g/votes/a").string()) ?? "{}");
    expect(stored.r1).toMatchObject({ health: "unhealthy", reason: "r1-down" });
    expect(typeof stored.r1.ts).toBe("number");
    const inst = JSON.parse((await a.client.get("/v1/instances/a").string()) ?? "{}");
    expect(inst).toMatchObject({ name: "a", version: "test", groups: ["g"] });

    // b and c see r1 healthy again; a has lost its own path: outvoted
    await Promise.all([b.votes.publish("g", r1("healthy")), c.votes.publish("g", r1("healthy"))]);
    await until(() => verdicts(xs).every((v) => v.health === "degraded"), 3000, "a to be outvoted");
    for (const v of verdicts(xs)) {
      expect(v.reason).toBe("1 of 3 observers see r1 unhealthy (majority needs 2): kept");
      expect(v.unhealthyBy).toEqual(["a"]);
    }

    // written only when changed: the same view again leaves the key's mod_revision alone
    const modRev = async () => (await a.client.get("/v1/groups/g/votes/a").exec()).kvs[0]!.mod_revision;
    const before = await modRev();
    await a.votes.publish("g", r1("unhealthy", "r1-down"));
    await new Promise((r) => setTimeout(r, 1200)); // a recheck or two
    expect(await modRev()).toBe(before);
    await a.votes.publish("g", r1("unhealthy", "still down, other rule"));
    expect(BigInt(await modRev())).toBeGreaterThan(BigInt(before));

    // a's vote deleted by hand: written again
    await b.client.delete().key("/v1/groups/g/votes/a").exec();
    await until(() => b.votes.views("g", "r1").some((v) => v.observer === "a"), 3000, "a's vote back");

    // a revoked lease (as etcd expiring it): a's keys go; a new lease is granted and a re-registers and re-votes
    const oldLease = a.lease.id!;
    await a.client.leaseClient.leaseRevoke({ ID: oldLease });
    await until(
      () => a.lease.id !== undefined && a.lease.id !== oldLease && a.lease.held(),
      8000,
      "a new lease",
    );
    await until(
      () => b.votes.views("g", "r1").some((v) => v.observer === "a") && b.votes.live("g").length === 3,
      5000,
      "a's vote back under its new lease",
    );
    const kv = (await a.client.get("/v1/groups/g/votes/a").exec()).kvs[0]!;
    expect(kv.lease).toBe(a.lease.id);
    expect((await a.client.get("/v1/instances/a").exec()).kvs[0]!.lease).toBe(a.lease.id);
  }, 30_000);

  it("an instance closed: its vote and presence disappear, the live count drops", async () => {
    const xs = await fleet("/v2");
    const [a, b, c] = xs as [Instance, Instance, Instance];
    await Promise.all([
      a.votes.publish("g", r1("unhealthy")),
      b.votes.publish("g", r1("unhealthy")),
      c.votes.publish("g", r1("unhealthy")),
    ]);
    await until(() => verdicts(xs).every((v) => v.health === "unhealthy"), 3000, "the quorum");
    const t0 = performance.now();
    await closeInstance(c);
    const rest = [a, b];
    await until(() => rest.every((i) => i.votes.live("g").length === 2), 2000, "the live count to drop");
    console.log(`close → vote gone on the others after ${(performance.now() - t0).toFixed(0)} ms`);
    expect(await a.client.get("/v2/groups/g/votes/c").string()).toBeNull();
    expect(await a.client.get("/v2/instances/c").string()).toBeNull();
    for (const v of verdicts(rest)) {
      expect(v.reason).toBe("2 of 2 observers: r1 unhealthy");
      expect(v.observers).toBe(2);
    }
    // with two live, a single unhealthy view is outvoted (majority of 2 is 2)
    await b.votes.publish("g", r1("healthy"));
    await until(() => verdicts(rest).every((v) => v.health === "degraded"), 3000, "outvoted");
    expect(verdicts(rest)[0]!.reason).toBe("1 of 2 observers see r1 unhealthy (majority needs 2): kept");

    // b's keepalives stop (a hung or dead process): within the TTL its vote and presence are gone for a
    await b.votes.publish("g", r1("unhealthy"));
    await until(() => a.votes.verdict("g", "r1", "majority").health === "unhealthy", 3000, "2 of 2");
    const t1 = performance.now();
    b.lease.stopKeepalive();
    await until(() => a.votes.live("g").length === 1, TTL + 1000, "b to expire");
    console.log(`keepalives stopped → gone for the others after ${(performance.now() - t1).toFixed(0)} ms`);
    expect(a.votes.views("g", "r1").map((v) => v.observer)).toEqual(["a"]);
    expect(a.votes.verdict("g", "r1", "majority").reason).toBe("1 of 1 observer: r1 unhealthy");
    expect(a.votes.verdict("g", "r1", 2).health).toBe("unknown"); // quorum 2 is not lowered to the live count
    expect(b.votes.verdict("g", "r1", "majority").reason).toMatch(/^etcd unreachable/);
  }, 30_000);

  it("etcd quorum lost: every verdict is unknown within the TTL (fail closed); back: verdicts again", async () => {
    const xs = await fleet("/v3");
    await Promise.all(xs.map((i) => i.votes.publish("g", r1("unhealthy"))));
    await until(() => verdicts(xs).every((v) => v.health === "unhealthy"), 3000, "the quorum");

    // keep the raft leader: it acknowledges keepalives until it steps down (the hard case)
    const survivor = etcd.raftLeader();
    expect(survivor).toBeDefined();
    const victims = [0, 1, 2].filter((i) => i !== survivor);
    const t0 = performance.now();
    await Promise.all(victims.map((i) => etcd.kill(i)));
    await until(() => verdicts(xs).every((v) => v.health === "unknown"), TTL + 500, "fail closed");
    const took = performance.now() - t0;
    console.log(`quorum lost → every verdict unknown after ${took.toFixed(0)} ms`);
    expect(took).toBeLessThan(TTL);
    for (const v of verdicts(xs)) {
      expect(v.reason).toMatch(/^etcd unreachable/);
      expect(v.needed).toBeUndefined();
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(verdicts(xs).every((v) => v.health === "unknown")).toBe(true);

    const t1 = performance.now();
    await Promise.all(victims.map((i) => etcd.restart(i, { wait: false })));
    const back = await until(
      () => verdicts(xs).every((v) => v.health === "unhealthy"),
      20_000,
      "verdicts after quorum returned",
    );
    console.log(
      `quorum back → verdicts after ${back.toFixed(0)} ms (${(performance.now() - t1).toFixed(0)} with the restart)`,
    );
    // the votes read at once may still be under the old leases (the revokes failed without quorum, and etcd
    // renews every lease for a TTL when a new raft leader starts): each instance re-writes its own under its new one
    const underNewLeases = async () => {
      for (const i of xs) {
        const kvs = [
          ...(await i.client.get(`/v3/groups/g/votes/${i.name}`).exec()).kvs,
          ...(await i.client.get(`/v3/instances/${i.name}`).exec()).kvs,
        ];
        if (kvs.length !== 2 || kvs.some((kv) => kv.lease !== i.lease.id)) return false;
      }
      return true;
    };
    const t2 = performance.now();
    while (!(await underNewLeases())) {
      expect(performance.now() - t2).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(verdicts(xs)[0]!.reason).toBe("3 of 3 observers: r1 unhealthy");
  }, 45_000);
});

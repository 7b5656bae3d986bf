/**
 * Operator commands forwarded to a shared group's leader (src/cluster/forward.ts) against a real 3-member etcd,
 * with two `Fleet`s (as two daemons): a request the leader takes is answered; one it never takes is withdrawn
 * after the timeout and can no longer be taken (it runs once or never, never late); one the leader took but did
 * not answer is reported as such, not as withdrawn; a request is under the follower's lease.
 * Needs etcd; under CI=true a missing etcd fails the run instead of skipping.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "../../src/cluster/fleet.js";
import {
  answerCommand,
  type ForwardedCommand,
  forwardCommand,
  requestId,
  takeCommand,
} from "../../src/cluster/forward.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { until } from "../peers/common.js";
import { Etcd } from "../peers/etcd.js";

const missing = Etcd.missing();
failInCiWhenMissing("cluster forward", missing);

describe.skipIf(missing !== undefined)("forwarded operator commands", () => {
  const etcd = new Etcd();
  let leader: Fleet;
  let follower: Fleet;
  let fence: string;

  const fleet = (name: string) =>
    Fleet.create({
      spec: { etcd: etcd.endpoints, lease_ttl: 2000, prefix: "/sb-fwd", name },
      host: name,
      version: "test",
      groups: ["vip"],
      targets: [],
    });
  const request = (f: Fleet): ForwardedCommand => ({
    id: requestId(f),
    from: f.name,
    command: { command: "freeze", reason: "test" },
    who: "uid 0 (root)",
  });

  beforeAll(async () => {
    await etcd.start();
    leader = await fleet("a");
    leader.start();
    await until(() => leader.decides("vip"), 10_000, "a to lead");
    fence = leader.fence("vip")!;
    follower = await fleet("b");
    follower.start();
    await until(() => follower.lease.held() && follower.leader("vip") === "a", 10_000, "b to follow a");
  }, 30_000);

  afterAll(async () => {
    await follower?.close();
    await leader?.close();
    await etcd.destroy();
  });

  it("a request the leader takes and answers comes back to the follower", async () => {
    const req = request(follower);
    const pending = forwardCommand(follower, "vip", req, 3000);
    await until(() => leader.votes.commandsOf("vip").has(req.id), 3000, "the leader to see the request");
    expect(await takeCommand(leader, "vip", fence, req.id)).toBe(true);
    expect(await answerCommand(leader, "vip", fence, req.id, { ok: true, events: [], leader: "a" })).toBe(
      true,
    );
    expect(await pending).toEqual({ ok: true, events: [], leader: "a" });
    // Both keys are gone: the request taken, the answer deleted by the follower once read.
    const left = await leader.client.getAll().prefix("/sb-fwd/groups/vip/").keys();
    expect(left.filter((k) => /\/(commands|results)\//.test(k))).toEqual([]);
  });

  it("a request the leader never takes is withdrawn at the timeout and cannot be taken afterwards", async () => {
    const req = request(follower);
    const r = await forwardCommand(follower, "vip", req, 400);
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringMatching(/did not take the command within 400 ms: withdrawn, not applied/),
    });
    expect(await takeCommand(leader, "vip", fence, req.id)).toBe(false);
  });

  it("a request the leader took but did not answer is reported as taken, not withdrawn", async () => {
    const req = request(follower);
    const pending = forwardCommand(follower, "vip", req, 800);
    await until(() => leader.votes.commandsOf("vip").has(req.id), 3000, "the leader to see the request");
    expect(await takeCommand(leader, "vip", fence, req.id)).toBe(true);
    expect(await pending).toMatchObject({
      ok: false,
      error: expect.stringMatching(/took the command but its answer did not arrive/),
    });
  });

  it("only the leader's token takes a request; a request lives under the follower's lease", async () => {
    const req = request(follower);
    const pending = forwardCommand(follower, "vip", req, 1500);
    await until(() => leader.votes.commandsOf("vip").has(req.id), 3000, "the leader to see the request");
    expect(await takeCommand(leader, "vip", String(BigInt(fence) + 1000n), req.id)).toBe(false);
    const kv = await follower.client.get(`/sb-fwd/groups/vip/commands/${req.id}`).exec();
    expect(kv.kvs[0]?.lease).toBe(follower.lease.id);
    expect((await pending).ok).toBe(false);
  });
});

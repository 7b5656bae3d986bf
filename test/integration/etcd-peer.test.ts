/**
 * The etcd test peer itself (test/peers/etcd.ts): three private members on free loopback ports that take writes
 * (etcdctl and etcd3), lose quorum when two of them are SIGKILLed (writes fail, /health says false) and get it
 * back when they are restarted on their data directories. Under CI=true a missing etcd fails the run.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/cluster/client.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Etcd } from "../peers/etcd.js";

const missing = Etcd.missing();
failInCiWhenMissing("etcd test peer", missing);

describe.skipIf(missing !== undefined)("etcd test peer", () => {
  const etcd = new Etcd();
  beforeAll(() => etcd.start(), 30_000);
  afterAll(() => etcd.destroy(), 10_000);
  const spec = () => ({ etcd: etcd.endpoints, lease_ttl: 2000, prefix: "/peer", name: "t" });

  it("runs three healthy members on loopback that agree on writes", async () => {
    expect(etcd.endpoints).toHaveLength(3);
    for (const e of etcd.endpoints) expect(e).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (let i = 0; i < 3; i++) {
      expect(etcd.pid(i)).toBeGreaterThan(0);
      expect(await etcd.healthy(i)).toBe(true);
    }
    const put = etcd.etcdctl(["put", "/peer/a", "1"]);
    expect(put.status, put.stderr).toBe(0);
    const client = createClient(spec());
    try {
      expect(await client.get("/peer/a").string()).toBe("1");
      await client.put("/peer/b").value("2");
    } finally {
      client.close();
    }
    const get = etcd.etcdctl(["get", "/peer/b", "--print-value-only"]);
    expect(get.stdout.trim()).toBe("2");
  }, 20_000);

  it("paused, a member's /health does not answer; resumed, it does", async () => {
    etcd.pause(2);
    try {
      expect(await etcd.healthy(2, 300)).toBe(false);
    } finally {
      etcd.resume(2);
    }
    const t0 = Date.now();
    while (!(await etcd.healthy(2, 300)) && Date.now() - t0 < 5000)
      await new Promise((r) => setTimeout(r, 50));
    expect(await etcd.healthy(2)).toBe(true);
  }, 10_000);

  it("two of three killed: writes fail within the client's bounds; restarted: writable again", async () => {
    await etcd.kill(1);
    await etcd.kill(2);
    expect(etcd.running(1)).toBe(false);
    expect(await etcd.healthy(0, 500)).toBe(false);
    const client = createClient(spec());
    try {
      const t0 = Date.now();
      await expect(client.put("/peer/c").value("3")).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(4000);
      // a stale read still answers from the survivor's data
      const survivor = createClient({ ...spec(), etcd: [etcd.endpoints[0]!] });
      try {
        expect(await survivor.get("/peer/a").serializable(true).string()).toBe("1");
      } finally {
        survivor.close();
      }

      await Promise.all([etcd.restart(1, { wait: false }), etcd.restart(2, { wait: false })]);
      const t1 = Date.now();
      let ok = false;
      while (!ok && Date.now() - t1 < 10_000) {
        ok = await client
          .put("/peer/c")
          .value("3")
          .exec()
          .then(() => true)
          .catch(() => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        while (!(await etcd.healthy(i, 300)) && Date.now() - t < 5000)
          await new Promise((r) => setTimeout(r, 50));
        expect(await etcd.healthy(i)).toBe(true);
      }
      expect(await client.get("/peer/b").string()).toBe("2"); // the data survived the crash
    } finally {
      client.close();
    }
  }, 40_000);

  it("destroy() kills every member and removes the data", async () => {
    const other = new Etcd({ members: 1 });
    await other.start();
    const pid = other.pid(0)!;
    const dir = other.dir;
    await other.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 20_000);
});

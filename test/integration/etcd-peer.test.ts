/**
 * The etcd test peer itself (test/peers/etcd.ts): three private members on free loopback ports that take writes
 * (etcdctl and etcd3), lose quorum when two of them are SIGKILLed (writes fail, /health says false) and get it
 * back when they are restarted on their data directories. Under CI=true a missing etcd fails the run.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/cluster/client.js";
import { assertBuilt, ROOT } from "../e2e/daemon-harness.js";
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

  it("a test process ended by SIGTERM (as vitest ends its workers) takes its members with it", async () => {
    assertBuilt();
    // A process that starts a member and waits, as a test file would that never reached its afterAll.
    const script = `import { Etcd } from ${JSON.stringify(join(ROOT, "dist/test/peers/etcd.js"))};
      const e = new Etcd({ members: 1 }); await e.start(); console.log(e.pid(0)); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
      child.once("exit", (code) => reject(new Error(`exited ${code} before its member started`)));
    });
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).not.toThrow();
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(128 + 15);
    const t0 = Date.now();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  }, 30_000);
});

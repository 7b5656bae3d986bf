/**
 * The fleet topology itself (test/peers/fleet-net.ts): from inside the fleet namespace every link reaches r1; one
 * link down fails only that link; r1 stopped fails all of them (refused); etcd runs healthy inside the namespace and
 * keeps a quorum with one member paused; close() leaves no namespace behind. Under CI=true a missing dependency
 * (root, ip, etcd, etcdctl) fails the run.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInCiWhenMissing } from "../peers/ci.js";
import { FleetTopology, fleetTopology, R1_PORT } from "../peers/fleet-net.js";

const missing =
  FleetTopology.missing() ??
  (spawnSync("sh", ["-c", "command -v etcdctl"]).status !== 0 ? "etcdctl is not installed" : undefined);
failInCiWhenMissing("fleet network topology", missing);

/** Connects to host:port with a timeout; prints ok, or the error code (ECONNREFUSED, ENETUNREACH, TIMEOUT...). */
const CONNECT = `const [host, port] = process.argv.slice(1);
const s = require("node:net").connect({ host, port: Number(port) });
const t = setTimeout(() => { process.stdout.write("TIMEOUT"); process.exit(0); }, 700);
s.on("connect", () => { process.stdout.write("ok"); s.destroy(); clearTimeout(t); });
s.on("error", (e) => { process.stdout.write(e.code ?? e.message); clearTimeout(t); });`;

describe.skipIf(missing !== undefined)("fleet network topology", () => {
  let topo: FleetTopology;
  let setupMs = 0;
  beforeAll(async () => {
    const t0 = performance.now();
    topo = await fleetTopology({ observers: 3 });
    setupMs = performance.now() - t0;
  }, 30_000);
  afterAll(() => topo?.close(), 20_000);

  /** What a connect from the fleet namespace to r1 on link i gives. */
  const probe = (i: number) =>
    new Promise<string>((resolve, reject) => {
      const c = topo.spawnInFleet([process.execPath, "-e", CONNECT, topo.r1Address(i), String(R1_PORT)], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      c.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      c.once("error", reject);
      c.once("exit", () => resolve(out.trim()));
    });
  const probeAll = () => Promise.all([1, 2, 3].map(probe));

  it("builds both namespaces with three links and reaches r1 on each", async () => {
    process.stdout.write(`fleet topology ${topo.id}: setup ${Math.round(setupMs)} ms\n`);
    expect(await topo.namespaces()).toEqual(expect.arrayContaining([topo.ns, topo.r1ns]));
    expect(topo.r1Address(2)).toBe("10.231.2.2");
    expect(() => topo.r1Address(4)).toThrow();
    expect(await probeAll()).toEqual(["ok", "ok", "ok"]);
  }, 10_000);

  it("linkDown(2) fails only link 2; linkUp(2) restores it", async () => {
    await topo.linkDown(2);
    try {
      const [a, b, c] = await probeAll();
      expect(b).toBe("ENETUNREACH"); // no route left to 10.231.2.2: fails at once, no timeout
      expect([a, c]).toEqual(["ok", "ok"]);
    } finally {
      await topo.linkUp(2);
    }
    expect(await probeAll()).toEqual(["ok", "ok", "ok"]);
  }, 10_000);

  it("r1.stop() refuses on every link; r1.start() serves again", async () => {
    await topo.r1.stop();
    expect(topo.r1.running).toBe(false);
    try {
      expect(await probeAll()).toEqual(["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);
    } finally {
      await topo.r1.start();
    }
    expect(await probeAll()).toEqual(["ok", "ok", "ok"]);
  }, 10_000);

  it("etcd runs inside the fleet namespace: healthy, writable, and not reachable from the host", async () => {
    for (const e of topo.etcd.endpoints) expect(e).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (let i = 0; i < 3; i++) expect(await topo.etcd.healthy(i)).toBe(true);
    const put = topo.etcd.etcdctl(["put", "/fleet/a", "1"]);
    expect(put.status, put.stderr).toBe(0);
    const get = topo.etcd.etcdctl(["get", "/fleet/a", "--print-value-only"]);
    expect(get.stdout.trim()).toBe("1");
    // the member's process is etcd itself (ip netns exec execs in place), in the fleet namespace
    const pid = topo.etcd.pid(0)!;
    const cmd = spawnSync("readlink", [`/proc/${pid}/exe`], { encoding: "utf8" }).stdout.trim();
    expect(cmd).toMatch(/etcd$/);
    const inNs = spawnSync("ip", ["netns", "identify", String(pid)], { encoding: "utf8" }).stdout.trim();
    expect(inNs).toBe(topo.ns);
    // the host's loopback does not have this cluster (a host etcd of a parallel test file may own the port,
    // but it holds no /fleet/a)
    const host = spawnSync(
      "etcdctl",
      [
        `--endpoints=${topo.etcd.endpoints[0]}`,
        "--command-timeout=1s",
        "get",
        "/fleet/a",
        "--print-value-only",
      ],
      {
        encoding: "utf8",
        timeout: 5000,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ETCDCTL_API: "3" },
      },
    );
    expect(host.stdout.trim()).not.toBe("1");
  }, 15_000);

  it("one member paused: the other two keep a quorum", async () => {
    // a follower: pausing the leader would cost an election (~1-2 s) before writes succeed again
    const leader = topo.etcd.raftLeader();
    expect(leader).toBeDefined();
    const paused = (leader! + 1) % 3;
    const others = [0, 1, 2].filter((i) => i !== paused).map((i) => topo.etcd.endpoints[i]);
    topo.etcd.pause(paused);
    try {
      expect(await topo.etcd.healthy(paused, 300)).toBe(false);
      const two = `--endpoints=${others.join(",")}`;
      const put = topo.etcd.etcdctl([two, "put", "/fleet/b", "2"], 3000);
      expect(put.status, put.stderr).toBe(0);
      const get = topo.etcd.etcdctl([two, "get", "/fleet/b", "--print-value-only"], 3000);
      expect(get.stdout.trim()).toBe("2");
    } finally {
      topo.etcd.resume(paused);
    }
  }, 15_000);

  it("close() removes both namespaces and stops etcd", async () => {
    const pid = topo.etcd.pid(0)!;
    const t0 = performance.now();
    await topo.close();
    process.stdout.write(`fleet topology ${topo.id}: close ${Math.round(performance.now() - t0)} ms\n`);
    const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(list).not.toContain(topo.ns);
    expect(list).not.toContain(topo.r1ns);
    expect(() => process.kill(pid, 0)).toThrow();
    await topo.close(); // idempotent
  }, 20_000);
});

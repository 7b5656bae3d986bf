// The namespace testbed itself: topology, policy routing, route switching and its observation, every fault and
// its repair, clean removal. Runs as root (skipped elsewhere, failing under CI=true when it cannot run).
// Timings are printed with the prefix "testbed timing:".

import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { afterAll, expect, it } from "vitest";
import { DualUplinkTestbed, type Router, run, waitFor } from "./testbed.js";
import { describeWithTestbed, support } from "./use-testbed.js";

const TAG = "tb";
const INDEX = 15;
/** a second bed, built and removed by the timing test */
const TAG2 = "tbc";
const INDEX2 = 16;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return `median ${median(s).toFixed(2)} ms, min ${s[0]!.toFixed(2)}, p90 ${p(0.9).toFixed(2)}, max ${s[s.length - 1]!.toFixed(2)} (n=${s.length})`;
}

function report(what: string, text: string): void {
  console.log(`testbed timing: ${what}: ${text}`);
}

async function namespacesOf(tag: string): Promise<string[]> {
  const res = await run("ip", ["-j", "netns", "list"]);
  const text = res.stdout.trim();
  const list = text ? (JSON.parse(text) as Array<{ name: string }>) : [];
  return list.map((e) => e.name).filter((n) => n.startsWith(`sb-${tag}-`));
}

describeWithTestbed("dual-uplink testbed", { tag: TAG, index: INDEX }, (bed) => {
  const a = bed.addr;

  async function answers(target: string, via: Router, count = 3): Promise<number> {
    return (await bed.ping(target, { via, count, wait: 0.3 })).received;
  }

  async function expectRecovered(r: Router): Promise<void> {
    await waitFor(async () => (await answers(a.far, r, 1)) === 1, {
      timeout: 5000,
      interval: 20,
      message: `traffic through ${r} to recover`,
    });
    expect(await answers(a.gateway[r], r)).toBe(3);
    expect(await answers(a.far, r)).toBe(3);
    expect(bed.activeFaults(r)).toEqual([]);
  }

  it("has the recipe's topology with per-index addresses", async () => {
    expect(bed.ns).toEqual({ host: "sb-tb-host", r1: "sb-tb-r1", r2: "sb-tb-r2", net: "sb-tb-net" });
    expect(a.gateway).toEqual({ r1: "10.215.1.1", r2: "10.215.2.1" });
    expect(a.far).toBe("198.51.100.25");
    expect((await bed.namespaces()).sort()).toEqual(Object.values(bed.ns).sort());
    const rules = await bed.exec("host", ["ip", "-j", "rule", "show"], { check: true });
    const parsed = JSON.parse(rules.stdout) as Array<{ src?: string; table?: string }>;
    expect(parsed).toContainEqual(expect.objectContaining({ src: a.host.r1, table: "101" }));
    expect(parsed).toContainEqual(expect.objectContaining({ src: a.host.r2, table: "102" }));
  });

  it("sends traffic via r1 at start, and can probe both uplinks by source", async () => {
    expect(await bed.defaultRoute()).toMatchObject({ router: "r1", via: a.gateway.r1, dev: "h-r1" });
    const probe = await bed.probeTraffic(3);
    expect(probe).toMatchObject({ path: "r1", arrived: { r1: 3, r2: 0 }, sent: 3, received: 3 });
    for (const r of ["r1", "r2"] as const) {
      expect(await answers(a.gateway[r], r)).toBe(3);
      expect(await answers(a.far, r)).toBe(3);
    }
  });

  it("sees a hand-made route switch in the route, the traffic and the monitor", async () => {
    const seen: string[] = [];
    const watch = await bed.watchDefaultRoute((e) => seen.push(`${e.kind} ${e.router}`));
    try {
      const t0 = performance.now();
      await bed.setDefaultRoute("r2");
      const ev = await watch.next((e) => e.router === "r2", { since: t0, timeout: 2000 });
      expect(ev).toMatchObject({ kind: "added", via: a.gateway.r2, dev: "h-r2" });
      expect((await bed.defaultRoute()).router).toBe("r2");
      expect(await bed.trafficPath()).toBe("r2");
      // the primary can still be probed while the backup carries the traffic
      expect(await answers(a.far, "r1")).toBe(3);

      const t1 = performance.now();
      await bed.setDefaultRoute("r1");
      await watch.next((e) => e.router === "r1", { since: t1, timeout: 2000 });
      expect(await bed.trafficPath()).toBe("r1");
      expect(seen).toEqual(["added r2", "added r1"]);
    } finally {
      await watch.stop();
    }
  });

  it("link down: the gateway stops answering; repair brings traffic back", async () => {
    await bed.linkDown("r1");
    expect(bed.activeFaults("r1")).toEqual(["linkDown"]);
    const link = await bed.exec("host", ["ip", "-j", "link", "show", "h-r1"], { check: true });
    expect(link.stdout).toMatch(/NO-CARRIER|LOWERLAYERDOWN/);
    expect(await answers(a.gateway.r1, "r1")).toBe(0);
    expect(await answers(a.far, "r2")).toBe(3);
    await bed.repair("r1");
    await expectRecovered("r1");
  }, 20_000);

  it("router dead: neither the gateway nor the far host answer via r1", async () => {
    await bed.routerDead("r1");
    expect(await answers(a.gateway.r1, "r1")).toBe(0);
    expect(await answers(a.far, "r1")).toBe(0);
    expect(await bed.trafficPath()).toBe("none");
    expect(await answers(a.far, "r2")).toBe(3);
    await bed.repair("r1");
    await expectRecovered("r1");
  }, 20_000);

  it("router dead with ARP: the host's neighbour entry fails too", async () => {
    await bed.routerDead("r2", { arp: true });
    await bed.exec("host", ["ip", "neigh", "flush", "dev", "h-r2"], { check: true });
    expect(await answers(a.gateway.r2, "r2")).toBe(0);
    const neigh = await bed.exec("host", ["ip", "neigh", "show", a.gateway.r2, "dev", "h-r2"], {
      check: true,
    });
    expect(neigh.stdout).toMatch(/INCOMPLETE|FAILED/);
    await bed.repair("r2");
    await expectRecovered("r2");
  }, 20_000);

  it("gray failure: the gateway answers, the far host via r1 does not", async () => {
    await bed.grayFailure("r1");
    expect(await answers(a.gateway.r1, "r1")).toBe(3);
    expect(await answers(a.far, "r1")).toBe(0);
    expect(await bed.trafficPath()).toBe("none");
    await bed.repair("r1");
    await expectRecovered("r1");
    expect(await bed.trafficPath()).toBe("r1");
  }, 20_000);

  it("loss 50%: about half the pings through r1 are answered", async () => {
    await bed.loss("r1", 50);
    const through = await bed.ping(a.far, { via: "r1", count: 40, interval: 0.01, wait: 0.2 });
    expect(through.sent).toBe(40);
    expect(through.received).toBeGreaterThanOrEqual(8);
    expect(through.received).toBeLessThanOrEqual(32);
    expect(await answers(a.far, "r2", 10)).toBe(10);
    await bed.loss("r1", 100); // re-injecting replaces the rule
    expect(await answers(a.far, "r1", 5)).toBe(0);
    await bed.repair("r1");
    await expectRecovered("r1");
    expect((await bed.ping(a.far, { via: "r1", count: 40, interval: 0.01, wait: 0.2 })).received).toBe(40);
  }, 20_000);

  it("repairs several faults at once and is idempotent", async () => {
    await bed.linkDown("r2");
    await bed.grayFailure("r2");
    await bed.loss("r2", 30);
    await bed.routerDead("r2");
    expect(bed.activeFaults("r2").sort()).toEqual(["grayFailure", "linkDown", "loss", "routerDead"]);
    await bed.repair("r2");
    await bed.repair("r2");
    await expectRecovered("r2");
  }, 20_000);

  it("runs a process in the host namespace", async () => {
    const child = bed.spawnInHost(["ip", "-j", "route", "show", "default"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([expect.objectContaining({ gateway: a.gateway.r1 })]);
  });

  it("measures route switching, the monitor's latency and ARP recovery", async () => {
    // `ip route replace` as a process
    const replace: number[] = [];
    for (let i = 0; i < 20; i++) replace.push((await bed.setDefaultRoute(i % 2 ? "r1" : "r2")).ms);
    await bed.setDefaultRoute("r1");
    report("ip route replace as a process", stats(replace));

    // the monitor: netlink change made by a long-running `ip -batch -` (no process start) → line in this process
    const watch = await bed.watchDefaultRoute();
    const batch = bed.spawnInHost(["ip", "-batch", "-"], { stdio: ["pipe", "ignore", "inherit"] });
    const viaMonitor: number[] = [];
    const afterProcess: number[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const r: Router = i % 2 ? "r1" : "r2";
        const t0 = performance.now();
        batch.stdin!.write(`route replace default via ${a.gateway[r]} dev h-${r}\n`);
        const ev = await watch.next((e) => e.router === r, { since: t0, timeout: 2000 });
        viaMonitor.push(ev.at - t0);
      }
      // and after an `ip route replace` process: event time minus the process's exit as node sees it
      for (let i = 0; i < 10; i++) {
        const r: Router = i % 2 ? "r1" : "r2";
        const t0 = performance.now();
        const res = await bed.setDefaultRoute(r);
        const ev = await watch.next((e) => e.router === r, { since: t0, timeout: 2000 });
        afterProcess.push(ev.at - (t0 + res.ms));
      }
    } finally {
      batch.stdin!.end();
      await watch.stop();
    }
    await bed.setDefaultRoute("r1");
    report("ip monitor route, change written to a running ip -batch → event", stats(viaMonitor));
    report(
      "ip monitor route, event minus the replace process's exit (negative: event first)",
      stats(afterProcess),
    );
    expect(median(viaMonitor)).toBeLessThan(50);

    // ARP after a link repair, with the host sending during the outage (as a prober does): continuous ping
    for (const busy of [true, false]) {
      const fromStart: number[] = [];
      const fromEnd: number[] = [];
      for (let i = 0; i < 5; i++) {
        const m = await firstReplyAfterRepair(busy);
        fromStart.push(m.fromStart);
        fromEnd.push(m.fromEnd);
      }
      const how = busy ? "host pinging every 10 ms during the outage" : "host silent during the outage";
      report(`link repair → first gateway reply, ${how}, from repair() start`, stats(fromStart));
      report(`link repair → first gateway reply, ${how}, from repair() end`, stats(fromEnd));
    }
  }, 60_000);

  /**
   * Sets r1's link down for 300 ms, repairs it, and returns ms from the repair to the first reply of a 10 ms ping
   * (`busy`: the ping runs through the outage; otherwise it starts after the repair).
   */
  async function firstReplyAfterRepair(busy: boolean): Promise<{ fromStart: number; fromEnd: number }> {
    await bed.linkDown("r1");
    const start = () =>
      bed.spawnInHost(["ping", "-n", "-i", "0.01", "-W", "0.05", "-I", a.host.r1, a.gateway.r1], {
        stdio: ["ignore", "pipe", "ignore"],
      });
    let ping = busy ? start() : null;
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const stamp = await bed.repair("r1");
      ping ??= start();
      const lines = createInterface({ input: ping.stdout! });
      const at = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no reply within 5 s")), 5000);
        lines.on("line", (line) => {
          const now = performance.now();
          if (now >= stamp.end && /bytes from/.test(line)) {
            clearTimeout(timer);
            resolve(now);
          }
        });
      });
      lines.close();
      return { fromStart: at - stamp.start, fromEnd: at - stamp.end };
    } finally {
      ping?.kill("SIGTERM");
    }
  }
});

it.skipIf(!support.ok)(
  "creates and destroys a bed quickly, leaving nothing behind",
  async () => {
    const creates: number[] = [];
    const destroys: number[] = [];
    for (let i = 0; i < 3; i++) {
      const bed = new DualUplinkTestbed({ tag: TAG2, index: INDEX2 });
      const t0 = performance.now();
      await bed.create();
      creates.push(performance.now() - t0);
      expect(await bed.trafficPath()).toBe("r1");
      const t1 = performance.now();
      await bed.destroy();
      destroys.push(performance.now() - t1);
      expect(await namespacesOf(TAG2)).toEqual([]);
      await bed.destroy(); // idempotent
    }
    report("create() incl. the reachability check", stats(creates));
    report("destroy()", stats(destroys));

    // create() removes leftovers of the same tag
    await run("ip", ["netns", "add", `sb-${TAG2}-stale`], { check: true });
    const bed = new DualUplinkTestbed({ tag: TAG2, index: INDEX2 });
    try {
      await bed.create();
      expect((await namespacesOf(TAG2)).sort()).toEqual(Object.values(bed.ns).sort());
    } finally {
      await bed.destroy();
    }
    expect(await namespacesOf(TAG2)).toEqual([]);
  },
  60_000,
);

afterAll(async () => {
  // runs after the suite's own afterAll, which destroyed the bed
  if (support.ok) expect(await namespacesOf(TAG)).toEqual([]);
});

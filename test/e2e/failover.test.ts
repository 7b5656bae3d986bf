/**
 * End to end: the real daemon, as a user starts it, in a dual-uplink network-namespace testbed with real
 * routes. For each fault the daemon must move the default route to r2 (traffic to the far host flows via r2),
 * and after the repair move it back only after `hold` (traffic via r1 again).
 */
import { beforeAll, expect, it } from "vitest";
import { assertBuilt, type RunningDaemon, startDaemon, tempDir, writeBedConfig } from "./daemon-harness.js";
import type { DualUplinkTestbed, Router } from "./testbed.js";
import { waitFor } from "./testbed.js";
import { describeWithTestbed } from "./use-testbed.js";

const HOLD_MS = 3000;

async function routeIs(bed: DualUplinkTestbed, r: Router, timeout = 10_000): Promise<void> {
  await waitFor(async () => (await bed.defaultRoute()).router === r, { timeout, interval: 50 });
}

/** Starts a daemon on a fresh state dir and waits until both paths are judged healthy. */
async function freshDaemon(bed: DualUplinkTestbed, args: string[] = []): Promise<RunningDaemon> {
  const dir = tempDir("sb-e2e-");
  const d = startDaemon(bed, writeBedConfig(bed, dir, { hold: `${HOLD_MS}ms` }), args);
  await d.started();
  await waitFor(
    () =>
      d
        .events()
        .filter(
          (e) =>
            e.kind === "health" && e.state === "healthy" && (e.member === "isp-a" || e.member === "isp-b"),
        ).length >= 2,
    { timeout: 10_000, interval: 100 },
  );
  return d;
}

describeWithTestbed("failover and failback in a dual-uplink testbed", { tag: "e1", index: 1 }, (bed) => {
  beforeAll(() => assertBuilt());

  const faults: [string, (r: Router) => Promise<unknown>][] = [
    ["a: link down", (r) => bed.linkDown(r)],
    ["b: router dead", (r) => bed.routerDead(r)],
    ["b2: router blackholes forwarding but answers pings", (r) => bed.grayFailure(r)],
    ["c: 50 % loss", (r) => bed.loss(r, 50)],
  ];

  for (const [name, inject] of faults) {
    it(`${name}: fails over to r2, fails back to r1 only after hold`, async () => {
      await bed.repairAll();
      await bed.setDefaultRoute("r1");
      const d = await freshDaemon(bed);
      try {
        expect(await bed.trafficPath()).toBe("r1");
        await inject("r1");
        await routeIs(bed, "r2", 15_000);
        expect(await bed.trafficPath()).toBe("r2");
        const fo = d.switches().at(-1)!;
        expect(fo).toMatchObject({ kind: "failover", group: "uplink", from: "isp-a", to: "isp-b" });
        expect(fo.reason).toMatch(/isp-a unhealthy \((path-a-down|path-a-lossy|link-a-down) firing/);

        await bed.repair("r1");
        const repairedAt = Date.now();
        await routeIs(bed, "r1", 30_000);
        const fb = d.switches().at(-1)!;
        expect(fb).toMatchObject({ kind: "failback", from: "isp-b", to: "isp-a" });
        // Not before the hold after the repair (the path must first be judged healthy again).
        expect(fb.ts - repairedAt).toBeGreaterThanOrEqual(HOLD_MS);
        expect(await bed.trafficPath()).toBe("r1");
        expect(d.switches().map((e) => e.kind)).toEqual(["failover", "failback"]);
      } finally {
        await d.stop();
      }
      expect(d.exited?.code).toBe(0);
    }, 90_000);
  }

  it("intermittent loss below the rule's threshold: no failover, no flap", async () => {
    await bed.repairAll();
    await bed.setDefaultRoute("r1");
    const d = await freshDaemon(bed);
    try {
      // Every 4th packet from the host through r1 is dropped: 25 % loss, never three probes in a row.
      await bed.nft(
        "r1",
        [
          "table inet sb_every4th {",
          "  chain forward {",
          "    type filter hook forward priority 0; policy accept;",
          '    iifname "r1-h" numgen inc mod 4 == 0 counter drop',
          "  }",
          "}",
        ].join("\n"),
      );
      await new Promise((r) => setTimeout(r, 8000));
      // The loss was real: the daemon's probes through r1 (10/s) lost one in four.
      const listed = await bed.exec("r1", ["nft", "list", "table", "inet", "sb_every4th"]);
      const dropped = Number(/counter packets (\d+)/.exec(listed.stdout)?.[1] ?? 0);
      expect(dropped).toBeGreaterThan(10);
      expect(d.switches()).toEqual([]);
      expect(d.events().filter((e) => e.kind === "rule" && e.state === "flapping")).toEqual([]);
      expect((await bed.defaultRoute()).router).toBe("r1");
    } finally {
      await bed.nft("r1", "delete table inet sb_every4th").catch(() => {});
      await d.stop();
    }
  }, 60_000);

  it("kill -9 after a failover, then restart: no second switch, state and reality agree", async () => {
    await bed.repairAll();
    await bed.setDefaultRoute("r1");
    const dir = tempDir("sb-e2e-");
    const config = writeBedConfig(bed, dir, { hold: `${HOLD_MS}ms` });
    const d1 = startDaemon(bed, config);
    await d1.started();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await bed.linkDown("r1");
      await routeIs(bed, "r2");
      await waitFor(() => d1.switches().length === 1, { timeout: 5000, interval: 50 });
    } finally {
      await d1.stop("SIGKILL");
    }
    const d2 = startDaemon(bed, config);
    try {
      await d2.started();
      await new Promise((r) => setTimeout(r, 2500));
      // One switch in the whole log, and the route untouched by the restart.
      expect(d2.switches().map((e) => `${e.kind}>${e.to}`)).toEqual(["failover>isp-b"]);
      expect(d2.events().filter((e) => e.kind === "action" && e.phase === "reassert")).toEqual([]);
      expect((await bed.defaultRoute()).router).toBe("r2");
      // It still works: repair and fail back after hold.
      await bed.repair("r1");
      await routeIs(bed, "r1", 30_000);
    } finally {
      await d2.stop();
    }
  }, 90_000);

  it("re-asserts the active member's route when something else changed it", async () => {
    await bed.repairAll();
    await bed.setDefaultRoute("r1");
    const d = await freshDaemon(bed);
    try {
      await bed.setDefaultRoute("r2"); // an operator or another tool moves the route behind standby's back
      await routeIs(bed, "r1", 20_000); // checked every 10 s
      // The route is back the moment `ip` ran; its action event reaches events.jsonl a little later.
      const reasserted = () => d.events().find((e) => e.kind === "action" && e.phase === "reassert");
      await waitFor(() => reasserted() !== undefined, { timeout: 5000, interval: 50 });
      const a = reasserted();
      expect(a).toMatchObject({ member: "isp-a", action: "route", ok: true });
      expect(a?.reason).toBe("reassert isp-a: route ok");
      expect(d.switches()).toEqual([]);
    } finally {
      await d.stop();
    }
  }, 60_000);

  it("a first start adopts the member whose route is installed, then fails back per policy", async () => {
    await bed.repairAll();
    await bed.setDefaultRoute("r2"); // before standby: someone routes via r2
    const d = await freshDaemon(bed);
    try {
      expect((await bed.defaultRoute()).router).toBe("r2"); // starting moved nothing
      expect(d.stderr.some((l) => l.includes("adopted the member whose routes are installed"))).toBe(true);
      await routeIs(bed, "r1", 15_000);
      const healthyA = d
        .events()
        .find((e) => e.kind === "health" && e.member === "isp-a" && e.state === "healthy")!;
      const [fb] = d.switches();
      expect(fb).toMatchObject({ kind: "failback", from: "isp-b", to: "isp-a" });
      expect(fb!.ts - healthyA.ts).toBeGreaterThanOrEqual(HOLD_MS);
    } finally {
      await d.stop();
    }
  }, 60_000);

  it("--dry-run decides and logs but leaves the routes alone", async () => {
    await bed.repairAll();
    await bed.setDefaultRoute("r1");
    const d = await freshDaemon(bed, ["--dry-run"]);
    try {
      await bed.routerDead("r1");
      await waitFor(() => d.switches().length === 1, { timeout: 10_000, interval: 50 });
      await waitFor(() => d.events().some((e) => e.kind === "action"), { timeout: 5000, interval: 50 });
      expect(d.events().find((e) => e.kind === "action")).toMatchObject({ dry_run: true, member: "isp-b" });
      await new Promise((r) => setTimeout(r, 500));
      expect((await bed.defaultRoute()).router).toBe("r1");
    } finally {
      await bed.repair("r1");
      await d.stop();
    }
  }, 60_000);
});

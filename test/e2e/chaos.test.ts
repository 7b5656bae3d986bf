/**
 * Chaos, end to end (issue 6, acceptance): the real daemon in a dual-uplink testbed, under SIGHUP storms during
 * failovers, a hanging action, a corrupt state file and `kill -9` in the middle of a switch of an exec-only
 * group. Each case ends with state (state.json, `standby status`) and reality (the default route, what the
 * actions did) agreeing, and no switch duplicated or lost.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import {
  assertBuilt,
  MAIN,
  type RunningDaemon,
  startDaemon,
  tempDir,
  writeBedConfig,
} from "./daemon-harness.js";
import type { Router } from "./testbed.js";
import { waitFor } from "./testbed.js";
import { describeWithTestbed } from "./use-testbed.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Children of a process (pid, command name), from /proc. */
function children(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === pid) out.push({ pid: Number(d), comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface SavedState {
  groups: Record<string, { active: string; intents?: unknown[] }>;
}
const saved = (d: RunningDaemon): SavedState =>
  JSON.parse(readFileSync(join(d.stateDir, "state.json"), "utf8")) as SavedState;

const lines = (f: string) => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : []);

describeWithTestbed(
  "chaos: the daemon under stress in a dual-uplink testbed",
  { tag: "chaos", index: 23 },
  (bed) => {
    beforeAll(() => assertBuilt());

    const cli = (file: string, ...args: string[]) =>
      bed.exec("host", [process.execPath, MAIN, ...args, "--config", file], { timeout: 15_000 });

    async function status(file: string): Promise<{ groups: { name: string; active: string }[] }> {
      const r = await cli(file, "status", "--json");
      if (r.code !== 0) throw new Error(`standby status failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    }

    async function routeIs(r: Router, timeout = 15_000): Promise<void> {
      await waitFor(async () => (await bed.defaultRoute()).router === r, { timeout, interval: 50 });
    }

    /** The state on disk, the daemon's status and the default route name the same member of `uplink`. */
    async function agree(d: RunningDaemon, file: string, member: "isp-a" | "isp-b"): Promise<void> {
      const router = member === "isp-a" ? "r1" : "r2";
      await routeIs(router);
      expect((await status(file)).groups.find((g) => g.name === "uplink")?.active).toBe(member);
      await waitFor(() => saved(d).groups.uplink?.active === member, { timeout: 3000 });
      expect(saved(d).groups.uplink?.intents).toBeUndefined();
    }

    it("a SIGHUP storm during a failover and a failback: one switch each, no orphaned collector", async () => {
      await bed.repairAll();
      await bed.setDefaultRoute("r1");
      const dir = tempDir("sb-chaos-");
      const file = writeBedConfig(bed, dir, { hold: "1s" });
      const d = startDaemon(bed, file);
      try {
        await d.started();
        await sleep(1500);
        const pid = d.child.pid!;
        const before = children(pid)
          .map((c) => c.comm)
          .sort();
        let storming = true;
        let hups = 0;
        const storm = (async () => {
          // Bursts of signals, as a config tool that reloads on every file it writes.
          while (storming) {
            for (let i = 0; i < 6; i++) {
              d.child.kill("SIGHUP");
              hups++;
              await sleep(i % 3);
            }
            await sleep(250);
          }
        })();
        try {
          await bed.linkDown("r1");
          await routeIs("r2");
          await sleep(1000);
          await bed.repair("r1");
          await routeIs("r1", 30_000);
          await sleep(500);
        } finally {
          storming = false;
          await storm;
        }
        expect(hups).toBeGreaterThan(10);
        await sleep(1500); // the last reload ends, its collectors start
        expect(d.exited).toBeUndefined();
        expect(d.switches().map((e) => `${e.kind} ${e.from}>${e.to}`)).toEqual([
          "failover isp-a>isp-b",
          "failback isp-b>isp-a",
        ]);
        expect(d.stderr.filter((l) => l.includes('"configuration reloaded"')).length).toBeGreaterThan(2);
        // Reloads never overlapped: exactly the collectors' processes of one configuration.
        expect(
          children(pid)
            .map((c) => c.comm)
            .sort(),
        ).toEqual(before);
        await agree(d, file, "isp-a");
      } finally {
        await d.stop();
      }
      expect(d.exited?.code).toBe(0);
    }, 90_000);

    it("a hanging action ends at its timeout: switch_failed, back on the healthy member, nothing left running", async () => {
      await bed.repairAll();
      await bed.setDefaultRoute("r1");
      const dir = tempDir("sb-chaos-");
      const file = writeBedConfig(bed, dir, {
        extraGroups: `  - name: svc
    members:
      - {name: main, priority: 100, health: [], activate: []}
      - name: spare
        priority: 50
        health: []
        activate: [{exec: {argv: [sleep, "1017"], timeout: 1s}}]
    failback: {mode: manual}
`,
      });
      const d = startDaemon(bed, file);
      try {
        await d.started();
        await sleep(500);
        const t0 = Date.now();
        const fo = await cli(file, "failover", "svc", "--to", "spare");
        expect(fo.code).toBe(0);
        await waitFor(() => d.events().some((e) => e.kind === "switch_failed" && e.group === "svc"), {
          timeout: 10_000,
        });
        const failed = d.events().find((e) => e.kind === "switch_failed" && e.group === "svc")!;
        expect(failed.ts - t0).toBeLessThan(8000);
        await waitFor(
          async () => (await status(file)).groups.find((g) => g.name === "svc")?.active === "main",
          {
            timeout: 5000,
          },
        );
        const svc = d.switches().filter((e) => e.group === "svc");
        expect(svc.map((e) => `${e.kind} ${e.from}>${e.to}`)).toEqual([
          "manual_switch main>spare",
          "failover spare>main",
        ]);
        await waitFor(() => saved(d).groups.svc?.active === "main" && !saved(d).groups.svc?.intents, {
          timeout: 3000,
        });
        expect(children(d.child.pid!).filter((c) => c.comm === "sleep")).toEqual([]);
        // The other group went on undisturbed.
        await agree(d, file, "isp-a");
      } finally {
        await d.stop();
      }
    }, 60_000);

    it("a corrupt state file at start is set aside; the installed member is adopted and nothing moves", async () => {
      await bed.repairAll();
      await bed.setDefaultRoute("r2"); // as a previous run left it
      const dir = tempDir("sb-chaos-");
      const file = writeBedConfig(bed, dir, { hold: "30s" });
      const stateDir = join(dir, "state");
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(join(stateDir, "state.json"), '{"version":2,"groups":{"uplink":{"active":'); // torn
      const d = startDaemon(bed, file);
      try {
        await d.started();
        const ev = d.events().find((e) => e.kind === "state_discarded");
        expect(ev?.reason).toMatch(/state\.json is unusable: not valid JSON/);
        expect(readdirSync(stateDir).filter((f) => f.startsWith("state.json.corrupt-"))).toHaveLength(1);
        await sleep(1000);
        expect(d.switches()).toEqual([]);
        await agree(d, file, "isp-b");
      } finally {
        await d.stop();
      }
      expect(d.exited?.code).toBe(0);
    }, 60_000);

    it("kill -9 in the middle of an exec-only switch: the restart finishes it exactly once", async () => {
      await bed.repairAll();
      await bed.setDefaultRoute("r1");
      const dir = tempDir("sb-chaos-");
      const log = join(dir, "actions.log");
      const pidFile = join(dir, "action.pid");
      const file = writeBedConfig(bed, dir, {
        extraGroups: `  - name: job
    members:
      - name: m1
        priority: 100
        health: []
        activate: [{exec: {argv: [/bin/sh, -c, 'echo "activate m1" >> ${log}']}}]
        deactivate: [{exec: {argv: [/bin/sh, -c, 'echo "deactivate m1" >> ${log}']}}]
      - name: m2
        priority: 50
        health: []
        activate:
          - exec:
              argv: [/bin/sh, -c, 'echo "start m2" >> ${log}; echo $$ > ${pidFile}; sleep 2; echo "done m2" >> ${log}']
              timeout: 10s
    failback: {mode: manual}
`,
      });
      const d1 = startDaemon(bed, file);
      try {
        await d1.started();
        await sleep(300);
        expect((await cli(file, "failover", "job", "--to", "m2")).code).toBe(0);
        await waitFor(() => lines(log).includes("start m2") && existsSync(pidFile), { timeout: 5000 });
        // The intent is on disk before the action runs.
        expect(saved(d1).groups.job).toMatchObject({ active: "m2", intents: [{ from: "m1", to: "m2" }] });
      } finally {
        await d1.stop("SIGKILL");
      }
      // What systemd does to the rest of the service's cgroup: the action dies with the daemon.
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      await sleep(2500);
      expect(lines(log)).toEqual(["start m2"]);
      const d2 = startDaemon(bed, file);
      try {
        await d2.started();
        await waitFor(() => lines(log).includes("deactivate m1"), { timeout: 10_000 });
        expect(lines(log)).toEqual(["start m2", "start m2", "done m2", "deactivate m1"]);
        const job = d2.events().filter((e) => "group" in e && e.group === "job");
        expect(
          job.filter((e) => ["failover", "failback", "manual_switch"].includes(e.kind)).map((e) => e.kind),
        ).toEqual(["manual_switch"]);
        expect(job.filter((e) => e.kind === "switch_resumed")).toHaveLength(1);
        await waitFor(() => saved(d2).groups.job?.active === "m2" && !saved(d2).groups.job?.intents, {
          timeout: 3000,
        });
        expect((await status(file)).groups.find((g) => g.name === "job")?.active).toBe("m2");
        // And a second restart does nothing more.
        await d2.stop();
        const d3 = startDaemon(bed, file);
        try {
          await d3.started();
          await sleep(800);
          expect(lines(log)).toEqual(["start m2", "start m2", "done m2", "deactivate m1"]);
        } finally {
          await d3.stop();
        }
      } finally {
        await d2.stop();
      }
    }, 90_000);
  },
);

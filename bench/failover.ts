/**
 * Detection → route switch in the network-namespace testbed (test/e2e/testbed.ts), with the real daemon as a
 * user runs it: for each fault, N trials of inject → the host's default route moves to r2 (seen by
 * `ip monitor route`), then repair → the route moves back to r1; and the daemon's RSS and CPU while idle.
 * Needs root (namespaces); `npm run bench` skips it otherwise and says so.
 */
import { readFileSync } from "node:fs";
import { type RunningDaemon, startDaemon, tempDir, writeBedConfig } from "../test/e2e/daemon-harness.js";
import { DualUplinkTestbed, type Router, testbedSupport, waitFor } from "../test/e2e/testbed.js";

export interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly max: number;
  readonly min: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]!;
  return { n: s.length, p50: q(0.5), p90: q(0.9), max: s.at(-1)!, min: s[0]! };
}

export interface FaultResult {
  readonly fault: string;
  /** fault in effect (end of the inject command) → default route via r2 */
  readonly detectMs: Stats;
  /** repair done → default route via r1, minus the hold */
  readonly failbackBeyondHoldMs: Stats;
  /** the member judged healthy again → route via r1, minus the hold (timer precision) */
  readonly failbackAfterHealthyBeyondHoldMs: Stats;
}

const HOLD_MS = 1000;

async function healthyBoth(d: RunningDaemon, since: number): Promise<void> {
  await waitFor(
    () => {
      const h = new Map<string, string>();
      for (const e of d.events())
        if (e.kind === "health" && e.ts >= since) h.set(e.member as string, e.state as string);
      return h.get("isp-a") === "healthy" && h.get("isp-b") === "healthy";
    },
    { timeout: 15_000, interval: 50 },
  );
}

export async function benchFailover(
  trials: number,
  log: (l: string) => void,
): Promise<{ faults: FaultResult[]; idle: { rssMb: number; cpuPercent: number } } | string> {
  const support = await testbedSupport();
  if (!support.ok) return `skipped: ${support.reason}`;
  const bed = new DualUplinkTestbed({ tag: "bench", index: 40 });
  await bed.create();
  const watch = await bed.watchDefaultRoute();
  const faults: [string, (r: Router) => Promise<{ start: number; end: number }>][] = [
    ["a: link down", (r) => bed.linkDown(r)],
    ["b: router dead", (r) => bed.routerDead(r)],
    ["b2: gray failure", (r) => bed.grayFailure(r)],
    ["c: 50 % loss", (r) => bed.loss(r, 50)],
  ];
  const results: FaultResult[] = [];
  let idle = { rssMb: 0, cpuPercent: 0 };
  try {
    const dir = tempDir("sb-bench-");
    const config = writeBedConfig(bed, dir, { hold: `${HOLD_MS}ms`, recoverySamples: 2, flap: false });
    const d = startDaemon(bed, config);
    await d.started();
    try {
      await healthyBoth(d, 0);
      idle = await measureIdle(d.child.pid!, 10_000);
      log(
        `idle daemon: RSS ${idle.rssMb.toFixed(1)} MB, CPU ${idle.cpuPercent.toFixed(2)} % of a core (10 s, 2 probes at 100 ms + os collector)`,
      );
      for (const [name, inject] of faults) {
        const detect: number[] = [];
        const back: number[] = [];
        const backHealthy: number[] = [];
        for (let i = 0; i < trials; i++) {
          await healthyBoth(d, 0);
          if ((await bed.defaultRoute()).router !== "r1") throw new Error("route not via r1 before a trial");
          // Past the failback's probation (a relapse within `hold` of a failback doubles the next hold, which
          // would be measured instead), and decorrelated from the probe phase.
          await new Promise((r) => setTimeout(r, HOLD_MS + 300 + Math.random() * 200));
          const stamp = await inject("r1");
          const sw = await watch.next((e) => e.kind === "added" && e.router === "r2", {
            since: stamp.start,
            timeout: 15_000,
          });
          detect.push(sw.at - stamp.end);
          const rep = await bed.repair("r1");
          const wallRepaired = Date.now();
          const fb = await watch
            .next((e) => e.kind === "added" && e.router === "r1", { since: rep.start, timeout: 30_000 })
            .catch((err: unknown) => {
              for (const e of d.events().slice(-12)) log(`  event ${JSON.stringify(e).slice(0, 400)}`);
              throw err;
            });
          back.push(fb.at - rep.end - HOLD_MS);
          const healthyAt = d
            .events()
            .filter(
              (e) =>
                e.kind === "health" &&
                e.member === "isp-a" &&
                e.state === "healthy" &&
                e.ts >= wallRepaired - 50,
            )
            .at(0)?.ts;
          if (healthyAt !== undefined) backHealthy.push(fb.wall - healthyAt - HOLD_MS);
        }
        const r: FaultResult = {
          fault: name,
          detectMs: stats(detect),
          failbackBeyondHoldMs: stats(back),
          failbackAfterHealthyBeyondHoldMs: stats(backHealthy),
        };
        results.push(r);
        log(
          `failover ${name.padEnd(18)} detect→switch p50 ${r.detectMs.p50.toFixed(0)} ms, p90 ${r.detectMs.p90.toFixed(0)} ms, max ${r.detectMs.max.toFixed(0)} ms (n=${trials}); failback beyond hold: after repair p50 ${r.failbackBeyondHoldMs.p50.toFixed(0)} ms / max ${r.failbackBeyondHoldMs.max.toFixed(0)} ms, after healthy p50 ${r.failbackAfterHealthyBeyondHoldMs.p50.toFixed(0)} ms / max ${r.failbackAfterHealthyBeyondHoldMs.max.toFixed(0)} ms`,
        );
      }
    } finally {
      await d.stop();
    }
  } finally {
    await watch.stop();
    await bed.destroy();
  }
  return { faults: results, idle };
}

/** RSS at the end and CPU over `ms`, from /proc/PID. */
async function measureIdle(pid: number, ms: number): Promise<{ rssMb: number; cpuPercent: number }> {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 Hz)
  };
  const t0 = ticks();
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const cpu = ((ticks() - t0) / 100 / ((Date.now() - w0) / 1000)) * 100;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { rssMb: Number(rss) / 1024, cpuPercent: cpu };
}

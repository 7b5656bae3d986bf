/**
 * Detection → route switch in the network-namespace testbed (test/e2e/testbed.ts), with the real daemon as a
 * user runs it: for each fault, N trials of inject → the host's default route moves to r2 (seen by
 * `ip monitor route`), then repair → the route moves back to r1; and the daemon's RSS and CPU while idle.
 * Needs root (namespaces); `npm run bench` skips it otherwise and says so.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningDaemon, startDaemon, tempDir, writeBedConfig } from "../test/e2e/daemon-harness.js";
import { DualUplinkTestbed, type Router, testbedSupport, waitFor } from "../test/e2e/testbed.js";
import { descendants, type IdleResult, measureIdle, startFloor } from "./idle.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..").replace(/\/dist$/, "");
const IDLE_WARMUP_MS = Number(process.env.BENCH_IDLE_WARMUP_MS ?? 20_000);
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 20_000);
const IDLE_WINDOWS = Number(process.env.BENCH_IDLE_WINDOWS ?? 5);

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
): Promise<{ faults: FaultResult[]; idle: IdleResult | undefined } | string> {
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
  let idle: IdleResult | undefined;
  try {
    const dir = tempDir("sb-bench-");
    const config = writeBedConfig(bed, dir, { hold: `${HOLD_MS}ms`, recoverySamples: 2, flap: false });
    const d = startDaemon(bed, config);
    await d.started();
    try {
      await healthyBoth(d, 0);
      idle = await benchIdle(bed, dir, d, log);
      for (const [name, inject] of trials > 0 ? faults : []) {
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

/**
 * Idle cost, all measured in the same windows against the floor (an idle Node process, bench/idle.ts), in the
 * bed's host namespace:
 * - `bench`: the daemon the failover trials use (2 icmp probes at 100 ms, os collector, route actions);
 * - `bench-no-reconcile`: the same config without route actions, so reconcile never spawns `ip` (the difference
 *   is reconcile's share);
 * - `default`: the shipped etc/default.yaml (gateway probe at 1 s, os collector, no actions), its gateway being
 *   the bed's r1;
 * - a reference (not the floor): a Node process that reads the same two fping streams and ignores the lines.
 */
async function benchIdle(
  bed: DualUplinkTestbed,
  dir: string,
  bench: RunningDaemon,
  log: (l: string) => void,
): Promise<IdleResult> {
  // Same config, other API port, no route action: reconcile has nothing to check.
  const noRec = join(dir, "no-reconcile");
  mkdirSync(noRec, { recursive: true });
  writeFileSync(join(noRec, "rules.yaml"), readFileSync(join(dir, "rules.yaml")));
  writeFileSync(
    join(noRec, "standby.yaml"),
    readFileSync(join(dir, "standby.yaml"), "utf8")
      .replaceAll(join(dir, "state"), join(noRec, "state"))
      .replace(/activate:\n\s+- route: \{[^}]*\}/g, "activate: []")
      .replace("127.0.0.1:9477", "127.0.0.1:9478"),
  );
  // The shipped default, as scripts/run.sh runs it (rules beside it in ../rules, state in ../state).
  const def = join(dir, "default");
  mkdirSync(join(def, "etc"), { recursive: true });
  symlinkSync(join(ROOT, "rules"), join(def, "rules"));
  writeFileSync(
    join(def, "etc", "default.yaml"),
    readFileSync(join(ROOT, "etc", "default.yaml"), "utf8").replace("127.0.0.1:9477", "127.0.0.1:9479"),
  );
  const others = {
    "bench-no-reconcile": startDaemon(bed, join(noRec, "standby.yaml")),
    default: startDaemon(bed, join(def, "etc", "default.yaml")),
  };
  let floor: ChildProcess | undefined;
  let reader: ChildProcess | undefined;
  try {
    for (const o of Object.values(others)) await o.started();
    floor = startFloor((argv) => bed.spawnInHost(argv, { stdio: "ignore" }));
    // A reference, not a floor: Node reading the bench config's two fping streams and doing nothing with the
    // lines — what any Node program that probes this way pays before it looks at a line.
    const a = bed.addr;
    const fping = (src: string) =>
      `spawn("fping", ["-l", "-p", "100", "-t", "90", "-e", "-S", "${src}", "${a.far}"], {stdio: ["ignore", "pipe", "ignore"]}).stdout.setEncoding("utf8").on("data", (d) => { n += d.length; });`;
    reader = bed.spawnInHost(
      [
        process.execPath,
        "-e",
        `const { spawn } = require("node:child_process"); let n = 0; ${fping(a.host.r1)} ${fping(a.host.r2)}`,
      ],
      { stdio: "ignore" },
    );
    // JIT, first GCs, the first metrics.prom writes and reconciles: not what an idle daemon costs.
    await new Promise((r) => setTimeout(r, IDLE_WARMUP_MS));
    const r = await measureIdle(
      floor.pid!,
      {
        bench: bench.child.pid!,
        "bench-no-reconcile": others["bench-no-reconcile"].child.pid!,
        default: others.default.child.pid!,
        "reference: 2 fping streams read by node": reader.pid!,
      },
      { windowMs: IDLE_WINDOW_MS, windows: IDLE_WINDOWS },
    );
    const f = (x: number) => x.toFixed(3);
    log(
      `idle: floor (idle node) ${f(r.floorPercent)} % of a core (ticks ${f(r.floorTicksPercent)} %), RSS ${r.floorRssMb.toFixed(1)} MB; ${r.windows} windows of ${r.windowMs / 1000} s, medians`,
    );
    for (const [name, x] of Object.entries(r.daemons)) {
      log(
        `idle ${name.padEnd(20)} ${f(x.cpuPercent)} % of a core, above the floor ${f(x.aboveFloorPercent)} % (windows ${x.windowsAboveFloor.map(f).join(" ")}; ticks ${f(x.ticksPercent)} %), RSS ${x.rssMb.toFixed(1)} MB; its fping/ip monitor ${f(x.descendantsPercent)} %, reaped children ${f(x.reapedPercent)} %`,
      );
    }
    return r;
  } finally {
    floor?.kill("SIGKILL");
    if (reader?.pid) {
      for (const c of descendants(reader.pid)) process.kill(c, "SIGKILL");
      reader.kill("SIGKILL");
    }
    for (const o of Object.values(others)) await o.stop();
  }
}

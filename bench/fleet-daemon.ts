/**
 * Fleet mode through real daemons (issue 12): `standby run` processes in the fleet namespace of a FleetTopology
 * (test/peers/fleet-net.ts: a 3-member etcd in a network namespace, links to a router namespace "r1" listening on
 * TCP), started as test/integration/fleet-daemons.ts does but with the production V8 options (scripts/node-options,
 * as BenchDaemon).
 * - takeover: two daemons share the group `vip` (`scope: shared`); after a random wait (0.5 s + up to one keepalive
 *   period, TTL/4) the leader is SIGSTOPped; the time is the other's `leader_elected` event's `ts` (wall ms, from
 *   its event log) minus the SIGSTOP instant. The paused one is resumed and must be a follower of the new leader
 *   (status) before the next trial; the two alternate. At lease TTL 2 s and 5 s (fewer trials);
 * - the etcd round trips a switch adds: two daemons, alike but for the group's scope, `shared` (the intent written
 *   under the fencing token, the token compared again before the action) and `local`, each in a fleet of its own
 *   (own prefix) and probing r1 through its own link. A trial takes that daemon's link down (its r1 probe fails at
 *   once, ENETUNREACH; the other daemon's link stays up, so the trials are independent); the failover to r2 runs
 *   one exec action, `date +%s%N >> file`; the time is that timestamp minus the `failover` event's `ts`. Then the
 *   link comes back and the group is failed back with `standby failback vip --socket ...`. Shared and local trials
 *   alternate (which goes first alternates too).
 * Says "skipped: ..." without root, ip, etcd or dist/. Settings: BENCH_FLEET_TRIALS (10, takeover at TTL 2 s),
 * BENCH_FLEET_TRIALS_TTL5 (5; 0 skips TTL 5 s), BENCH_FLEET_SWITCH_TRIALS (10 per scope).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { assertBuilt, MAIN } from "../test/e2e/daemon-harness.js";
import { FleetDaemon, fleetConfig, sleep, waitFor } from "../test/integration/fleet-daemons.js";
import { FleetTopology } from "../test/peers/fleet-net.js";
import { type Dist, daemonNodeOptions, dist } from "./util.js";

const run = promisify(execFile);
const env = (name: string, def: number) => Number(process.env[name] ?? def);

export interface FleetDaemonBenchResult {
  readonly etcd: string;
  readonly nodeOptions: string;
  /** SIGSTOP of the leader → the other's leader_elected `ts`, ms, per lease TTL. */
  readonly takeover: { ttlMs: number; dist: Dist; trials: number[] }[];
  /** failover event `ts` → the action's own timestamp, ms. */
  readonly switchToAction: {
    shared: Dist & { trials: number[] };
    local: Dist & { trials: number[] };
    /** shared p50 − local p50 */
    diffP50: number;
  };
}

/** A FleetDaemon started with the production V8 options (scripts/node-options), as BenchDaemon. */
class BenchFleetDaemon extends FleetDaemon {
  override start(): Promise<void> {
    return super.start({
      ...process.env,
      NODE_OPTIONS: `${daemonNodeOptions()} ${process.env.NODE_OPTIONS ?? ""}`.trim(),
    });
  }
}

function takeoverConfig(topo: FleetTopology, link: number, ttlS: number) {
  return fleetConfig(topo, link, {
    prefix: `/bench-takeover-${ttlS}`,
    ttlS,
    groups: () => `  - name: vip
    scope: shared
    members:
      - {name: r1, priority: 100, health: [r1-down], activate: []}
      - {name: r2, priority: 50, health: [], activate: []}
    failback: {mode: manual}`,
  });
}

/** `date +%s%N` appended to the daemon's `file` (an exec action, through sh). */
const stampAction = (x: FleetDaemon, file: string) =>
  `{exec: {shell: true, argv: [${JSON.stringify(`date +%s%N >> ${join(x.dir, file)}`)}], timeout: 5s}}`;

function switchConfig(topo: FleetTopology, link: number, scope: "shared" | "local") {
  return fleetConfig(topo, link, {
    prefix: `/bench-switch-${scope}`,
    groups: (x) => `  - name: vip
    scope: ${scope}
    members:
      - {name: r1, priority: 100, health: [r1-down], activate: [${stampAction(x, "r1.stamps")}]}
      - {name: r2, priority: 50, health: [], activate: [${stampAction(x, "r2.stamps")}]}
    failback: {mode: manual}`,
  });
}

const stamps = (x: FleetDaemon, file: string): bigint[] => {
  const f = join(x.dir, file);
  return existsSync(f)
    ? readFileSync(f, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => BigInt(l.trim()))
    : [];
};

async function leads(x: FleetDaemon): Promise<boolean> {
  return (await x.fleetOf("vip")).role === "leader";
}

async function benchTakeover(
  topo: FleetTopology,
  root: string,
  ttlS: number,
  trials: number,
  log: (l: string) => void,
): Promise<number[]> {
  const d = [1, 2].map(
    (i) => new BenchFleetDaemon(topo, `t${ttlS}d${i}`, root, takeoverConfig(topo, i, ttlS)),
  );
  const times: number[] = [];
  try {
    await d[0]!.start();
    await waitFor("the first daemon to lead", () => leads(d[0]!), 20_000);
    await d[1]!.start();
    await waitFor("the second to follow", async () => {
      const f = await d[1]!.fleetOf("vip");
      return f.role === "follower" && f.leader === d[0]!.name;
    });
    let leader = d[0]!;
    for (let i = 0; i < trials; i++) {
      const other = d.find((x) => x !== leader)!;
      await sleep(500 + Math.random() * ((ttlS * 1000) / 4));
      const before = other.groupEvents("leader_elected").length;
      const stoppedAt = Date.now();
      leader.signal("SIGSTOP");
      const ev = await waitFor(
        `${other.name} elected`,
        () => other.groupEvents("leader_elected")[before],
        ttlS * 1000 + 10_000,
        20,
      );
      const took = ev.ts - stoppedAt;
      times.push(took);
      leader.signal("SIGCONT");
      const resumedAt = Date.now();
      await waitFor(`${leader.name} to follow ${other.name}`, async () => {
        const f = await leader.fleetOf("vip");
        return f.role === "follower" && f.leader === other.name;
      });
      log(
        `fleet-daemon: TTL ${ttlS} s, trial ${i + 1}: leader_elected on ${other.name} ${took} ms after SIGSTOP of ${leader.name}; resumed, a follower within ${Date.now() - resumedAt} ms`,
      );
      leader = other;
    }
  } finally {
    await Promise.allSettled(d.map((x) => x.stop()));
  }
  return times;
}

async function switchTrial(topo: FleetTopology, x: BenchFleetDaemon, link: number): Promise<number> {
  const fo = x.groupEvents("failover").length;
  const fb = x.groupEvents("manual_switch").length;
  const r2 = stamps(x, "r2.stamps").length;
  const r1 = stamps(x, "r1.stamps").length;
  await topo.linkDown(link);
  const ev = await waitFor(`${x.name}: failover`, () => x.groupEvents("failover")[fo], 10_000, 20);
  const stamp = await waitFor(`${x.name}: r2's action`, () => stamps(x, "r2.stamps")[r2], 10_000, 20);
  const ms = Number(stamp) / 1e6 - ev.ts;
  await topo.linkUp(link);
  await waitFor(`${x.name}: r1 healthy again`, async () => {
    const s = await x.status();
    return s.rules.every(
      (r: { rule: string; state: string }) => r.rule !== "r1-down" || r.state !== "firing",
    );
  });
  let said = "";
  await waitFor(
    `${x.name}: failed back`,
    async () => {
      if (x.groupEvents("manual_switch").length === fb)
        said = await run(
          process.execPath,
          [MAIN, "failback", "vip", "--socket", x.socket, "--config", x.configFile],
          { timeout: 5000 },
        ).then(
          (r) => `${r.stdout}${r.stderr}`,
          (e: { stdout?: string; stderr?: string; message: string }) =>
            `${e.stdout ?? ""}${e.stderr ?? e.message}`,
        );
      const g = (await x.status()).groups[0];
      const done =
        x.groupEvents("manual_switch").length > fb && stamps(x, "r1.stamps").length > r1 && g.active === "r1";
      if (!done) throw new Error(`failback said: ${said.trim()}; group: ${JSON.stringify(g).slice(0, 600)}`);
      return done;
    },
    15_000,
    300,
  );
  await sleep(300);
  return ms;
}

async function benchSwitch(
  topo: FleetTopology,
  root: string,
  trials: number,
  log: (l: string) => void,
): Promise<{ shared: number[]; local: number[] }> {
  const shared = new BenchFleetDaemon(topo, "shared", root, switchConfig(topo, 1, "shared"));
  const local = new BenchFleetDaemon(topo, "local", root, switchConfig(topo, 2, "local"));
  const out = { shared: [] as number[], local: [] as number[] };
  try {
    await Promise.all([shared.start(), local.start()]);
    await waitFor("the shared daemon to lead", () => leads(shared), 20_000);
    await sleep(1000);
    for (let i = 0; i < trials; i++) {
      const order = i % 2 === 0 ? (["shared", "local"] as const) : (["local", "shared"] as const);
      for (const which of order) {
        const ms = await switchTrial(topo, which === "shared" ? shared : local, which === "shared" ? 1 : 2);
        out[which].push(ms);
        log(`fleet-daemon: switch trial ${i + 1}, ${which}: failover event → action ${ms.toFixed(1)} ms`);
      }
    }
    for (const x of [shared, local]) {
      const fenced = x.eventsOf("switch_fenced").length + x.eventsOf("switch_failed").length;
      if (fenced > 0) log(`fleet-daemon: ${x.name}: ${fenced} switch_fenced/switch_failed events`);
    }
  } finally {
    await Promise.allSettled([shared.stop(), local.stop()]);
  }
  return out;
}

async function etcdVersion(topo: FleetTopology): Promise<string> {
  const r = await topo.execInFleet(["etcd", "--version"]).catch(() => undefined);
  return /etcd Version: (\S+)/.exec(r?.stdout ?? "")?.[1] ?? "unknown";
}

export async function benchFleetDaemon(log: (l: string) => void): Promise<FleetDaemonBenchResult | string> {
  const missing = FleetTopology.missing();
  if (missing !== undefined) return `skipped: ${missing}`;
  try {
    assertBuilt();
  } catch (err) {
    return `skipped: ${(err as Error).message}`;
  }
  const topo = await FleetTopology.create({ observers: 2 });
  const root = mkdtempSync(join(tmpdir(), "sb-bench-fleet-"));
  try {
    const version = await etcdVersion(topo);
    log(
      `fleet-daemon: etcd ${version}, 3 members in ${topo.ns}; daemons with NODE_OPTIONS "${daemonNodeOptions()}"`,
    );
    const takeover: FleetDaemonBenchResult["takeover"] = [];
    for (const [ttlS, trials] of [
      [2, env("BENCH_FLEET_TRIALS", 10)],
      [5, env("BENCH_FLEET_TRIALS_TTL5", 5)],
    ] as const) {
      if (trials <= 0) continue;
      const times = await benchTakeover(topo, root, ttlS, trials, log);
      const d = dist(times);
      takeover.push({ ttlMs: ttlS * 1000, dist: d, trials: times });
      log(
        `fleet-daemon: leader SIGSTOPped → leader_elected at TTL ${ttlS} s: p50 ${d.p50} ms, max ${d.max} ms, min ${d.min} ms (n=${d.n}); all ${times.join(" ")}`,
      );
    }
    const sw = await benchSwitch(topo, root, env("BENCH_FLEET_SWITCH_TRIALS", 10), log);
    const shared = { ...dist(sw.shared), trials: sw.shared.map((x) => Math.round(x * 10) / 10) };
    const local = { ...dist(sw.local), trials: sw.local.map((x) => Math.round(x * 10) / 10) };
    const diffP50 = Math.round((shared.p50 - local.p50) * 100) / 100;
    log(
      `fleet-daemon: failover event → action: shared p50 ${shared.p50} ms, max ${shared.max} ms; local p50 ${local.p50} ms, max ${local.max} ms; difference of the p50s ${diffP50} ms`,
    );
    return {
      etcd: version,
      nodeOptions: daemonNodeOptions(),
      takeover,
      switchToAction: { shared, local, diffP50 },
    };
  } finally {
    await topo.close();
    rmSync(root, { recursive: true, force: true });
  }
}

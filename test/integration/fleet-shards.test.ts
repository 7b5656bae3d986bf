/**
 * Acceptance of rendezvous sharding (docs/fleet.md "Rendezvous sharding of shared targets"): a real 3-member etcd
 * (test/peers/etcd.ts), three `standby run` processes (d1, d2, d3; lease_ttl 2 s) with the same 300 `shared: true`
 * snmp collectors (interval 2 s), all pointing at one real snmpd (test/peers/snmpd.ts) and reading one scalar
 * (sysUpTime, answered by snmpd itself, not the pass_persist simulator: 150 polls/s stay cheap).
 * - steady state: the three daemons agree on the shard map and each target is polled by exactly one daemon, about
 *   once per interval (runs counted per target and daemon over a window, from the collectors' stats in
 *   `GET /v1/status` on each daemon's socket);
 * - d2 reloaded (SIGHUP: its collectors rebuilt): the same map, still one poller per target;
 * - d1 SIGKILLed: every target is polled again within TTL + interval (the time is measured and printed), the moved
 *   targets (`movedTargets` of the maps before and after) are exactly d1's, 20–47 % of them, the `shards_moved`
 *   events of d2 and d3 count them; after the change no target is polled twice.
 * snmp rather than IPMI: one snmpd serves 300 targets over UDP in-process, where IPMI would need one ipmitool
 * process per poll (150 forks/s). Needs etcd and snmpd; under CI=true a missing one fails the run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { movedTargets } from "../../src/cluster/shard.js";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Etcd } from "../peers/etcd.js";
import { COMMUNITY, Snmpd, snmpdMissing } from "../peers/snmpd.js";

const missing = Etcd.missing() ?? snmpdMissing();
failInCiWhenMissing("fleet shards", missing);

const TARGETS = 300;
const INTERVAL = 2000;
const TTL = 2000;
const NAMES = ["d1", "d2", "d3"] as const;
const targetName = (i: number) => `t${String(i).padStart(3, "0")}`;
const ALL = Array.from({ length: TARGETS }, (_, i) => targetName(i));

interface Status {
  last_reload?: { ts: number; ok: boolean; message: string };
  collectors: { name: string; stats?: { runs: number; lastOk?: boolean; lastError?: string } }[];
  events: { kind: string; moved?: number; targets?: string[]; reason: string }[];
  fleet?: { instances: { name: string }[]; shards?: Record<string, string[]>; available: boolean };
}

function getStatus(socket: string): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: "/v1/status", timeout: 3000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as Status);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("status timed out")));
    req.on("error", reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs per target of one daemon (0 for a target it never polled). */
const runsOf = (s: Status) => new Map(s.collectors.map((c) => [c.name, c.stats?.runs ?? 0]));

const toMap = (shards: Record<string, string[]>) => new Map(Object.entries(shards));

describe.skipIf(missing !== undefined)("fleet: 300 shared targets sharded over 3 daemons", () => {
  const etcd = new Etcd();
  const agent = new Snmpd();
  const dir = mkdtempSync(join(tmpdir(), "sb-shards-"));
  const prefix = `/sb-test-${Math.random().toString(36).slice(2, 10)}`;
  const daemons = new Map<string, { child: ChildProcess; socket: string; stderr: string }>();

  const config = (name: string) =>
    [
      `host: ${name}`,
      `state_dir: ${join(dir, name, "state")}`,
      `api: {socket: ${join(dir, name, "api.sock")}}`,
      `cluster: {etcd: [${etcd.endpoints.join(", ")}], lease_ttl: 2s, name: ${name}, prefix: ${prefix}}`,
      "collectors:",
      ...ALL.map(
        (t) =>
          `  - {name: ${t}, type: snmp, interval: 2s, shared: true, target: {host: 127.0.0.1, port: ${agent.port}, community: ${COMMUNITY}, timeout: 500ms, retries: 1}, oids: [{metric: snmp.uptime, oid: 1.3.6.1.2.1.1.3.0}]}`,
      ),
      "groups: []",
      "",
    ].join("\n");

  const status = (name: string) => getStatus(daemons.get(name)!.socket);
  const statuses = async (names: readonly string[]) =>
    new Map(await Promise.all(names.map(async (n) => [n, await status(n)] as const)));

  /** Waits until the named daemons agree on a shard map of exactly those instances; returns it. */
  async function agreed(names: readonly string[], ms: number): Promise<Map<string, string[]>> {
    const t0 = Date.now();
    let last = "";
    while (Date.now() - t0 < ms) {
      const all = await statuses(names).catch(() => undefined);
      if (all) {
        const maps = [...all.values()].map((s) => JSON.stringify(s.fleet?.shards ?? {}));
        last = maps.join(" | ").slice(0, 300);
        const m = JSON.parse(maps[0]!) as Record<string, string[]>;
        const total = Object.values(m).reduce((n, l) => n + l.length, 0);
        if (
          maps.every((x) => x === maps[0]) &&
          Object.keys(m).sort().join() === [...names].sort().join() &&
          total === TARGETS
        )
          return toMap(m);
      }
      await sleep(200);
    }
    throw new Error(`no agreed shard map of ${names.join(", ")} within ${ms} ms: ${last}`);
  }

  /**
   * Counts the runs of every target on every named daemon over `ms`; expects each target polled by exactly one
   * daemon (its owner in `map`), about once per interval.
   */
  async function pollsOnce(names: readonly string[], map: Map<string, string[]>, ms: number): Promise<void> {
    const before = await statuses(names);
    await sleep(ms);
    const after = await statuses(names);
    const owners = new Map<string, string>();
    for (const [n, ts] of map) for (const t of ts) owners.set(t, n);
    const twice: string[] = [];
    const wrong: string[] = [];
    const failing: string[] = [];
    const rates: number[] = [];
    for (const t of ALL) {
      const polling = names
        .map((n) => [n, (runsOf(after.get(n)!).get(t) ?? 0) - (runsOf(before.get(n)!).get(t) ?? 0)] as const)
        .filter(([, d]) => d > 0);
      if (polling.length !== 1)
        twice.push(`${t}: ${polling.map(([n, d]) => `${n}×${d}`).join(", ") || "none"}`);
      else if (polling[0]![0] !== owners.get(t))
        wrong.push(`${t} by ${polling[0]![0]}, owner ${owners.get(t)}`);
      else {
        rates.push(polling[0]![1]);
        const st = after.get(polling[0]![0])!.collectors.find((c) => c.name === t)?.stats;
        if (st?.lastOk !== true) failing.push(`${t}: ${st?.lastError ?? "no run finished"}`);
      }
    }
    expect(twice, "targets not polled by exactly one daemon").toEqual([]);
    expect(wrong, "targets polled by a daemon that does not own them").toEqual([]);
    expect(failing, "polls that snmpd did not answer").toEqual([]);
    // ±10 % jitter on a 2 s interval: 6 s hold 2.7–3.3 intervals.
    const expected = ms / INTERVAL;
    expect(Math.min(...rates)).toBeGreaterThanOrEqual(Math.floor(expected * 0.85));
    expect(Math.max(...rates)).toBeLessThanOrEqual(Math.ceil(expected * 1.15));
  }

  beforeAll(async () => {
    assertBuilt();
    await Promise.all([etcd.start(), agent.start()]);
    for (const name of NAMES) {
      const d = join(dir, name);
      rmSync(d, { recursive: true, force: true });
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, config(name));
      const child = spawn(process.execPath, [MAIN, "run", "--config", file], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      const entry = { child, socket: join(d, "api.sock"), stderr: "" };
      child.stderr!.setEncoding("utf8").on("data", (s: string) => {
        entry.stderr = (entry.stderr + s).slice(-20_000);
      });
      daemons.set(name, entry);
    }
    const t0 = Date.now();
    for (const name of NAMES) {
      while (!(await status(name).catch(() => undefined))) {
        const d = daemons.get(name)!;
        if (d.child.exitCode !== null || Date.now() - t0 > 15_000)
          throw new Error(`${name} did not start: ${d.stderr.slice(-2000)}`);
        await sleep(100);
      }
    }
  }, 40_000);

  afterAll(async () => {
    for (const d of daemons.values()) if (d.child.exitCode === null) d.child.kill("SIGKILL");
    await Promise.allSettled([etcd.destroy(), agent.close()]);
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  let before: Map<string, string[]>;

  it("steady state: one shard map everywhere, each target polled by exactly one daemon once per interval", async () => {
    before = await agreed(NAMES, 15_000);
    const sizes = NAMES.map((n) => before.get(n)!.length);
    console.log(`shard map of 3 daemons: ${NAMES.map((n, i) => `${n} ${sizes[i]}`).join(", ")}`);
    for (const n of sizes) expect(n).toBeGreaterThan(TARGETS * 0.2);
    // A daemon that has just handed a target over may still finish one poll of it: start counting after that.
    await sleep(INTERVAL);
    await pollsOnce(NAMES, before, 3 * INTERVAL);
  }, 30_000);

  it("a reload (SIGHUP) rebuilds the collectors and keeps the shard map", async () => {
    const t0 = Date.now();
    daemons.get("d2")!.child.kill("SIGHUP");
    let reload: Status["last_reload"];
    while (!(reload && reload.ts >= t0) && Date.now() - t0 < 10_000) {
      reload = (await status("d2")).last_reload;
      await sleep(100);
    }
    expect(reload, "d2's reload").toMatchObject({ ok: true });
    expect(await agreed(NAMES, 5000)).toEqual(before);
    await sleep(INTERVAL);
    await pollsOnce(NAMES, before, 3 * INTERVAL);
  }, 30_000);

  it("one daemon SIGKILLed: its targets are polled again within TTL + interval, only they move", async () => {
    const rest = ["d2", "d3"] as const;
    const atKill = await statuses(rest);
    const runsAtKill = new Map(rest.map((n) => [n, runsOf(atKill.get(n)!)]));
    const killed = performance.now();
    daemons.get("d1")!.child.kill("SIGKILL");
    // Every target (d1's included) polled anew by d2 or d3, and when: the takeover time.
    const lastSeen = new Map<string, number>();
    while (lastSeen.size < TARGETS && performance.now() - killed < TTL + INTERVAL + 5000) {
      const now = await statuses(rest);
      const at = performance.now() - killed;
      for (const n of rest)
        for (const [t, runs] of runsOf(now.get(n)!))
          if (runs > (runsAtKill.get(n)!.get(t) ?? 0) && !lastSeen.has(t)) lastSeen.set(t, at);
      await sleep(50);
    }
    const dead = before.get("d1")!;
    const takeover = Math.max(...dead.map((t) => lastSeen.get(t) ?? Number.POSITIVE_INFINITY));
    const allAgain = Math.max(...ALL.map((t) => lastSeen.get(t) ?? Number.POSITIVE_INFINITY));
    console.log(
      `d1 SIGKILLed: its ${dead.length} targets all polled again by d2/d3 after ${Math.round(takeover)} ms; all ${TARGETS} after ${Math.round(allAgain)} ms (TTL ${TTL} + interval ${INTERVAL})`,
    );
    expect(lastSeen.size).toBe(TARGETS);
    // Sampled every ~50–100 ms, and a poll's run is counted when it starts: a little slack over TTL + interval.
    expect(allAgain).toBeLessThanOrEqual(TTL + INTERVAL + 500);

    const after = await agreed(rest, 10_000);
    const moved = movedTargets(before, after);
    console.log(
      `moved: ${moved.length} of ${TARGETS} (${((100 * moved.length) / TARGETS).toFixed(1)} %): d1's ${dead.length}; ` +
        `${moved.filter((m) => m.to === "d2").length} to d2, ${moved.filter((m) => m.to === "d3").length} to d3`,
    );
    expect(moved.length).toBe(dead.length);
    expect(moved.every((m) => m.from === "d1")).toBe(true);
    expect(moved.map((m) => m.target)).toEqual([...dead].sort());
    expect(moved.length).toBeGreaterThanOrEqual(TARGETS * 0.2);
    expect(moved.length).toBeLessThanOrEqual(TARGETS * 0.47);
    // What survived kept its owner.
    for (const n of rest) for (const t of before.get(n)!) expect(after.get(n)).toContain(t);
    // Each survivor recorded the change with the moved count.
    for (const n of rest) {
      const events = (await status(n)).events.filter((e) => e.kind === "shards_moved");
      const last = events.at(-1);
      expect(last, `${n}'s shards_moved event`).toBeDefined();
      expect(last!.moved).toBe(dead.length);
      expect([...last!.targets!].sort()).toEqual([...after.get(n)!].sort());
    }

    await sleep(INTERVAL);
    await pollsOnce(rest, after, 3 * INTERVAL);
  }, 40_000);
});

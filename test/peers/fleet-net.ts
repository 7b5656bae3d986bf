/**
 * A fleet topology in network namespaces, for fleet-mode acceptance tests: several standby daemons that share one
 * etcd cluster and each observe a router "r1" through their own network link, so that one observer's link can
 * fail while the others still see r1.
 *
 * ```
 * sb-fl<id> ("fleet")                                         sb-r1<id> ("router r1")
 *  lo 127.0.0.1: etcd m1..m3 (client + peer ports)             lo up
 *  sbl1 10.231.1.1/24 ──────────── veth ──────────── sbr1 10.231.1.2/24 ┐
 *  sbl2 10.231.2.1/24 ──────────── veth ──────────── sbr2 10.231.2.2/24 ├ TCP :7000 on 0.0.0.0 (accept, close)
 *  sbl3 10.231.3.1/24 ──────────── veth ──────────── sbr3 10.231.3.2/24 ┘
 * ```
 * Links are numbered from 1. The fleet namespace has no default route: 10.231.i.2 is reached only through link i
 * (its connected route), so `linkDown(i)` (fleet side `sbl<i>` down, which also removes that route) fails exactly
 * observer i's path: a connect to r1Address(i) then fails at once (ENETUNREACH), the others still succeed.
 * `r1.stop()` kills the listener: every link then sees ECONNREFUSED (r1 really failed).
 *
 * Addresses are fixed: they live in this topology's own namespaces, so parallel topologies never collide. The
 * names do not: `<id>` is `<pid base36>.<4 random chars>` (e.g. sb-fl1k3.x9q2), and create() first deletes the
 * namespaces of earlier topologies whose process is gone (a killed run). Interface names are ≤ 15 chars (sbl1...).
 * Every veth end is created directly inside its namespace: nothing touches the host's interfaces or routes.
 *
 * The etcd cluster (test/peers/etcd.ts with `netns`) runs inside the fleet namespace on its loopback; its
 * endpoints (http://127.0.0.1:PORT) are valid there, i.e. for processes started with spawnInFleet.
 * The harness kills every process it started (spawnInFleet, the r1 listener; etcd.ts kills its members) and
 * deletes its namespaces when the test process exits; close() does the same in order and tolerates a partial setup.
 * Needs root, `ip` (iproute2) and `etcd`. No vitest here.
 *
 * Cleanup without close(): vitest stops its fork workers with SIGTERM, which skips 'exit' handlers, so a
 * SIGTERM/SIGINT/SIGHUP handler (common.ts, cleanupOnTermination) kills what the harness started (etcd members
 * too), deletes the namespaces and exits 128+n. A SIGKILLed test process leaves
 * everything behind: the next create() deletes the namespaces (their processes keep running until killed).
 *
 * Timings on the 2-core dev machine: create() 0.6–1.1 s alone (etcd's first election dominates; ~2.9 s with two
 * other test files starting etcd at the same time), close() 30–90 ms. A node process in the fleet namespace
 * (`ip netns exec` + node start, execInFleet) ≈ 100–130 ms; etcd.healthy() there ≈ 115–170 ms (it is one);
 * linkDown/linkUp ≈ 6–10 ms each; r1.stop() + r1.start() ≈ 100–115 ms.
 *
 * API: `fleetTopology({ observers })` → FleetTopology { id, ns, r1ns, observers, etcd, r1.start()/stop()/running,
 * r1Address(i), fleetAddress(i), iface(i), linkDown(i), linkUp(i), spawnInFleet(argv, opts), execInFleet(argv),
 * namespaces(), close() }; `FleetTopology.missing()` / `fleetMissing()`; R1_PORT.
 */
import { type ChildProcess, execFileSync, type SpawnOptions, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type ExecResult, run } from "../e2e/testbed.js";
import { cleanupOnTermination, killGroup } from "./common.js";
import { Etcd, etcdMissing } from "./etcd.js";

/** The port r1 listens on (every address). */
export const R1_PORT = 7000;

export interface FleetOptions {
  /** How many observers, i.e. veth links between the fleet namespace and r1 (default 3, at most 250). */
  observers?: number;
  /** etcd members (default 3). */
  etcdMembers?: number;
  /** Per-command timeout for `ip` calls, ms (default 10 s). */
  commandTimeout?: number;
}

/** Fleet-side interface of link i (1-based). */
export const fleetIface = (i: number) => `sbl${i}`;
/** r1-side interface of link i. */
export const r1Iface = (i: number) => `sbr${i}`;

const NAME_RE = /^sb-(?:fl|r1)([0-9a-z]+)\.[0-9a-z]{4}$/;

/** Every process the harness started (spawnInFleet, r1 listeners), killed if the test process exits. */
const liveProcs = new Set<ChildProcess>();
/** Every topology not closed yet: its namespaces are deleted and etcd members killed if the test process exits. */
const liveTopos = new Set<FleetTopology>();

/** Synchronous last-resort cleanup (process exit or a terminating signal). */
function cleanupNow(): void {
  for (const c of liveProcs) killGroup(c, "SIGKILL");
  for (const t of liveTopos) {
    for (let i = 0; i < t.etcd.size; i++) {
      const pid = t.etcd.pid(i);
      if (pid !== undefined) killPid(pid);
    }
    for (const ns of [t.ns, t.r1ns]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore", timeout: 5000 });
      } catch {
        // best effort (already gone?): the next topology's create() sweeps namespaces whose process is gone
      }
    }
  }
  liveTopos.clear();
}

// Also on SIGTERM/SIGINT/SIGHUP: vitest ends its fork workers with SIGTERM, which skips 'exit' handlers; without
// this a test file that never called close() would leave its namespaces, r1 and etcd members running.
cleanupOnTermination(cleanupNow);

function killPid(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

/** SIGTERM to the group, SIGKILL after `grace` ms; resolves when the process has gone. */
async function stopGroup(c: ChildProcess, grace = 2000): Promise<void> {
  if (c.pid === undefined || exited(c)) return;
  const gone = new Promise<void>((resolve) => {
    c.once("exit", () => resolve());
    c.once("error", () => resolve());
  });
  killGroup(c, "SIGTERM");
  const t = setTimeout(() => killGroup(c, "SIGKILL"), grace);
  await gone;
  clearTimeout(t);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Why the topology cannot be built here (not Linux, not root, no `ip`, no `etcd`), or undefined when it can. */
export function fleetMissing(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "network namespaces need root";
  if (spawnSync("sh", ["-c", "command -v ip"]).status !== 0)
    return "ip (iproute2) is not installed (scripts/test-deps.sh)";
  return etcdMissing();
}

/** r1's listener: accepts every connection and closes it; prints "ready" once listening. */
const R1_SCRIPT = `const s = require("node:net").createServer((c) => c.destroy());
s.listen(Number(process.argv[1]), "0.0.0.0", () => process.stdout.write("ready\\n"));`;

export class FleetTopology {
  /** Why it cannot run here, or undefined. */
  static missing(): string | undefined {
    return fleetMissing();
  }

  /** Builds a topology (see fleetTopology()). */
  static async create(opts: FleetOptions = {}): Promise<FleetTopology> {
    const t = new FleetTopology(opts);
    try {
      await t.build();
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  readonly id: string;
  /** The fleet namespace (etcd, the observers' ends of the links, spawnInFleet). */
  readonly ns: string;
  /** Router r1's namespace. */
  readonly r1ns: string;
  readonly observers: number;
  /** The etcd cluster inside the fleet namespace (endpoints valid there). */
  readonly etcd: Etcd;
  /** r1's listener: start() (at create) and stop() (r1 fails: connection refused on every link). */
  readonly r1: { start(): Promise<void>; stop(): Promise<void>; readonly running: boolean };
  private readonly timeout: number;
  private readonly children = new Set<ChildProcess>();
  private listener: ChildProcess | undefined;
  private closed = false;

  private constructor(opts: FleetOptions) {
    const n = opts.observers ?? 3;
    if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error(`observers must be 1..250, got ${n}`);
    this.observers = n;
    this.timeout = opts.commandTimeout ?? 10_000;
    const rand = randomBytes(4).toString("hex").slice(0, 4);
    this.id = `${process.pid.toString(36)}.${rand}`;
    this.ns = `sb-fl${this.id}`;
    this.r1ns = `sb-r1${this.id}`;
    this.etcd = new Etcd({ netns: this.ns, members: opts.etcdMembers ?? 3 });
    const self = this;
    this.r1 = {
      start: () => self.startR1(),
      stop: () => self.stopR1(),
      get running() {
        return self.listener !== undefined && !exited(self.listener);
      },
    };
  }

  /** r1's address on link i: 10.231.i.2. */
  r1Address(i: number): string {
    return `10.231.${this.link(i)}.2`;
  }

  /** The fleet's (observer i's) address on link i: 10.231.i.1. */
  fleetAddress(i: number): string {
    return `10.231.${this.link(i)}.1`;
  }

  /** The fleet-side interface of link i (sbl<i>). */
  iface(i: number): string {
    return fleetIface(this.link(i));
  }

  /** Observer i's path fails: the fleet side of link i goes down (its connected route goes with it). */
  async linkDown(i: number): Promise<void> {
    await this.ip(["-n", this.ns, "link", "set", this.iface(i), "down"]);
  }

  /** Undoes linkDown(i). */
  async linkUp(i: number): Promise<void> {
    await this.ip(["-n", this.ns, "link", "set", this.iface(i), "up"]);
  }

  /**
   * Runs `argv` inside the fleet namespace (`ip netns exec NS argv...`, which execs in place: the pid is the
   * program's). Detached (its own process group) unless opts say otherwise; stopped by close() and killed when the
   * test process exits.
   */
  spawnInFleet(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (argv.length === 0) throw new Error("spawnInFleet: empty argv");
    if (this.closed) throw new Error("spawnInFleet: the topology is closed");
    const child = spawn("ip", ["netns", "exec", this.ns, ...argv], { detached: true, ...opts });
    this.track(child);
    return child;
  }

  /** Runs `argv` inside the fleet namespace to completion (execFile, timeout). */
  execInFleet(argv: readonly string[], timeoutMs = this.timeout): Promise<ExecResult> {
    return run("ip", ["netns", "exec", this.ns, ...argv], { timeout: timeoutMs });
  }

  /** The namespaces of this topology that exist now. */
  async namespaces(): Promise<string[]> {
    const names = await listNamespaces(this.timeout);
    return names.filter((n) => n === this.ns || n === this.r1ns);
  }

  /**
   * Stops every process started here (spawnInFleet, r1), destroys etcd (members and data), deletes both
   * namespaces (the veths go with them). Idempotent; tolerates a partial setup; never throws (reports on stderr).
   */
  async close(): Promise<void> {
    this.closed = true;
    const problems: string[] = [];
    const step = async (what: string, f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
    };
    await step("processes", () => Promise.all([...this.children].map((c) => stopGroup(c))));
    await step("etcd", () => this.etcd.destroy());
    const present = await listNamespaces(this.timeout).catch(() => [this.ns, this.r1ns]);
    for (const ns of [this.ns, this.r1ns]) {
      if (present.includes(ns)) await step(`netns del ${ns}`, () => this.ip(["netns", "del", ns]));
    }
    liveTopos.delete(this);
    if (problems.length > 0)
      process.stderr.write(`fleet topology ${this.id}: close: ${problems.join("; ")}\n`);
  }

  // ---- internals -----------------------------------------------------------------------------------------------

  private async build(): Promise<void> {
    await sweepLeftovers(this.timeout);
    liveTopos.add(this);
    const links = Array.from({ length: this.observers }, (_, k) => k + 1);
    await this.batch(null, [
      `netns add ${this.ns}`,
      `netns add ${this.r1ns}`,
      ...links.map(
        (i) =>
          `link add ${fleetIface(i)} netns ${this.ns} type veth peer name ${r1Iface(i)} netns ${this.r1ns}`,
      ),
    ]);
    await Promise.all([
      this.batch(this.ns, [
        "link set lo up",
        ...links.flatMap((i) => [
          `addr add ${this.fleetAddress(i)}/24 dev ${fleetIface(i)}`,
          `link set ${fleetIface(i)} up`,
        ]),
      ]),
      this.batch(this.r1ns, [
        "link set lo up",
        ...links.flatMap((i) => [
          `addr add ${this.r1Address(i)}/24 dev ${r1Iface(i)}`,
          `link set ${r1Iface(i)} up`,
        ]),
      ]),
    ]);
    await Promise.all([this.startR1(), this.etcd.start()]);
  }

  private async startR1(): Promise<void> {
    if (this.r1.running) return;
    const child = spawn(
      "ip",
      ["netns", "exec", this.r1ns, process.execPath, "-e", R1_SCRIPT, String(R1_PORT)],
      { detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.track(child);
    this.listener = child;
    let err = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        killGroup(child, "SIGKILL");
        reject(new Error(`r1 listener not ready within ${this.timeout} ms: ${err.trim()}`));
      }, this.timeout);
      let out = "";
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`r1 listener exited (${code ?? sig}) before it listened: ${err.trim()}`));
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private async stopR1(): Promise<void> {
    const c = this.listener;
    this.listener = undefined;
    if (c === undefined || exited(c)) return;
    const gone = new Promise((r) => c.once("exit", r));
    killGroup(c, "SIGKILL");
    await gone;
  }

  private track(child: ChildProcess): void {
    this.children.add(child);
    liveProcs.add(child);
    const forget = () => {
      this.children.delete(child);
      liveProcs.delete(child);
    };
    child.once("exit", forget);
    child.once("error", forget);
  }

  private link(i: number): number {
    if (!Number.isInteger(i) || i < 1 || i > this.observers)
      throw new Error(`fleet topology: no link ${i} (1..${this.observers})`);
    return i;
  }

  private async ip(args: string[]): Promise<ExecResult> {
    return run("ip", args, { timeout: this.timeout, check: true });
  }

  /** `ip [-n NS] -batch -` with these commands (one process). */
  private async batch(ns: string | null, cmds: string[]): Promise<void> {
    const args = ns === null ? ["-batch", "-"] : ["-n", ns, "-batch", "-"];
    await run("ip", args, { timeout: this.timeout, check: true, input: `${cmds.join("\n")}\n` });
  }
}

/** Every network namespace's name. */
async function listNamespaces(timeout: number): Promise<string[]> {
  const res = await run("ip", ["-j", "netns", "list"], { timeout, check: true });
  const text = res.stdout.trim();
  return text ? (JSON.parse(text) as { name: string }[]).map((e) => e.name) : [];
}

/** Deletes the namespaces of earlier topologies whose process is gone (a killed test run). */
async function sweepLeftovers(timeout: number): Promise<void> {
  for (const name of await listNamespaces(timeout)) {
    const m = NAME_RE.exec(name);
    if (!m) continue;
    const pid = Number.parseInt(m[1]!, 36);
    if (pid === process.pid || alive(pid)) continue;
    await run("ip", ["netns", "del", name], { timeout }).catch(() => {});
  }
}

/**
 * Builds the fleet topology: both namespaces, `observers` links, r1 listening, etcd healthy inside the fleet
 * namespace. On failure it removes what it made and throws. Call close() when done (afterAll).
 */
export function fleetTopology(opts: FleetOptions = {}): Promise<FleetTopology> {
  return FleetTopology.create(opts);
}

/**
 * A dual-uplink testbed in network namespaces, for end-to-end failover tests and benchmarks
 * (shared/recipes/netns.md). Needs root, iproute2 (`ip`), nftables (`nft`), procps (`sysctl`) and iputils `ping`
 * (scripts/test-deps.sh installs them). Nothing here touches the root namespace's interfaces or routes: every veth
 * end is created directly inside its namespace.
 *
 * ```
 * sb-<tag>-host            sb-<tag>-r1                        sb-<tag>-net
 *  h-r1 10.<B>.1.2/24 ── r1-h 10.<B>.1.1/24  r1-n 10.<B>.11.1/30 ── n-r1 10.<B>.11.2/30 ┐
 *  h-r2 10.<B>.2.2/24 ── r2-h 10.<B>.2.1/24  r2-n 10.<B>.12.1/30 ── n-r2 10.<B>.12.2/30 ┴ lo 198.51.100.<10+i>/32
 *                         sb-<tag>-r2
 * ```
 * Addresses per index i (0..55), B = 200 + i. Index 0 is exactly the recipe's layout (and the example configs'):
 *
 * | what                          | address                         | index 0          | index 3          |
 * |-------------------------------|---------------------------------|------------------|------------------|
 * | host on the r1 link (h-r1)    | 10.B.1.2/24                     | 10.200.1.2       | 10.203.1.2       |
 * | r1 towards the host (r1-h)    | 10.B.1.1/24 (gateway 1)         | 10.200.1.1       | 10.203.1.1       |
 * | host on the r2 link (h-r2)    | 10.B.2.2/24                     | 10.200.2.2       | 10.203.2.2       |
 * | r2 towards the host (r2-h)    | 10.B.2.1/24 (gateway 2)         | 10.200.2.1       | 10.203.2.1       |
 * | r1 – net transfer (r1-n/n-r1) | 10.B.11.1/30 – 10.B.11.2/30     | 10.200.11.1/.2   | 10.203.11.1/.2   |
 * | r2 – net transfer (r2-n/n-r2) | 10.B.12.1/30 – 10.B.12.2/30     | 10.200.12.1/.2   | 10.203.12.1/.2   |
 * | far host (net ns, lo)         | 198.51.100.(10+i)/32            | 198.51.100.10    | 198.51.100.13    |
 * | far subnet (routed by r1, r2) | 198.51.100.0/24                 |                  |                  |
 *
 * The beds are fully isolated from each other (own namespaces, own routing tables), so equal addresses would not
 * clash; they differ per index anyway so that logs, captures and configs of parallel tests are unambiguous. Give
 * each test file its own tag AND index. In use: testbed.test.ts = tag "tb", index 15.
 *
 * Host routing: main table `default via <gateway 1>` at start; policy routing so that each uplink can be probed
 * while the other carries the traffic: table 101 = {10.B.1.0/24 dev h-r1, default via gateway 1}, table 102 =
 * {10.B.2.0/24 dev h-r2, default via gateway 2}, rules `from 10.B.1.2 lookup 101` (pref 1001) and
 * `from 10.B.2.2 lookup 102` (pref 1002). A probe bound to a source address (`ping -I 10.B.1.2`) goes via that
 * uplink whatever the main table says.
 *
 * Faults (each undone by `repair(r)`, which repairs every fault injected into that router, idempotently):
 * - `linkDown(r)`: `ip -n R link set rX-h down` (the host's h-rX loses carrier: LOWERLAYERDOWN / NO-CARRIER).
 * - `routerDead(r)`: nftables table `inet sb_dead` in R, policy drop on input and forward (the router still answers
 *   ARP, as in the recipe; `{ arp: true }` adds an `arp` table that drops ARP as well, like a powered-off box).
 * - `grayFailure(r)`: `ip route replace blackhole 198.51.100.0/24` in R: the gateway answers pings, forwards nothing.
 * - `loss(r, P)`: nftables table `inet sb_loss` in R: `iifname "rX-h" numgen random mod 100 < P drop` on forward and
 *   input. Only packets coming *from the host* are dropped, so a ping through (or to) the router loses P % of its
 *   round trips (dropping both directions would give 1-(1-P)² ≈ 75 % for P = 50). Delay is not offered: this kernel
 *   has no netem (the recipe's NFQUEUE approach would be a separate helper).
 *
 * Which router carries traffic (`trafficPath()`): the far namespace has an nftables table `inet sb_count` that
 * counts, per incoming link (n-r1 / n-r2), ICMP echo requests of one marker size (`ping -s 1111`, IP length 1139).
 * trafficPath pings the far host a few times with that size, without a source address (so the host's main table
 * decides, as for any application), and reports which link's counter moved. Chosen over `ping -R` and over the
 * routers' interface counters because: it counts only packets that really arrived (a dead or gray router that
 * swallows them does not count), it ignores everything else crossing the routers (the daemon's own probes, ARP,
 * other tests' pings), and it needs no IP options (record-route is dropped by some paths and holds 9 hops).
 * It costs about 3 pings plus two `nft` calls (≈ 50–100 ms; ≈ 0.4 s when nothing gets through).
 *
 * API in short (all async; commands are run with execFile and a timeout, default 10 s):
 * - `new DualUplinkTestbed({ tag, index })`, `create()` (removes leftovers `sb-<tag>-*` first, resolves when the far
 *   host answers via both uplinks), `destroy()` (idempotent, never throws; stops watches and spawned processes).
 *   use-testbed.ts has `describeWithTestbed(name, opts, body)` for vitest (beforeAll/afterAll, skip or CI failure).
 * - faults: `linkDown`, `routerDead`, `grayFailure`, `loss`, each returning a `Stamp` (performance.now() around the
 *   command: the fault took effect in between, so `end - t` is a lower and `start - t` an upper bound of a
 *   latency measured back to it); `repair(r)`, `repairAll()`, `activeFaults(r)`.
 * - reality: `defaultRoute()`, `setDefaultRoute(r)`, `trafficPath()` / `probeTraffic()`, `ping(target, {via})`,
 *   `exec(node, argv)`, `ipBatch(node, cmds)`, `nft(node, script)`, `spawnInHost(argv, opts)`, `namespaces()`.
 * - timing: `waitFor(fn, { timeout, interval })`, `watchDefaultRoute(onChange)` → `{ events, next(pred), stop() }`.
 *
 * Timings on the 2-core dev machine (medians, with other work running; test/e2e/testbed.test.ts prints them):
 * - create() ≈ 100–230 ms depending on load (two beds in parallel ≈ 650 ms), destroy() ≈ 20–30 ms.
 * - `ip route replace default ...` as a process ≈ 6–16 ms (min 5 ms, p90 up to 30 ms under load); through a
 *   running `ip -batch -` it is microseconds.
 * - a fault or repair command (one `ip -n` or `ip netns exec nft` process): ≈ 6–15 ms from start to end.
 * - watchDefaultRoute: a change written to a running `ip -batch -` reaches onChange in ≈ 0.2–0.6 ms (p90 ≈ 4 ms,
 *   rare event-loop stalls up to 50 ms); after an `ip route replace` process the event arrives ≈ 0.5 ms *before*
 *   node sees that process exit. So the monitor adds well under a millisecond to a measured switch time.
 * - ARP after a link repair: if the host kept sending during the outage, 1 repair in 4 waits ≈ 0.9–1 s for the
 *   next ARP retransmission (neigh retrans_time_ms = 1000; the entry sits INCOMPLETE/FAILED), the others get a
 *   reply within ≈ 0.2–12 ms of repair()'s end; a ping started after the repair gets its first reply ≈ 6–25 ms
 *   after it (that includes starting ping in the namespace).
 */
import { type ChildProcess, execFile, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { cleanupOnTermination } from "../peers/common.js";

export type Router = "r1" | "r2";
export type Node = "host" | Router | "net";
export type Fault = "linkDown" | "routerDead" | "grayFailure" | "loss";

export const ROUTERS: readonly Router[] = ["r1", "r2"];
export const NODES: readonly Node[] = ["host", "r1", "r2", "net"];
/** The highest index whose second octet (200 + index) is still an octet. */
export const MAX_INDEX = 55;
/** Payload size of trafficPath's marker pings (IP length = size + 28). */
export const MARKER_SIZE = 1111;
/** The far subnet the routers route (and blackhole in a gray failure). */
export const FAR_SUBNET = "198.51.100.0/24";

export interface Addressing {
  /** 200 + index: the second octet of every 10.x address of this bed. */
  readonly octet: number;
  /** The host's address on each uplink (h-r1, h-r2). */
  readonly host: Readonly<Record<Router, string>>;
  /** Each router's address towards the host: the gateways. */
  readonly gateway: Readonly<Record<Router, string>>;
  /** The host-side subnets, CIDR. */
  readonly hostSubnet: Readonly<Record<Router, string>>;
  /** Each router's address towards the net namespace. */
  readonly routerUplink: Readonly<Record<Router, string>>;
  /** The net namespace's address towards each router. */
  readonly netSide: Readonly<Record<Router, string>>;
  /** The far host (on the net namespace's loopback) and the subnet the routers route to it. */
  readonly far: string;
  readonly farSubnet: string;
  /** Policy-routing table of each uplink on the host. */
  readonly table: Readonly<Record<Router, number>>;
}

/** The addresses of the bed with this index (see the table at the top of this file). */
export function addressing(index: number): Addressing {
  if (!Number.isInteger(index) || index < 0 || index > MAX_INDEX) {
    throw new TestbedError(`testbed index must be an integer 0..${MAX_INDEX}, got ${index}`);
  }
  const o = 200 + index;
  return {
    octet: o,
    host: { r1: `10.${o}.1.2`, r2: `10.${o}.2.2` },
    gateway: { r1: `10.${o}.1.1`, r2: `10.${o}.2.1` },
    hostSubnet: { r1: `10.${o}.1.0/24`, r2: `10.${o}.2.0/24` },
    routerUplink: { r1: `10.${o}.11.1`, r2: `10.${o}.12.1` },
    netSide: { r1: `10.${o}.11.2`, r2: `10.${o}.12.2` },
    far: `198.51.100.${10 + index}`,
    farSubnet: FAR_SUBNET,
    table: { r1: 101, r2: 102 },
  };
}

/** Interface names (the same in every bed: they live in the bed's own namespaces). */
export const IFACE = {
  /** host side of the link to router r */
  host: (r: Router) => `h-${r}`,
  /** router r's side of the host link (what linkDown sets down) */
  routerHost: (r: Router) => `${r}-h`,
  /** router r's side of the link to the net namespace */
  routerNet: (r: Router) => `${r}-n`,
  /** the net namespace's side of the link to router r */
  net: (r: Router) => `n-${r}`,
} as const;

export class TestbedError extends Error {
  override name = "TestbedError";
}

// ---------------------------------------------------------------------------------------------------------------
// Running commands

export interface ExecResult {
  /** exit code; null when killed by a signal */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** wall time of the process, milliseconds */
  readonly ms: number;
}

export interface ExecOptions {
  /** default 10 s; the process is killed (SIGKILL) after it and the call throws */
  timeout?: number;
  /** written to the process's standard input */
  input?: string;
  /** throw a TestbedError when the exit code is not 0 (default false: the caller reads `code`) */
  check?: boolean;
}

const DEFAULT_TIMEOUT = 10_000;

/** Runs a program (no shell). Throws when it cannot start or times out; a non-zero exit is returned, or thrown with `check`. */
export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeout ?? DEFAULT_TIMEOUT;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        const ms = performance.now() - started;
        const cmd = [file, ...args].join(" ");
        if (err) {
          const e = err as NodeJS.ErrnoException & {
            killed?: boolean;
            code?: number | string;
            signal?: string;
          };
          if (e.code === "ENOENT") {
            reject(
              new TestbedError(`${file}: command not found (run scripts/test-deps.sh as root to install it)`),
            );
            return;
          }
          if (e.killed) {
            reject(new TestbedError(`killed after ${Math.round(ms)} ms (timeout ${timeout} ms): ${cmd}`));
            return;
          }
          if (typeof e.code !== "number" && !e.signal) {
            reject(new TestbedError(`${cmd}: ${e.message}`));
            return;
          }
        }
        const code = err ? ((err as { code?: unknown }).code as number | undefined) : 0;
        const signal = err
          ? (((err as { signal?: unknown }).signal as NodeJS.Signals | undefined) ?? null)
          : null;
        const result: ExecResult = { code: code ?? null, signal, stdout, stderr, ms };
        if (opts.check && result.code !== 0) {
          const why = stderr.trim() || stdout.trim() || `exit ${result.code ?? result.signal}`;
          reject(new TestbedError(`${cmd} failed: ${why}`));
          return;
        }
        resolve(result);
      },
    );
    if (child.stdin) {
      child.stdin.on("error", () => {}); // a program that exits early closes its stdin: not our error
      child.stdin.end(opts.input ?? "");
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitOptions {
  /** give up after this many ms (default 5000) */
  timeout?: number;
  /** pause between calls, ms (default 50); the predicate's own time adds to it */
  interval?: number;
  /** what is awaited, for the error message */
  message?: string;
}

/**
 * Polls `fn` until it returns a truthy value, and returns that value. A throwing `fn` counts as false (the last
 * error is in the timeout message). Throws a TestbedError after `timeout`.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const timeout = opts.timeout ?? 5000;
  const interval = opts.interval ?? 50;
  const deadline = performance.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, false | null | undefined | 0 | "">;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new TestbedError(
        `timed out after ${timeout} ms waiting for ${opts.message ?? "a condition"}${why}`,
      );
    }
    await sleep(Math.max(0, Math.min(interval, deadline - performance.now())));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Can this machine run a bed?

export const REQUIRED_TOOLS = ["ip", "nft", "sysctl", "ping"] as const;

/** The required tools that are not installed. */
export async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of REQUIRED_TOOLS) {
    const found = await run("sh", ["-c", 'command -v "$1"', "sh", tool], { timeout: 5000 }).catch(() => null);
    if (found?.code !== 0) missing.push(tool);
  }
  return missing;
}

export type Support = { ok: true } | { ok: false; reason: string };

/** Whether beds can be built here: root, and the tools. */
export async function testbedSupport(): Promise<Support> {
  if (process.platform !== "linux") return { ok: false, reason: "network namespaces need Linux" };
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return { ok: false, reason: "network namespaces need root" };
  }
  const missing = await missingTools();
  if (missing.length > 0) {
    return { ok: false, reason: `missing ${missing.join(", ")} (run scripts/test-deps.sh as root)` };
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------------------------
// Cleanup when the process exits without destroy() (a failed beforeAll, an uncaught error)

const live = new Set<DualUplinkTestbed>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Also on SIGTERM: vitest ends its fork workers with it, which skips 'exit' handlers.
  cleanupOnTermination(() => {
    for (const bed of live) bed.killNow();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The bed

export interface TestbedOptions {
  /** short tag, [a-z0-9]{1,8}: namespaces are sb-<tag>-host, -r1, -r2, -net */
  tag: string;
  /** 0..55, selects the addresses (see the top of this file) */
  index: number;
  /** per-command timeout, ms (default 10 s) */
  commandTimeout?: number;
}

export interface DefaultRoute {
  /** the router whose gateway the route uses; null when there is no default route or it uses another gateway */
  readonly router: Router | null;
  readonly via: string | null;
  readonly dev: string | null;
  /** every default route of the main table, lowest metric first (the first is the one in use) */
  readonly all: ReadonlyArray<{ via: string | null; dev: string | null; metric: number }>;
}

export interface PingOptions {
  /** namespace to ping from (default "host") */
  from?: Node;
  /** bind the source address of this uplink (host only): the policy rules send the probe via that router */
  via?: Router;
  /** default 3 */
  count?: number;
  /** seconds between pings (default 0.02; below 0.2 needs root) */
  interval?: number;
  /** seconds to wait for a reply (default 0.5) */
  wait?: number;
  /** payload bytes */
  size?: number;
}

export interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly ms: number;
}

export interface TrafficProbe {
  /** the router whose link delivered most of the marker pings to the far host; "none" if none arrived */
  readonly path: Router | "none";
  /** marker pings that arrived at the far host through each router */
  readonly arrived: Readonly<Record<Router, number>>;
  readonly sent: number;
  readonly received: number;
}

export interface DefaultRouteEvent {
  readonly kind: "added" | "deleted";
  readonly via: string | null;
  readonly dev: string | null;
  readonly router: Router | null;
  /** performance.now() when the line reached this process */
  readonly at: number;
  /** Date.now() at the same moment */
  readonly wall: number;
  readonly line: string;
}

export interface RouteWatch {
  /** every default-route event seen so far */
  readonly events: readonly DefaultRouteEvent[];
  /** the first event from now on (or already seen after `since`, a performance.now() value) matching `pred` */
  next(
    pred?: (e: DefaultRouteEvent) => boolean,
    opts?: { timeout?: number; since?: number },
  ): Promise<DefaultRouteEvent>;
  /** ends the `ip monitor` process */
  stop(): Promise<void>;
}

/**
 * performance.now() just before a fault (or repair) command started and just after it ended: the change took
 * effect in between (for one `ip`/`nft` process, typically within the last few ms before `end`).
 */
export interface Stamp {
  readonly start: number;
  readonly end: number;
}

/** The nftables tables the faults create in a router (family and name). */
const FAULT_TABLES = ["inet sb_dead", "arp sb_dead_arp", "inet sb_loss"] as const;
const TAG_RE = /^[a-z0-9]{1,8}$/;
const SENTINEL_TABLE = 250;
const SENTINEL_DST = "192.0.2.255";

export class DualUplinkTestbed {
  readonly tag: string;
  readonly index: number;
  readonly addr: Addressing;
  /** namespace names */
  readonly ns: Readonly<Record<Node, string>>;
  private readonly timeout: number;
  private readonly faults: Record<Router, Set<Fault>> = { r1: new Set(), r2: new Set() };
  private readonly children = new Set<ChildProcess>();
  private readonly watches = new Set<RouteWatch>();
  /** The watches' `ip monitor` processes (killNow). */
  private readonly monitors = new Set<ChildProcess>();
  private probeLock: Promise<unknown> = Promise.resolve();
  private created = false;

  constructor(opts: TestbedOptions) {
    if (!TAG_RE.test(opts.tag)) throw new TestbedError(`testbed tag must match ${TAG_RE}, got "${opts.tag}"`);
    this.tag = opts.tag;
    this.index = opts.index;
    this.addr = addressing(opts.index);
    this.timeout = opts.commandTimeout ?? DEFAULT_TIMEOUT;
    const p = `sb-${opts.tag}-`;
    this.ns = { host: `${p}host`, r1: `${p}r1`, r2: `${p}r2`, net: `${p}net` };
  }

  /** Prefix of every namespace of this tag. */
  get prefix(): string {
    return `sb-${this.tag}-`;
  }

  // ---- life cycle ---------------------------------------------------------------------------------------------

  /**
   * Builds the bed, first deleting any namespace left by an earlier run of this tag. Resolves once the far host
   * answers through both uplinks. On failure it removes what it made and throws.
   */
  async create(): Promise<void> {
    await this.stopProcesses();
    await this.removeLeftovers();
    live.add(this);
    installExitHook();
    try {
      await this.build();
      this.created = true;
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  private async build(): Promise<void> {
    const { ns, addr: a } = this;
    const root = [
      ...NODES.map((n) => `netns add ${ns[n]}`),
      ...ROUTERS.flatMap((r) => [
        `link add ${IFACE.host(r)} netns ${ns.host} type veth peer name ${IFACE.routerHost(r)} netns ${ns[r]}`,
        `link add ${IFACE.routerNet(r)} netns ${ns[r]} type veth peer name ${IFACE.net(r)} netns ${ns.net}`,
      ]),
    ];
    await this.ipBatch(null, root);

    const host = [
      "link set lo up",
      ...ROUTERS.flatMap((r) => [
        `addr add ${a.host[r]}/24 dev ${IFACE.host(r)}`,
        `link set ${IFACE.host(r)} up`,
      ]),
      `route add default via ${a.gateway.r1} dev ${IFACE.host("r1")}`,
      ...ROUTERS.flatMap((r) => [
        `route add ${a.hostSubnet[r]} dev ${IFACE.host(r)} table ${a.table[r]}`,
        `route add default via ${a.gateway[r]} dev ${IFACE.host(r)} table ${a.table[r]}`,
        `rule add from ${a.host[r]} lookup ${a.table[r]} pref ${1000 + a.table[r] - 100}`,
      ]),
    ];
    const router = (r: Router) => [
      "link set lo up",
      `addr add ${a.gateway[r]}/24 dev ${IFACE.routerHost(r)}`,
      `addr add ${a.routerUplink[r]}/30 dev ${IFACE.routerNet(r)}`,
      `link set ${IFACE.routerHost(r)} up`,
      `link set ${IFACE.routerNet(r)} up`,
      `route add ${a.farSubnet} via ${a.netSide[r]}`,
    ];
    const net = [
      "link set lo up",
      `addr add ${a.far}/32 dev lo`,
      ...ROUTERS.flatMap((r) => [
        `addr add ${a.netSide[r]}/30 dev ${IFACE.net(r)}`,
        `link set ${IFACE.net(r)} up`,
        `route add ${a.hostSubnet[r]} via ${a.routerUplink[r]}`,
      ]),
    ];
    const len = MARKER_SIZE + 28;
    const counters = [
      "table inet sb_count {",
      "  chain c_input {",
      "    type filter hook input priority -10; policy accept;",
      ...ROUTERS.map((r) => `    iifname "${IFACE.net(r)}" icmp type echo-request ip length ${len} counter`),
      "  }",
      "}",
    ].join("\n");
    await Promise.all([
      this.ipBatch("host", host),
      ...ROUTERS.map(async (r) => {
        await this.ipBatch(r, router(r));
        await this.exec(r, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], { check: true });
      }),
      (async () => {
        await this.ipBatch("net", net);
        await this.nft("net", counters);
      })(),
    ]);
    for (const r of ROUTERS) {
      await waitFor(async () => (await this.ping(a.far, { via: r, count: 1, wait: 0.2 })).received > 0, {
        timeout: 5000,
        interval: 20,
        message: `the far host ${a.far} to answer via ${r} after create`,
      });
    }
  }

  /**
   * Removes the bed: stops route watches and processes started with spawnInHost, deletes every namespace of the
   * tag. Idempotent; never throws (problems are reported on stderr).
   */
  async destroy(): Promise<void> {
    try {
      await this.stopProcesses();
      await this.removeLeftovers();
    } catch (err) {
      process.stderr.write(`testbed ${this.tag}: destroy: ${(err as Error).message}\n`);
    } finally {
      live.delete(this);
      this.created = false;
      this.faults.r1.clear();
      this.faults.r2.clear();
    }
  }

  /**
   * The last resort when the test process ends without destroy(): SIGKILL to the programs it started (the daemon,
   * route watches), its namespaces deleted — synchronously, as an exit handler must.
   */
  killNow(): void {
    for (const c of this.children) c.kill("SIGKILL");
    for (const c of this.monitors) c.kill("SIGKILL");
    for (const name of Object.values(this.ns)) {
      try {
        execFileSync("ip", ["netns", "del", name], { stdio: "ignore", timeout: 5000 });
      } catch {
        // best effort: the next create() of this tag removes leftovers too
      }
    }
  }

  private async stopProcesses(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.stop().catch(() => {})));
    await Promise.all([...this.children].map((c) => stopChild(c)));
  }

  /** The namespaces of this tag that exist now (sb-<tag>-*). */
  async namespaces(): Promise<string[]> {
    const res = await run("ip", ["-j", "netns", "list"], { timeout: this.timeout });
    if (res.code !== 0) return [];
    const text = res.stdout.trim();
    const list = text ? (JSON.parse(text) as Array<{ name: string }>) : [];
    return list.map((e) => e.name).filter((n) => n.startsWith(this.prefix));
  }

  private async removeLeftovers(): Promise<void> {
    const names = new Set([...Object.values(this.ns), ...(await this.namespaces().catch(() => []))]);
    const res = await run("ip", ["-force", "-batch", "-"], {
      input: `${[...names].map((n) => `netns del ${n}`).join("\n")}\n`,
      timeout: this.timeout,
    }).catch((err: Error) => ({ code: 1, stderr: err.message }));
    const left = await this.namespaces().catch(() => []);
    if (left.length > 0) {
      throw new TestbedError(`could not delete namespaces ${left.join(", ")}: ${res.stderr.trim()}`);
    }
  }

  // ---- commands -----------------------------------------------------------------------------------------------

  /** Runs argv inside a namespace of this bed (`ip netns exec NS argv...`). Non-zero exits are returned unless `check`. */
  exec(node: Node, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run("ip", ["netns", "exec", this.ns[node], ...argv], { timeout: this.timeout, ...opts });
  }

  /** `ip [-n NS] -batch -` with these commands; throws on the first failing one. */
  async ipBatch(node: Node | null, commands: readonly string[]): Promise<ExecResult> {
    const args = node ? ["-n", this.ns[node], "-batch", "-"] : ["-batch", "-"];
    return run("ip", args, { input: `${commands.join("\n")}\n`, timeout: this.timeout, check: true });
  }

  /** Loads an nftables script in a namespace (`nft -f -`). */
  nft(node: Node, script: string): Promise<ExecResult> {
    return this.exec(node, ["nft", "-f", "-"], { input: `${script}\n`, check: true });
  }

  /**
   * Starts argv in the host namespace (`ip netns exec HOST argv...`, where ip execs argv: the child's pid is the
   * program's). destroy() stops it (SIGTERM, then SIGKILL after 2 s) if it still runs.
   */
  spawnInHost(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (argv.length === 0) throw new TestbedError("spawnInHost needs a command");
    const child = spawn("ip", ["netns", "exec", this.ns.host, ...argv], opts);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    child.once("error", () => this.children.delete(child));
    return child;
  }

  // ---- routes -------------------------------------------------------------------------------------------------

  /** The host's main-table default route (`ip -n HOST -j route show default`). */
  async defaultRoute(): Promise<DefaultRoute> {
    const res = await this.run("ip", ["-n", this.ns.host, "-4", "-j", "route", "show", "default"]);
    const text = res.stdout.trim();
    const routes = (text ? JSON.parse(text) : []) as Array<{
      gateway?: string;
      dev?: string;
      metric?: number;
    }>;
    const all = routes
      .map((r) => ({ via: r.gateway ?? null, dev: r.dev ?? null, metric: r.metric ?? 0 }))
      .sort((x, y) => x.metric - y.metric);
    const first = all[0];
    return {
      router: first ? this.routerOf(first.via) : null,
      via: first?.via ?? null,
      dev: first?.dev ?? null,
      all,
    };
  }

  /** `ip route replace default via <gateway of r>` in the host, as a process (what a route action does). */
  async setDefaultRoute(r: Router): Promise<ExecResult> {
    return this.run("ip", [
      "-n",
      this.ns.host,
      "route",
      "replace",
      "default",
      "via",
      this.addr.gateway[r],
      "dev",
      IFACE.host(r),
    ]);
  }

  /** Which router a gateway address belongs to. */
  routerOf(address: string | null | undefined): Router | null {
    if (address === this.addr.gateway.r1) return "r1";
    if (address === this.addr.gateway.r2) return "r2";
    return null;
  }

  /**
   * Reports the host's main-table IPv4 default route changing, the moment `ip -4 -n HOST monitor route` prints
   * it. Resolves once the monitor is subscribed (proved by a sentinel route it must see: an unreachable
   * 192.0.2.255/32 added to and deleted from table 250 of the host). Each event carries performance.now() and
   * Date.now() taken when the line reached this process. `ip route replace` shows as one "added" event with the
   * new gateway; `ip route del` as "deleted".
   */
  async watchDefaultRoute(onChange?: (e: DefaultRouteEvent) => void): Promise<RouteWatch> {
    const child = spawn("ip", ["-4", "-n", this.ns.host, "monitor", "route"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.monitors.add(child);
    child.once("exit", () => this.monitors.delete(child));
    const events: DefaultRouteEvent[] = [];
    const waiters = new Set<{
      pred: (e: DefaultRouteEvent) => boolean;
      resolve: (e: DefaultRouteEvent) => void;
    }>();
    let sentinelSeen = false;
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const at = performance.now();
      const wall = Date.now();
      if (line.includes(SENTINEL_DST) && line.includes(`table ${SENTINEL_TABLE}`)) {
        sentinelSeen = true;
        return;
      }
      const m = /^(Deleted )?default (.*)$/.exec(line.trim());
      if (!m || / table /.test(` ${m[2]} `)) return;
      const rest = m[2] ?? "";
      const via = /\bvia (\S+)/.exec(rest)?.[1] ?? null;
      const dev = /\bdev (\S+)/.exec(rest)?.[1] ?? null;
      const ev: DefaultRouteEvent = {
        kind: m[1] ? "deleted" : "added",
        via,
        dev,
        router: this.routerOf(via),
        at,
        wall,
        line,
      };
      events.push(ev);
      onChange?.(ev);
      for (const w of waiters) {
        if (w.pred(ev)) {
          waiters.delete(w);
          w.resolve(ev);
        }
      }
    });
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null) resolve();
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    this.children.add(child);
    child.once("close", () => this.children.delete(child));

    const watch: RouteWatch = {
      events,
      next: (pred = () => true, opts = {}) => {
        const since = opts.since;
        if (since !== undefined) {
          const seen = events.find((e) => e.at >= since && pred(e));
          if (seen) return Promise.resolve(seen);
        }
        const timeout = opts.timeout ?? 10_000;
        return new Promise<DefaultRouteEvent>((resolve, reject) => {
          const w = {
            pred,
            resolve: (e: DefaultRouteEvent) => {
              clearTimeout(timer);
              resolve(e);
            },
          };
          const timer = setTimeout(() => {
            waiters.delete(w);
            reject(new TestbedError(`no matching default-route change within ${timeout} ms`));
          }, timeout);
          waiters.add(w);
        });
      },
      stop: async () => {
        this.watches.delete(watch);
        lines.close();
        await stopChild(child);
        await exited;
      },
    };
    this.watches.add(watch);

    try {
      const sentinel = `unreachable ${SENTINEL_DST}/32 table ${SENTINEL_TABLE}`;
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new TestbedError(`ip monitor exited: ${stderr.trim()}`);
          await this.run("ip", ["-n", this.ns.host, "route", "replace", ...sentinel.split(" ")]);
          await this.run("ip", ["-n", this.ns.host, "route", "del", ...sentinel.split(" ")]);
          await sleep(5);
          return sentinelSeen;
        },
        { timeout: 5000, interval: 10, message: "ip monitor route to start" },
      );
    } catch (err) {
      await watch.stop();
      throw err;
    }
    return watch;
  }

  // ---- probes -------------------------------------------------------------------------------------------------

  /** Pings `target` (iputils ping, quiet) and counts replies. Never throws for lost pings. */
  async ping(target: string, opts: PingOptions = {}): Promise<PingResult> {
    const from = opts.from ?? "host";
    const count = opts.count ?? 3;
    const args = ["ping", "-n", "-q", "-c", String(count), "-i", String(opts.interval ?? 0.02)];
    args.push("-W", String(opts.wait ?? 0.5));
    if (opts.size !== undefined) args.push("-s", String(opts.size));
    if (opts.via) {
      if (from !== "host") throw new TestbedError("ping: `via` binds a host address, so `from` must be host");
      args.push("-I", this.addr.host[opts.via]);
    }
    args.push(target);
    const res = await this.exec(from, args, { timeout: this.timeout + count * 1000 });
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(res.stdout);
    if (!m) {
      // e.g. "connect: Network is unreachable" before any packet left
      return { sent: 0, received: 0, ms: res.ms };
    }
    return { sent: Number(m[1]), received: Number(m[2]), ms: res.ms };
  }

  /**
   * Which router the host's traffic to the far host takes now: sends `count` marker pings (no source address, so the
   * main table decides) and reads the far namespace's per-link counters. See the top of this file.
   */
  async trafficPath(count = 3): Promise<Router | "none"> {
    return (await this.probeTraffic(count)).path;
  }

  /** trafficPath with the counts. Calls are serialised (the counters are shared). */
  probeTraffic(count = 3): Promise<TrafficProbe> {
    const next = this.probeLock.then(async () => {
      const before = await this.markerCounts();
      const ping = await this.ping(this.addr.far, { count, size: MARKER_SIZE, interval: 0.02, wait: 0.3 });
      const after = await this.markerCounts();
      const arrived = { r1: after.r1 - before.r1, r2: after.r2 - before.r2 };
      const path: Router | "none" =
        arrived.r1 === 0 && arrived.r2 === 0 ? "none" : arrived.r1 >= arrived.r2 ? "r1" : "r2";
      return { path, arrived, sent: ping.sent, received: ping.received };
    });
    this.probeLock = next.catch(() => {});
    return next;
  }

  private async markerCounts(): Promise<Record<Router, number>> {
    const res = await this.exec("net", ["nft", "-j", "list", "table", "inet", "sb_count"], { check: true });
    const doc = JSON.parse(res.stdout) as { nftables: Array<Record<string, unknown>> };
    const counts: Record<Router, number> = { r1: 0, r2: 0 };
    for (const item of doc.nftables) {
      const rule = item.rule as { expr?: Array<Record<string, unknown>> } | undefined;
      if (!rule?.expr) continue;
      let router: Router | null = null;
      let packets = 0;
      for (const e of rule.expr) {
        const match = e.match as { left?: { meta?: { key?: string } }; right?: unknown } | undefined;
        if (match?.left?.meta?.key === "iifname") {
          router = ROUTERS.find((r) => IFACE.net(r) === match.right) ?? null;
        }
        const counter = e.counter as { packets?: number } | undefined;
        if (counter) packets = counter.packets ?? 0;
      }
      if (router) counts[router] += packets;
    }
    return counts;
  }

  // ---- faults -------------------------------------------------------------------------------------------------

  /** The faults injected into router r and not repaired yet. */
  activeFaults(r: Router): Fault[] {
    return [...this.faults[r]];
  }

  /** Sets router r's host-facing veth end down: the host's h-rX loses carrier. */
  linkDown(r: Router): Promise<Stamp> {
    return this.inject(r, "linkDown", () => this.ipBatch(r, [`link set ${IFACE.routerHost(r)} down`]));
  }

  /** Router r drops everything it receives or forwards (IP); with `arp` it stops answering ARP too. */
  routerDead(r: Router, opts: { arp?: boolean } = {}): Promise<Stamp> {
    const chains = [
      "  chain c_input { type filter hook input priority 0; policy drop; }",
      "  chain c_forward { type filter hook forward priority 0; policy drop; }",
    ];
    const script = [
      "table inet sb_dead {}",
      "delete table inet sb_dead",
      "table inet sb_dead {",
      ...chains,
      "}",
      "table arp sb_dead_arp {}",
      "delete table arp sb_dead_arp",
      ...(opts.arp
        ? [
            "table arp sb_dead_arp {",
            "  chain c_input { type filter hook input priority 0; policy drop; }",
            "}",
          ]
        : []),
    ];
    return this.inject(r, "routerDead", () => this.nft(r, script.join("\n")));
  }

  /** Router r still answers pings to itself but blackholes the far subnet. */
  grayFailure(r: Router): Promise<Stamp> {
    return this.inject(r, "grayFailure", () =>
      this.ipBatch(r, [`route replace blackhole ${this.addr.farSubnet}`]),
    );
  }

  /** Router r drops `percent` % of the packets it receives from the host (forwarded or addressed to it). */
  async loss(r: Router, percent: number): Promise<Stamp> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new TestbedError(`loss percent must be an integer 0..100, got ${percent}`);
    }
    // numgen's range is 0..99: 100 % is a plain drop, 0 % a table without rules
    const iif = `iifname "${IFACE.routerHost(r)}"`;
    const rule =
      percent === 0
        ? ""
        : percent === 100
          ? ` ${iif} drop;`
          : ` ${iif} numgen random mod 100 < ${percent} drop;`;
    const script = [
      "table inet sb_loss {}",
      "delete table inet sb_loss",
      "table inet sb_loss {",
      `  chain c_input { type filter hook input priority 0; policy accept;${rule} }`,
      `  chain c_forward { type filter hook forward priority 0; policy accept;${rule} }`,
      "}",
    ];
    return this.inject(r, "loss", () => this.nft(r, script.join("\n")));
  }

  /**
   * Undoes the faults injected into router r: only their commands (so the returned Stamp is tight: a link repair
   * is one `ip -n R link set rX-h up`). With `{ all: true }`, or when no fault is recorded (e.g. one made by hand
   * with exec), it sweeps: deletes every fault nftables table, sets the link up, restores the route to the far
   * subnet. Idempotent. The host may still need a moment (ARP, up to ~1 s) before traffic flows again: wait for
   * it with waitFor and ping.
   */
  async repair(r: Router, opts: { all?: boolean } = {}): Promise<Stamp> {
    const f = this.faults[r];
    const all = opts.all === true || f.size === 0;
    const tables = FAULT_TABLES.filter((t) => all || f.has(t.endsWith("sb_loss") ? "loss" : "routerDead"));
    const ipCommands = [
      ...(all || f.has("linkDown") ? [`link set ${IFACE.routerHost(r)} up`] : []),
      ...(all || f.has("grayFailure")
        ? [`route replace ${this.addr.farSubnet} via ${this.addr.netSide[r]} dev ${IFACE.routerNet(r)}`]
        : []),
    ];
    // "add an empty table, delete it" removes a table whether or not it exists, in one atomic transaction
    const nftScript = tables.flatMap((t) => [`table ${t} {}`, `delete table ${t}`]).join("\n");
    const start = performance.now();
    await Promise.all([
      tables.length > 0 ? this.nft(r, nftScript) : null,
      ipCommands.length > 0 ? this.ipBatch(r, ipCommands) : null,
    ]);
    const end = performance.now();
    f.clear();
    return { start, end };
  }

  /** repair() on both routers. */
  async repairAll(): Promise<void> {
    await Promise.all(ROUTERS.map((r) => this.repair(r)));
  }

  private async inject(r: Router, fault: Fault, apply: () => Promise<unknown>): Promise<Stamp> {
    const start = performance.now();
    await apply();
    const end = performance.now();
    this.faults[r].add(fault);
    return { start, end };
  }

  /** Whether create() has completed (and destroy() not yet been called). */
  get isCreated(): boolean {
    return this.created;
  }

  private run(file: string, args: readonly string[]): Promise<ExecResult> {
    return run(file, args, { timeout: this.timeout, check: true });
  }
}

/** SIGTERM, then SIGKILL after `grace` ms; resolves when the process has gone. */
async function stopChild(child: ChildProcess, grace = 2000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), grace);
  await gone;
  clearTimeout(timer);
}

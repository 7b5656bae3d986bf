/**
 * A real etcd cluster for tests and benchmarks: three private members of Debian's etcd 3.4 (never the system
 * service), client and peer URLs on free loopback ports, each member with its own data directory under one
 * `sb-etcd-*` temp dir. A member can be paused (SIGSTOP: a hung member), resumed, killed (SIGKILL: a crash) and
 * restarted on the same data directory with the same command line. Not SIGTERM for faults: a raft leader whose
 * peers are gone spends 7 s handing over leadership and keeps its peer port (shared/recipes/etcd.md).
 * Members are spawned with a clean environment (an ETCD_* variable duplicating a flag is fatal), in their own
 * process group, `--logger zap --log-level warn`, and every one is SIGKILLed if the test process exits.
 * Needs `etcd` (Debian `etcd-server`; `etcdctl` from `etcd-client` for the peer's own test): scripts/test-deps.sh.
 * With `netns`, the members run inside that (existing) network namespace on its loopback: `ip netns exec NS etcd`
 * (iproute2 execs in place, so the pid and process group are etcd's own and pause/resume/kill signal etcd), and
 * healthy()/etcdctl() run their probe inside the namespace too (`ip netns exec NS node|etcdctl`): the test process
 * cannot reach the namespace's loopback. Ports are still picked on the host's loopback (any port is free in a
 * fresh namespace). The endpoints are then valid only inside the namespace (test/peers/fleet-net.ts).
 * No vitest here: the benchmarks import it.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeTcpPort, tailFile } from "./common.js";

export interface EtcdOptions {
  /** How many members (default 3). */
  members?: number;
  /** The parent of the members' data directories. Default: a new `sb-etcd-*` under os.tmpdir(). */
  dir?: string;
  /** Run the members inside this network namespace (it must exist; `ip netns exec`, needs root). */
  netns?: string;
}

/** GET /health in a namespace: prints "true" when the answer is 200 with "health":"true" (argv: port, timeout ms). */
const HEALTH_SCRIPT = `const [port, ms] = process.argv.slice(1).map(Number);
const req = require("node:http").request({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
  let b = ""; res.setEncoding("utf8"); res.on("data", (c) => { b += c; });
  res.on("end", () => { process.stdout.write(String(res.statusCode === 200 && /"health":\\s*"true"/.test(b))); process.exit(0); });
});
req.on("error", () => process.exit(1)); setTimeout(() => process.exit(1), ms); req.end();`;

const READY_MS = 10_000;
/** Every live member, killed if the test process exits without stopping them (a crash, a bail-out). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) killGroup(c, "SIGKILL");
});

/** Signals the member's process group (it is its leader), falling back to the process itself. */
function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, sig);
  } catch {
    try {
      c.kill(sig);
    } catch {
      // gone already
    }
  }
}

const exited = (c: ChildProcess | undefined) => !c || c.exitCode !== null || c.signalCode !== null;

/** Why etcd cannot run here, or undefined when it can. */
export function etcdMissing(): string | undefined {
  if (spawnSync("sh", ["-c", "command -v etcd"]).status !== 0)
    return "etcd is not installed (apt-get install etcd-server etcd-client; scripts/test-deps.sh)";
  return undefined;
}

interface Member {
  readonly name: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | undefined;
  paused: boolean;
}

export class Etcd {
  private dirPath: string | undefined;
  private readonly members: Member[];
  private readonly token = `standby-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  /** The network namespace the members run in, or undefined (the host's). */
  readonly netns: string | undefined;

  /** Why etcd cannot run here (no binary), or undefined when it can. */
  static missing(): string | undefined {
    return etcdMissing();
  }

  /** Touches no file and no port: both are chosen at the first start(). */
  constructor(opts: EtcdOptions = {}) {
    this.dirPath = opts.dir;
    this.netns = opts.netns;
    const n = opts.members ?? 3;
    this.members = Array.from({ length: n }, (_, i) => ({
      name: `m${i + 1}`,
      clientPort: 0,
      peerPort: 0,
      child: undefined,
      paused: false,
    }));
  }

  get dir(): string {
    if (this.dirPath === undefined) this.dirPath = mkdtempSync(join(tmpdir(), "sb-etcd-"));
    return this.dirPath;
  }

  get size(): number {
    return this.members.length;
  }

  /** The client URLs, http://127.0.0.1:PORT, one per member (valid once started). */
  get endpoints(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  /** Member i's pid while it runs. */
  pid(i: number): number | undefined {
    const m = this.member(i);
    return exited(m.child) ? undefined : m.child?.pid;
  }

  running(i: number): boolean {
    return !exited(this.member(i).child);
  }

  logFile(i: number): string {
    return join(this.dir, `${this.member(i).name}.log`);
  }

  /** The last `lines` lines of member i's log (every start appended; its last 64 KB read). */
  logTail(i: number, lines = 15): string {
    const file = this.logFile(i);
    return tailFile(file, lines);
  }

  /**
   * Starts every member and waits until each one's /health says true (10 s at most; the error holds the logs'
   * tails). The first start picks free ports (and tries again with others if one was taken meanwhile); later
   * starts reuse them and the data directories.
   */
  async start(): Promise<void> {
    if (this.members.some((m) => !exited(m.child))) throw new Error("etcd: a member is already running");
    const fresh = this.members[0]!.clientPort === 0;
    for (let attempt = 1; ; attempt++) {
      if (fresh) await this.pickPorts();
      for (let i = 0; i < this.members.length; i++) this.launch(i);
      try {
        await this.waitHealthy(this.members.map((_, i) => i));
        return;
      } catch (e) {
        const taken = this.members.some((_, i) => /address already in use/.test(this.logTail(i, 50)));
        if (!fresh || attempt >= 3 || !taken) throw e;
        await this.stop();
        rmSync(this.dir, { recursive: true, force: true });
        mkdirSync(this.dir, { recursive: true });
      }
    }
  }

  private async pickPorts(): Promise<void> {
    const used = new Set<number>();
    const next = async () => {
      let p: number;
      do p = await freeTcpPort();
      while (used.has(p));
      used.add(p);
      return p;
    };
    for (const m of this.members) {
      m.clientPort = await next();
      m.peerPort = await next();
    }
  }

  /** Spawns member i (no wait). The same command line every time: etcd ignores `--initial-*` once its data dir exists. */
  private launch(i: number): void {
    const m = this.member(i);
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(",");
    const client = `http://127.0.0.1:${m.clientPort}`;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const args = [
      ...["--name", m.name, "--data-dir", join(this.dir, m.name)],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", cluster, "--initial-cluster-state", "new"],
      ...["--initial-cluster-token", this.token, "--logger", "zap", "--log-level", "warn"],
    ];
    mkdirSync(this.dir, { recursive: true });
    const log = openSync(this.logFile(i), "a");
    let child: ChildProcess;
    try {
      const [file, argv] = this.inNetns("etcd", args);
      child = spawn(file, argv, {
        stdio: ["ignore", log, log],
        detached: true, // its own process group: a terminal's ^C does not reach it, killGroup() does
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: this.dir },
      });
    } finally {
      closeSync(log);
    }
    m.child = child;
    m.paused = false;
    live.add(child);
    child.once("exit", () => live.delete(child));
    child.once("error", () => live.delete(child));
  }

  /** Waits until each listed member's /health is true (10 s budget for all). */
  private async waitHealthy(which: number[]): Promise<void> {
    const t0 = Date.now();
    const pending = new Set(which);
    while (pending.size > 0) {
      for (const i of [...pending]) {
        const c = this.member(i).child;
        if (exited(c))
          throw new Error(
            `etcd member ${this.member(i).name} exited (${c?.exitCode ?? c?.signalCode}) before it was healthy; log:\n${this.logTail(i)}`,
          );
        if (await this.healthy(i, 300)) pending.delete(i);
      }
      if (pending.size === 0) return;
      if (Date.now() - t0 > READY_MS) {
        const tails = [...pending].map((i) => `--- ${this.member(i).name}:\n${this.logTail(i)}`).join("\n");
        throw new Error(`etcd: members not healthy within ${READY_MS} ms; logs:\n${tails}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whether member i answers GET /health with "health":"true" within `timeoutMs` (it blocks without a leader). */
  healthy(i: number, timeoutMs = 500): Promise<boolean> {
    const port = this.member(i).clientPort;
    if (this.netns !== undefined) return this.healthyInNetns(port, timeoutMs);
    return new Promise((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body));
        });
        res.on("error", () => resolve(false));
      });
      const timer = setTimeout(() => {
        req.destroy();
        resolve(false);
      }, timeoutMs);
      req.on("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      req.end();
    });
  }

  /** healthy() inside the namespace: a short node process there (its start-up, ~50 ms, adds to the bound). */
  private healthyInNetns(port: number, timeoutMs: number): Promise<boolean> {
    const [file, argv] = this.inNetns(process.execPath, [
      "-e",
      HEALTH_SCRIPT,
      String(port),
      String(timeoutMs),
    ]);
    return new Promise((resolve) => {
      execFile(
        file,
        argv,
        { encoding: "utf8", timeout: timeoutMs + 2000, killSignal: "SIGKILL" },
        (err, stdout) => resolve(!err && stdout.trim() === "true"),
      );
    });
  }

  /** `file args` as they are run: prefixed with `ip netns exec NS` when the members live in a namespace. */
  private inNetns(file: string, args: string[]): [string, string[]] {
    return this.netns === undefined ? [file, args] : ["ip", ["netns", "exec", this.netns, file, ...args]];
  }

  /** SIGSTOP member i: its ports still accept connections, nothing is answered until resume(i). */
  pause(i: number): void {
    const m = this.runningMember(i, "pause");
    killGroup(m.child!, "SIGSTOP");
    m.paused = true;
  }

  /** SIGCONT after pause(i). */
  resume(i: number): void {
    const m = this.runningMember(i, "resume");
    killGroup(m.child!, "SIGCONT");
    m.paused = false;
  }

  /** SIGKILL member i (a crash) and waits until it has exited, so its ports are free again. */
  async kill(i: number): Promise<void> {
    const m = this.member(i);
    const c = m.child;
    if (exited(c)) return;
    const gone = new Promise((r) => c!.once("exit", r));
    killGroup(c!, "SIGKILL");
    await gone;
    m.paused = false;
  }

  /**
   * Starts member i again on its data directory with the same command line (killing it first if it runs), and
   * waits until it answers /health true — which needs a quorum: with `wait: false` it only spawns.
   */
  async restart(i: number, opts: { wait?: boolean } = {}): Promise<void> {
    await this.kill(i);
    this.launch(i);
    if (opts.wait !== false) await this.waitHealthy([i]);
  }

  /** Kills every member (SIGKILL: etcd's data survives a crash) and waits until they have exited. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
  }

  /** stop() and removes the data directories (also a directory given to the constructor). */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.dirPath !== undefined) rmSync(this.dirPath, { recursive: true, force: true });
  }

  /**
   * Runs etcdctl (v3) against the cluster with a timeout; returns its exit status and output. For the peer's own
   * test and for debugging: the code under test speaks gRPC through etcd3.
   */
  etcdctl(args: string[], timeoutMs = 5000): { status: number | null; stdout: string; stderr: string } {
    const [file, argv] = this.inNetns("etcdctl", [
      `--endpoints=${this.endpoints.join(",")}`,
      `--command-timeout=${Math.max(1, Math.floor(timeoutMs / 1000))}s`,
      ...args,
    ]);
    const r = spawnSync(file, argv, {
      encoding: "utf8",
      timeout: timeoutMs + 2000,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ETCDCTL_API: "3" },
    });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /**
   * Which member is raft leader, by `etcdctl endpoint status` (undefined when none answers or none leads). Killing
   * the other two leaves a leader that acknowledges lease keepalives until it steps down (~1 s): the hard case.
   */
  raftLeader(): number | undefined {
    const r = this.etcdctl(["endpoint", "status", "-w", "json"], 2000);
    try {
      const rows = JSON.parse(r.stdout) as {
        Endpoint: string;
        Status: { header: { member_id: unknown }; leader: unknown };
      }[];
      const row = rows.find((x) => String(x.Status.leader) === String(x.Status.header.member_id));
      const i = row
        ? this.endpoints.findIndex((e) => e.endsWith(row.Endpoint.replace(/^https?:\/\//, "")))
        : -1;
      return i < 0 ? undefined : i;
    } catch {
      return undefined;
    }
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (m === undefined) throw new Error(`etcd: no member ${i} (0..${this.members.length - 1})`);
    return m;
  }

  private runningMember(i: number, what: string): Member {
    const m = this.member(i);
    if (exited(m.child)) throw new Error(`etcd member ${m.name} is not running: nothing to ${what}`);
    return m;
  }
}

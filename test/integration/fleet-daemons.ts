/**
 * Daemons of a fleet for the acceptance tests (fleet-takeover, fleet-observers): `standby run` processes inside
 * the fleet namespace of a FleetTopology (test/peers/fleet-net.ts), each with its own state_dir and API socket
 * (a file: reachable from the test process in the host namespace), and what the tests read of them: status over
 * the socket, the event log, the actions' log file.
 */
import { type ChildProcess, execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { StandbyEvent } from "../../src/groups/events.js";
import { MAIN } from "../e2e/daemon-harness.js";
import { type FleetTopology, R1_PORT } from "../peers/fleet-net.js";

const run = promisify(execFile);

export const TTL_MS = 2000;

/** The rules: r1 down when 3 probes in a row failed (probes every 100 ms). */
export const FLEET_RULES = `rules:
  - {name: r1-down, metric: probe.success, labels: {collector: r1-probe}, problem: "max over 3 samples == 0"}
`;

/** One daemon of the fleet. */
export class FleetDaemon {
  child: ChildProcess | undefined;
  stderr = "";
  readonly dir: string;
  readonly socket: string;
  readonly configFile: string;

  constructor(
    readonly topo: FleetTopology,
    readonly name: string,
    root: string,
    config: (d: FleetDaemon) => string,
  ) {
    this.dir = join(root, name);
    mkdirSync(join(this.dir, "state"), { recursive: true });
    this.socket = join(this.dir, "api.sock");
    this.configFile = join(this.dir, "standby.yaml");
    writeFileSync(join(this.dir, "rules.yaml"), FLEET_RULES);
    writeFileSync(this.configFile, config(this));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts `standby run` (with `env` as its environment: the benchmark's V8 options) and waits for its start. */
  async start(env?: NodeJS.ProcessEnv): Promise<void> {
    this.stderr = "";
    const c = this.topo.spawnInFleet([process.execPath, MAIN, "run", "--config", this.configFile], {
      stdio: ["ignore", "ignore", "pipe"],
      ...(env ? { env } : {}),
    });
    this.child = c;
    c.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-200_000);
    });
    const t0 = Date.now();
    while (!this.stderr.includes('"standby started"')) {
      if (c.exitCode !== null) throw new Error(`${this.name} exited: ${this.stderr}`);
      if (Date.now() - t0 > 15_000) throw new Error(`${this.name} did not start: ${this.stderr}`);
      await sleep(50);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child?.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, sig);
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.signal("SIGCONT");
    const exited = new Promise((r) => c.once("exit", r));
    this.signal("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (c.exitCode === null && c.signalCode === null) this.signal("SIGKILL");
  }

  // biome-ignore lint/suspicious/noExplicitAny: the status JSON as the API returns it
  async status(): Promise<any> {
    const { stdout } = await run(
      process.execPath,
      [MAIN, "status", "--json", "--socket", this.socket, "--config", this.configFile],
      { timeout: 5000 },
    );
    return JSON.parse(stdout);
  }

  /** A CLI command against this daemon's socket; resolves with its exit code and output (never rejects). */
  async cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [MAIN, ...args, "--socket", this.socket, "--config", this.configFile],
        { timeout: 15_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof x.code === "number" ? x.code : 1,
        stdout: x.stdout ?? "",
        stderr: x.stderr ?? "",
      };
    }
  }

  /** `standby status` as text. */
  async statusText(): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      [MAIN, "status", "--socket", this.socket, "--config", this.configFile],
      { timeout: 5000 },
    );
    return stdout;
  }

  /** The shared group's fleet status (role, leader, fence, votes). */
  async fleetOf(group: string): Promise<{ role: string; leader?: string; fence?: string; votes: unknown[] }> {
    const s = await this.status();
    // biome-ignore lint/suspicious/noExplicitAny: status JSON
    return s.groups.find((g: any) => g.name === group).fleet;
  }

  events(): StandbyEvent[] {
    const file = join(this.dir, "state", "events.jsonl");
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as StandbyEvent);
  }

  eventsOf(kind: StandbyEvent["kind"]): StandbyEvent[] {
    return this.events().filter((e) => e.kind === kind);
  }

  /** The events of `kind` of `group` (and those of no group: the fleet's own). */
  groupEvents(kind: StandbyEvent["kind"], group = "vip"): StandbyEvent[] {
    return this.eventsOf(kind).filter((e) => !("group" in e) || e.group === undefined || e.group === group);
  }

  /** The lines the group's exec actions appended to this daemon's action log. */
  actions(): string[] {
    const file = join(this.dir, "actions.log");
    return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (or throws after `ms`, with `what` and the last error). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  ms = 15_000,
  every = 100,
): Promise<NonNullable<T>> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > ms)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(every);
  }
}

/** An exec action that appends `WORD fence=$STANDBY_FENCE by=NAME` to the daemon's actions.log (then sleeps). */
export function logAction(d: FleetDaemon, word: string, sleepS = 0): string {
  const log = join(d.dir, "actions.log");
  const script = `echo "${word} to=$STANDBY_TO fence=$STANDBY_FENCE by=$0" >> ${log}${sleepS > 0 ? `; sleep ${sleepS}` : ""}`;
  return `{exec: {shell: true, argv: [${JSON.stringify(script)}, ${d.name}], timeout: 20s}}`;
}

/**
 * A fleet daemon's config: its r1 probe through link `link`, the `groups:` given (YAML, indented as list items of
 * `groups:`), its socket, and the fleet's etcd under `prefix` with `ttlS`.
 */
export function fleetConfig(
  topo: FleetTopology,
  link: number,
  o: { groups: (x: FleetDaemon) => string; prefix: string; ttlS?: number },
): (x: FleetDaemon) => string {
  return (x) => `host: ${x.name}
state_dir: ${join(x.dir, "state")}
rules: [rules.yaml]
collectors:
  - {name: r1-probe, type: probe, interval: 100ms, timeout: 90ms, probe: {kind: tcp, target: "${topo.r1Address(link)}:${R1_PORT}"}}
groups:
${o.groups(x)}
api: {socket: ${x.socket}}
cluster: {etcd: [${topo.etcd.endpoints.join(", ")}], lease_ttl: ${o.ttlS ?? TTL_MS / 1000}s, name: ${x.name}, prefix: ${o.prefix}}
`;
}

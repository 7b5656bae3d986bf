/**
 * Runs the real daemon (`node dist/src/cli/main.js run`) inside a testbed's host namespace, as a user starts
 * it, with a config written for that bed. Shared by the e2e tests and the failover benchmark.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { EventOf, StandbyEvent } from "../../src/groups/events.js";
import type { DualUplinkTestbed } from "./testbed.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..").replace(/\/dist$/, "");
export const MAIN = join(ROOT, "dist/src/cli/main.js");

/** The compiled daemon must be there and not older than the sources (scripts/test.sh builds it). */
export function assertBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (scripts/test.sh does)`);
  const built = statSync(MAIN).mtimeMs;
  for (const f of ["src/daemon/daemon.ts", "src/pipeline.ts", "collectors/probe/index.ts"]) {
    const p = join(ROOT, f);
    if (existsSync(p) && statSync(p).mtimeMs > built + 1000) {
      throw new Error(`dist/ is older than ${f}: run \`npm run build\``);
    }
  }
}

export interface BedConfigOptions {
  /** failback hold (default 3s) */
  hold?: string;
  probeInterval?: string;
  probeTimeout?: string;
  /** probes in a row that must answer before a path is healthy again (default 5) */
  recoverySamples?: number;
  /** flap detection on the rules (default on); benchmarks that inject a fault every few seconds turn it off */
  flap?: boolean;
  /** extra YAML appended to the groups list */
  extraGroups?: string;
  /** extra collectors (YAML list items) */
  extraCollectors?: string;
  api?: boolean;
}

/**
 * The config an operator of a dual-uplink host would write: probes *through* each router to the far host,
 * bound to the uplink's source address (policy routing sends them the right way whatever the main table
 * says), the os collector's link watcher, and a group that moves the default route.
 */
export function writeBedConfig(bed: DualUplinkTestbed, dir: string, o: BedConfigOptions = {}): string {
  const a = bed.addr;
  mkdirSync(dir, { recursive: true });
  const rules = (r: "a" | "b", dev: string) => `
  - name: path-${r}-down
    description: three probes in a row through the router lost
    metric: probe.success
    labels: {collector: path-${r}}
    problem: "max over 3 samples == 0"
    recovery: "min over ${o.recoverySamples ?? 5} samples == 1"
    stale_after: 2s
  - name: path-${r}-lossy
    description: more than 30 % of the probes through the router lost over 3 s
    metric: probe.success
    labels: {collector: path-${r}}
    problem: "avg over 3s < 0.7"
    recovery: "avg over 3s > 0.9"
    for: 1s
  - name: link-${r}-down
    description: the link to the router lost carrier
    metric: nic.link_up
    labels: {device: ${dev}}
    problem: "== 0"
    recover_for: 500ms`;
  const noFlap = o.flap === false ? "\n    flap: false" : "";
  const text = `rules:${rules("a", "h-r1")}${rules("b", "h-r2")}\n`.replace(
    /\n {4}problem: .*/g,
    (m) => `${m}${noFlap}`,
  );
  writeFileSync(join(dir, "rules.yaml"), text);
  const probe = (r: "a" | "b", src: string) => `
  - name: path-${r}
    type: probe
    interval: ${o.probeInterval ?? "100ms"}
    timeout: ${o.probeTimeout ?? "90ms"}
    probe: {kind: icmp, target: ${a.far}, source: ${src}}`;
  const config = `host: e2e-${bed.tag}
state_dir: ${join(dir, "state")}
rules: [rules.yaml]
collectors:
  - {name: links, type: os, interval: 5s}${probe("a", a.host.r1)}${probe("b", a.host.r2)}
${o.extraCollectors ?? ""}
groups:
  - name: uplink
    members:
      - name: isp-a
        priority: 100
        health: [path-a-down, path-a-lossy, link-a-down]
        activate:
          - route: {to: default, via: ${a.gateway.r1}}
      - name: isp-b
        priority: 50
        health: [path-b-down, path-b-lossy, link-b-down]
        activate:
          - route: {to: default, via: ${a.gateway.r2}}
    failback: {mode: auto, hold: ${o.hold ?? "3s"}}
    damping: {max_switches: 1000, within: 10m}
${o.extraGroups ?? ""}
api: {socket: api.sock, listen: "127.0.0.1:9477"}
`;
  const file = join(dir, "standby.yaml");
  writeFileSync(file, config);
  return file;
}

export class RunningDaemon {
  readonly stderr: string[] = [];
  readonly stdout: string[] = [];
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly stateDir: string,
  ) {
    child.stdout
      ?.setEncoding("utf8")
      .on("data", (d: string) => this.stdout.push(...d.split("\n").filter(Boolean)));
    child.stderr
      ?.setEncoding("utf8")
      .on("data", (d: string) => this.stderr.push(...d.split("\n").filter(Boolean)));
    child.once("exit", (code, signal) => {
      this.exited = { code, signal };
    });
  }

  /** The event log as written so far. */
  events(): StandbyEvent[] {
    const f = join(this.stateDir, "events.jsonl");
    if (!existsSync(f)) return [];
    return readFileSync(f, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as StandbyEvent);
  }

  switches(): EventOf<"failover" | "failback" | "manual_switch">[] {
    return this.events().filter((e): e is EventOf<"failover" | "failback" | "manual_switch"> =>
      ["failover", "failback", "manual_switch"].includes(e.kind),
    );
  }

  /** Resolves when the daemon logged that it started (it then runs its collectors). */
  async started(timeout = 15_000): Promise<void> {
    const t0 = Date.now();
    while (!this.stderr.some((l) => l.includes('"standby started"'))) {
      if (this.exited)
        throw new Error(`daemon exited (${JSON.stringify(this.exited)}): ${this.stderr.join("\n")}`);
      if (Date.now() - t0 > timeout)
        throw new Error(`daemon did not start in ${timeout} ms: ${this.stderr.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", timeout = 10_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    await Promise.race([done, new Promise((r) => setTimeout(r, timeout))]);
    if (!this.exited) {
      this.child.kill("SIGKILL");
      await done;
    }
  }
}

export function startDaemon(bed: DualUplinkTestbed, configFile: string, args: string[] = []): RunningDaemon {
  const child = bed.spawnInHost([process.execPath, MAIN, "run", "--config", configFile, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new RunningDaemon(child, join(dirname(configFile), "state"));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

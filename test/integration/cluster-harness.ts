/**
 * Electors in processes of their own (test/integration/cluster-child.ts, compiled to dist/): spawned with a spec,
 * their JSON lines collected with the parent's receive time, commands written to their stdin, SIGSTOP/SIGCONT like
 * a hung daemon. Shared by test/integration/cluster-election.test.ts and bench/cluster.ts. No vitest here.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..").replace(/\/dist$/, "");
export const CHILD = join(ROOT, "dist/test/integration/cluster-child.js");

/** The compiled child must be there and newer than its sources (src/cluster, the child). */
export function childMissing(): string | undefined {
  if (!existsSync(CHILD)) return `${CHILD} is missing: run \`npm run build\``;
  const built = statSync(CHILD).mtimeMs;
  const sources = [
    join(ROOT, "test/integration/cluster-child.ts"),
    ...readdirSync(join(ROOT, "src/cluster")).map((f) => join(ROOT, "src/cluster", f)),
  ];
  for (const f of sources)
    if (f.endsWith(".ts") && statSync(f).mtimeMs > built + 1000)
      return `dist/ is older than ${f}: run \`npm run build\``;
  return undefined;
}

export interface ChildLine {
  readonly ev: string;
  /** The child's wall clock when it wrote the line. */
  readonly t: number;
  /** performance.now() in the parent when the line arrived. */
  readonly at: number;
  readonly [k: string]: unknown;
}

export interface ElectorSpec {
  etcd: string[];
  lease_ttl: number;
  prefix: string;
  name: string;
  group: string;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

export class ElectorProcess {
  readonly lines: ChildLine[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private waiters: { pred: (l: ChildLine) => boolean; resolve: (l: ChildLine) => void }[] = [];
  paused = false;

  constructor(readonly spec: ElectorSpec) {
    this.child = spawn(process.execPath, [CHILD, JSON.stringify(spec)], { stdio: ["pipe", "pipe", "pipe"] });
    live.add(this.child);
    this.child.once("exit", () => live.delete(this.child));
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      let l: ChildLine;
      try {
        l = { ...(JSON.parse(text) as { ev: string; t: number }), at: performance.now() };
      } catch {
        this.stderr.push(`(stdout) ${text}`);
        return;
      }
      this.lines.push(l);
      for (const w of this.waiters.filter((x) => x.pred(l))) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(l);
      }
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (d: string) => this.stderr.push(d));
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The next line (after those already received, unless `past`) for which `pred` holds; throws after `ms`. */
  next(pred: (l: ChildLine) => boolean, ms: number, what: string, past = false): Promise<ChildLine> {
    if (past) {
      const seen = this.lines.find(pred);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: ChildLine) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`${this.name}: no ${what} within ${ms} ms; stderr: ${this.stderr.join("").slice(-500)}`),
        );
      }, ms);
      this.waiters.push(w);
    });
  }

  ev(ev: string, ms: number, past = false): Promise<ChildLine> {
    return this.next((l) => l.ev === ev, ms, `'${ev}'`, past);
  }

  /** Sends a command and waits for the answer line of the same `ev`. */
  async ask(cmd: Record<string, unknown> & { cmd: string }, ms = 5000): Promise<ChildLine> {
    const answer = this.ev(cmd.cmd, ms);
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return answer;
  }

  pause(): void {
    this.child.kill("SIGSTOP");
    this.paused = true;
  }

  resume(): void {
    this.child.kill("SIGCONT");
    this.paused = false;
  }

  /** Asks it to resign and exit (SIGKILL after 5 s), and waits for the exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.paused) this.resume();
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end(`${JSON.stringify({ cmd: "close" })}\n`);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  }

  /** SIGKILL (a crash: its lease expires in etcd after the TTL). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await gone;
  }
}

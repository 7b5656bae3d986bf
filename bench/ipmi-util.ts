/**
 * Shared by the IPMI benchmarks (bench/ipmi.ts): the logging ipmitool wrapper, reading its log,
 * and the /proc views of a daemon's ipmitool children.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The real ipmitool's absolute path (the wrapper must not find itself). */
export function realIpmitool(): string {
  const r = spawnSync("sh", ["-c", "command -v ipmitool"], { encoding: "utf8" });
  return r.stdout.trim();
}

/**
 * A bash script standing in for ipmitool: runs the real one (not `exec`: it waits, to log the end) and appends
 * `start end exit argv` (wall seconds, from bash's $EPOCHREALTIME: no fork) to `log`. Its own cost — a bash
 * start per call — is measured by the single-BMC benchmark (`wrapperOverhead`).
 */
export function writeWrapper(dir: string, log: string): string {
  const file = join(dir, "ipmitool-logged");
  writeFileSync(
    file,
    `#!/bin/bash
t0=$EPOCHREALTIME
${realIpmitool()} "$@"
rc=$?
printf '%s %s %s %s\\n' "$t0" "$EPOCHREALTIME" "$rc" "$*" >> ${log}
exit $rc
`,
  );
  chmodSync(file, 0o755);
  return file;
}

export interface WrappedRun {
  /** wall ms */
  readonly start: number;
  readonly end: number;
  readonly exit: number;
  /** the BMC's UDP port (`-p`) */
  readonly port: number;
  readonly command: "elist" | "dump" | "other";
}

export function readWrapperLog(file: string): WrappedRun[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: WrappedRun[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+\.\d+) (\d+\.\d+) (\d+) (.*)$/.exec(line);
    if (!m) continue;
    const argv = m[4]!;
    out.push({
      start: Number(m[1]) * 1000,
      end: Number(m[2]) * 1000,
      exit: Number(m[3]),
      port: Number(/ -p (\d+)/.exec(argv)?.[1] ?? 0),
      command: / sdr elist/.test(argv) ? "elist" : / sdr dump/.test(argv) ? "dump" : "other",
    });
  }
  return out;
}

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" "))
          if (c.trim()) out.push(Number(c));
      } catch {
        // the thread ended
      }
    }
  } catch {
    // the process ended
  }
  return out;
}

/** The command name of a live process (undefined for a zombie: its cmdline is gone, it is no longer running). */
function comm(pid: number): string | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (f[f.lastIndexOf(")") + 2] === "Z") return undefined;
    return f.slice(f.indexOf("(") + 1, f.lastIndexOf(")"));
  } catch {
    return undefined;
  }
}

/** Proportional set size, MB: shared pages (ipmi_sim's libraries) counted once across processes. */
export function pssMb(pid: number): number | undefined {
  try {
    const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Watches a daemon's ipmitool processes (its children, and theirs when a wrapper runs them) every `everyMs`:
 * the most alive at once in total and for any one BMC (by `-p PORT` in the argv).
 */
export class IpmitoolWatch {
  maxTotal = 0;
  maxPerBmc = 0;
  /** the BMC port and time of the first sample with two ipmitools for one BMC */
  firstOverlap: { port: number; at: number } | undefined;
  samples = 0;
  private readonly ports = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly daemonPid: number,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private port(pid: number): number {
    let p = this.ports.get(pid);
    if (p === undefined) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        const i = argv.indexOf("-p");
        p = i < 0 ? 0 : Number(argv[i + 1] ?? 0);
      } catch {
        p = 0;
      }
      if (p !== 0) this.ports.set(pid, p);
    }
    return p;
  }

  sample(): void {
    this.samples++;
    const tools: number[] = [];
    for (const c of children(this.daemonPid)) {
      const n = comm(c);
      if (n === "ipmitool") tools.push(c);
      else for (const g of children(c)) if (comm(g) === "ipmitool") tools.push(g);
    }
    const per = new Map<number, number>();
    for (const t of tools) {
      const p = this.port(t);
      // 0: its argv could not be read (it exited meanwhile): counted in the total only
      if (p !== 0) per.set(p, (per.get(p) ?? 0) + 1);
    }
    this.maxTotal = Math.max(this.maxTotal, tools.length);
    for (const [p, n] of per) {
      if (n > this.maxPerBmc) this.maxPerBmc = n;
      if (n > 1 && !this.firstOverlap) this.firstOverlap = { port: p, at: Date.now() };
    }
    // pids are reused: forget the ones gone
    for (const pid of this.ports.keys()) if (!tools.includes(pid)) this.ports.delete(pid);
  }
}

/**
 * Idle cost of running daemons, measured against a floor: an idle Node process (`node -e
 * 'setInterval(()=>{}, 1<<30)'`) started in the same run and measured over the same windows, so that a
 * VM whose speed drifts (2× over an hour here) and neighbours' load move both figures alike.
 *
 * CPU time comes from /proc/PID/task/TID/schedstat (nanoseconds on a CPU, summed over the threads), not from
 * the utime/stime ticks of /proc/PID/stat, whose 10 ms resolution is 0.1 % of a core over a 10 s window —
 * as large as the smallest target. The ticks are kept as a cross-check (they also count threads that exited).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** CPU time of a process (all its threads), ns; undefined when it is gone. */
export function cpuNs(pid: number): number | undefined {
  try {
    let sum = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, ns (10 ms resolution); `children` adds the children it waited for. */
export function cpuTicksNs(pid: number, children = false): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
    const own = Number(x[11]) + Number(x[12]);
    const waited = children ? Number(x[13]) + Number(x[14]) : 0;
    return (own + waited) * 10_000_000; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (fping, `ip monitor`, ... and what they started). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const f = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(f.slice(f.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const [c, pp] of parent)
      if (pp === p) {
        out.push(c);
        todo.push(c);
      }
  }
  return out;
}

export interface IdleFigure {
  /** % of one core used by the process itself (all threads), median over the windows */
  readonly cpuPercent: number;
  /** the same minus the floor's, per window, then the median */
  readonly aboveFloorPercent: number;
  /** every window's figure above the floor */
  readonly windowsAboveFloor: number[];
  /** % of a core used by its live descendants (fping, `ip monitor`), median over the windows */
  readonly descendantsPercent: number;
  /** % of a core used by the children it started and reaped within the windows (reconcile's `ip`), median */
  readonly reapedPercent: number;
  /** RSS at the end, MB */
  readonly rssMb: number;
  /** cross-check: utime + stime from /proc/PID/stat over all the windows, % of a core (10 ms resolution) */
  readonly ticksPercent: number;
}

export interface IdleResult {
  readonly windowMs: number;
  readonly windows: number;
  /** the idle Node process: % of a core, median over the windows */
  readonly floorPercent: number;
  readonly floorRssMb: number;
  /** the floor's utime + stime over all the windows, % of a core */
  readonly floorTicksPercent: number;
  readonly daemons: Record<string, IdleFigure>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Starts the floor: an idle Node process with one far-off timer, as the daemon's runtime without the daemon. */
export function startFloor(spawnIn: (argv: string[]) => ChildProcess = defaultSpawn): ChildProcess {
  return spawnIn([process.execPath, "-e", "setInterval(() => {}, 1 << 30)"]);
}

function defaultSpawn(argv: string[]): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
}

/**
 * Measures the floor and each daemon over `windows` windows of `windowMs`, all in the same windows.
 * Children's CPU: the live descendants' own time plus the daemon's reaped children (cutime/cstime).
 */
export async function measureIdle(
  floorPid: number,
  daemons: Record<string, number>,
  opts: { windowMs: number; windows: number },
): Promise<IdleResult> {
  const names = Object.keys(daemons);
  const floor: number[] = [];
  const own = new Map<string, number[]>(names.map((n) => [n, []]));
  const kids = new Map<string, number[]>(names.map((n) => [n, []]));
  const reaped = new Map<string, number[]>(names.map((n) => [n, []]));
  const kidsNs = (pid: number) => {
    let sum = 0;
    for (const c of descendants(pid)) sum += cpuNs(c) ?? 0;
    return sum;
  };
  const reapedNs = (pid: number) => (cpuTicksNs(pid, true) ?? 0) - (cpuTicksNs(pid) ?? 0);
  const start = process.hrtime.bigint();
  const ticks0 = [floorPid, ...names.map((n) => daemons[n]!)].map((p) => cpuTicksNs(p) ?? 0);
  for (let w = 0; w < opts.windows; w++) {
    const t0 = process.hrtime.bigint();
    const f0 = cpuNs(floorPid)!;
    const d0 = names.map((n) => cpuNs(daemons[n]!)!);
    const k0 = names.map((n) => kidsNs(daemons[n]!));
    const r0 = names.map((n) => reapedNs(daemons[n]!));
    await new Promise((r) => setTimeout(r, opts.windowMs));
    const f1 = cpuNs(floorPid);
    const d1 = names.map((n) => cpuNs(daemons[n]!));
    const k1 = names.map((n) => kidsNs(daemons[n]!));
    const r1 = names.map((n) => reapedNs(daemons[n]!));
    const wall = Number(process.hrtime.bigint() - t0);
    if (f1 === undefined) throw new Error("the floor process is gone");
    floor.push(((f1 - f0) / wall) * 100);
    names.forEach((n, i) => {
      const d = d1[i];
      if (d === undefined) throw new Error(`daemon ${n} is gone`);
      own.get(n)!.push(((d - d0[i]!) / wall) * 100);
      // a child that ended within the window takes its time along: never below 0
      kids.get(n)!.push(Math.max(0, ((k1[i]! - k0[i]!) / wall) * 100));
      reaped.get(n)!.push(((r1[i]! - r0[i]!) / wall) * 100);
    });
  }
  const total = Number(process.hrtime.bigint() - start);
  const ticksPercent = [floorPid, ...names.map((n) => daemons[n]!)].map(
    (p, i) => (((cpuTicksNs(p) ?? 0) - ticks0[i]!) / total) * 100,
  );
  const out: Record<string, IdleFigure> = {};
  for (const [i, n] of names.entries()) {
    const xs = own.get(n)!;
    const above = xs.map((x, i) => x - floor[i]!);
    out[n] = {
      cpuPercent: median(xs),
      aboveFloorPercent: median(above),
      windowsAboveFloor: above,
      descendantsPercent: median(kids.get(n)!),
      reapedPercent: median(reaped.get(n)!),
      rssMb: rssMb(daemons[n]!) ?? Number.NaN,
      ticksPercent: ticksPercent[i + 1]!,
    };
  }
  return {
    windowMs: opts.windowMs,
    windows: opts.windows,
    floorPercent: median(floor),
    floorRssMb: rssMb(floorPid) ?? Number.NaN,
    floorTicksPercent: ticksPercent[0]!,
    daemons: out,
  };
}

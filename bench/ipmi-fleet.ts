/**
 * N BMCs polled every 10 s by one daemon: N ipmi_sim processes (one BMC each, distinct UDP ports on loopback),
 * the real daemon (`node dist/src/cli/main.js run --config X`) with N `type: ipmi` blocks and the shipped
 * rules/psu.yaml, measured against the idle-Node floor in the same windows (bench/idle.ts): the daemon's CPU,
 * its reaped children's (the ipmitool runs), its RSS. ipmitool is a bash wrapper that logs each run's start,
 * end and exit status (bench/ipmi-util.ts; its cost is measured by the single-poll benchmark): from that log,
 * the polls of every BMC (count, spacing, duration) and any overlap, exactly; a sampler of the daemon's
 * children every `sampleMs` cross-checks the overlap from the process table.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IpmiSim, PASSWORD, USER } from "../collectors/ipmi/test/sim.js";
import { cpuNs, type IdleResult, measureIdle, rssMb, startFloor } from "./idle.js";
import { IpmitoolWatch, pssMb, readWrapperLog, type WrappedRun, writeWrapper } from "./ipmi-util.js";
import { BenchDaemon, type DaemonLogSummary, type Dist, dist, summarizeLog } from "./util.js";

export interface FleetOptions {
  readonly bmcs: number;
  readonly intervalMs: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
  readonly sampleMs: number;
  /** a rules file for the daemon (default the shipped rules/psu.yaml), or "none" */
  readonly rules: string;
}

export interface FleetResult extends FleetOptions {
  readonly sims: { rssMbTotal: number; pssMbTotal: number; rssMbEach: number; cpuPercentTotal: number };
  /** from the daemon's start: the `sdr dump` of each BMC, and when every BMC had answered its first poll */
  readonly startup: { dumpMs: Dist; allPolledAfterS: number; maxConcurrent: number };
  readonly idle: IdleResult;
  readonly daemon: {
    cpuPercent: number;
    aboveFloorPercent: number;
    childrenPercent: number;
    rssMb: number;
    /** CPU per poll, ms: the daemon's own (above the floor) and its children's (ipmitool + the bash wrapper) */
    daemonMsPerPoll: number;
    childrenMsPerPoll: number;
  };
  readonly polls: {
    spanS: number;
    total: number;
    perSecond: number;
    expectedPerBmc: number;
    perBmc: Dist;
    bmcsNotPolled: number;
    intervalS: Dist;
    missed: number;
    doubled: number;
    failed: number;
    durationMs: Dist;
  };
  readonly overlap: {
    /** from the wrapper log (exact): runs of one BMC that started before its previous one ended */
    overlappingRuns: number;
    /** most ipmitool runs at once, all BMCs (from the log, after the warm-up) */
    maxConcurrent: number;
    /** from the process table, every sampleMs over the whole run */
    sampledMaxPerBmc: number;
    sampledMaxTotal: number;
    samples: number;
  };
  /** the daemon's stderr over the windows: JSON log lines, rule "forgotten" lines among them, warnings */
  readonly daemonLog: Omit<DaemonLogSummary, "nodeWarnings">;
  /** what the daemon printed that is not a JSON log line (Node's own warnings), over the whole run */
  readonly nodeWarnings: string[];
}

function maxConcurrent(runs: readonly WrappedRun[]): number {
  const ev = runs.flatMap((r) => [
    [r.start, 1],
    [r.end, -1],
  ]);
  ev.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let n = 0;
  let m = 0;
  for (const [, d] of ev) m = Math.max(m, (n += d!));
  return m;
}

async function startSims(n: number): Promise<IpmiSim[]> {
  const sims: IpmiSim[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = new IpmiSim();
      sims.push(s);
      await s.launch();
    }
    // ready in batches; a sim that lost its port to a neighbour (free ports are picked before the bind) gets new ones
    for (let i = 0; i < n; i += 10) {
      await Promise.all(
        sims.slice(i, i + 10).map(async (s) => {
          try {
            await s.ready();
          } catch {
            await s.stop();
            s.port = 0;
            await s.launch();
            await s.ready();
          }
        }),
      );
    }
    return sims;
  } catch (err) {
    await Promise.all(sims.map((s) => s.close()));
    throw err;
  }
}

function config(dir: string, sims: IpmiSim[], o: FleetOptions, wrapper: string): string {
  const pass = join(dir, "bmc.pass");
  writeFileSync(pass, `${PASSWORD}\n`, { mode: 0o600 });
  const blocks = sims.map(
    (s, i) => `  - name: bmc-${String(i).padStart(3, "0")}
    type: ipmi
    interval: ${o.intervalMs}ms
    ipmitool: ${wrapper}
    target: {host: 127.0.0.1, port: ${s.port}, user: ${USER}, password: {file: ${pass}}, cipher_suite: 3}`,
  );
  const file = join(dir, "standby.yaml");
  writeFileSync(
    file,
    `host: bench-ipmi
state_dir: ${join(dir, "state")}
api: {socket: ""}
rules: [${o.rules === "none" ? "" : o.rules}]
collectors:
${blocks.join("\n")}
`,
  );
  return file;
}

export async function benchFleet(o: FleetOptions, log: (l: string) => void): Promise<FleetResult> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-ipmiN-"));
  const wlog = join(dir, "ipmitool.log");
  let sims: IpmiSim[] = [];
  let floor: ChildProcess | undefined;
  let d: BenchDaemon | undefined;
  let watch: IpmitoolWatch | undefined;
  try {
    const t = Date.now();
    sims = await startSims(o.bmcs);
    log(`ipmi fleet: ${o.bmcs} ipmi_sim started in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const file = config(dir, sims, o, writeWrapper(dir, wlog));
    mkdirSync(join(dir, "state"));
    floor = startFloor();
    d = new BenchDaemon(file, join(dir, "state"));
    const child = d.child;
    await d.started(30_000);
    const started = Date.now();
    watch = new IpmitoolWatch(child.pid!, o.sampleMs);
    watch.start();
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const simPids = sims.map((s) => s.pid!);
    const simCpu = () => simPids.reduce((a, p) => a + (cpuNs(p) ?? 0), 0);
    const sc0 = simCpu();
    const spanStart = Date.now();
    const idle = await measureIdle(
      floor.pid!,
      { daemon: child.pid! },
      { windowMs: o.windowMs, windows: o.windows },
    );
    const spanEnd = Date.now();
    const simsCpuPercent = ((simCpu() - sc0) / 1e6 / (spanEnd - spanStart)) * 100;
    watch.stop();
    const simRss = simPids.map((p) => rssMb(p) ?? 0);
    const simPss = simPids.map((p) => pssMb(p) ?? 0);

    const runs = readWrapperLog(wlog);
    const elists = runs.filter((r) => r.command === "elist");
    const firstOk = new Map<number, number>();
    for (const r of elists) if (r.exit === 0 && !firstOk.has(r.port)) firstOk.set(r.port, r.end);
    const allPolledAfterS =
      firstOk.size === o.bmcs ? (Math.max(...firstOk.values()) - started) / 1000 : Number.POSITIVE_INFINITY;
    const inSpan = elists.filter((r) => r.start >= spanStart && r.start < spanEnd);
    const byBmc = new Map<number, WrappedRun[]>();
    for (const r of runs) {
      const l = byBmc.get(r.port);
      if (l) l.push(r);
      else byBmc.set(r.port, [r]);
    }
    const intervals: number[] = [];
    let overlappingRuns = 0;
    for (const l of byBmc.values()) {
      l.sort((a, b) => a.start - b.start);
      for (let i = 1; i < l.length; i++) if (l[i]!.start < l[i - 1]!.end) overlappingRuns++;
      const e = l.filter((r) => r.command === "elist");
      for (let i = 1; i < e.length; i++)
        if (e[i]!.start >= spanStart && e[i]!.start < spanEnd)
          intervals.push((e[i]!.start - e[i - 1]!.start) / 1000);
    }
    const perBmc = sims.map((s) => inSpan.filter((r) => r.port === s.port).length);
    const spanS = (spanEnd - spanStart) / 1000;
    const fig = idle.daemons.daemon!;
    const perSecond = inSpan.length / spanS;
    const { nodeWarnings, ...daemonLog } = summarizeLog(d.stderrText, spanStart, spanEnd);
    const r2 = (x: number) => Math.round(x * 1000) / 1000;
    const out: FleetResult = {
      ...o,
      sims: {
        rssMbTotal: r2(simRss.reduce((a, b) => a + b, 0)),
        pssMbTotal: r2(simPss.reduce((a, b) => a + b, 0)),
        rssMbEach: dist(simRss).p50,
        cpuPercentTotal: r2(simsCpuPercent),
      },
      startup: {
        dumpMs: dist(runs.filter((r) => r.command === "dump").map((r) => r.end - r.start)),
        allPolledAfterS: r2(allPolledAfterS),
        maxConcurrent: maxConcurrent(runs.filter((r) => r.start < started + o.intervalMs)),
      },
      idle,
      daemon: {
        cpuPercent: r2(fig.cpuPercent),
        aboveFloorPercent: r2(fig.aboveFloorPercent),
        childrenPercent: r2(fig.reapedPercent),
        rssMb: Math.round(fig.rssMb * 10) / 10,
        daemonMsPerPoll: r2((fig.aboveFloorPercent * 10) / perSecond),
        childrenMsPerPoll: r2((fig.reapedPercent * 10) / perSecond),
      },
      polls: {
        spanS: r2(spanS),
        total: inSpan.length,
        perSecond: r2(perSecond),
        expectedPerBmc: r2((spanS * 1000) / o.intervalMs),
        perBmc: dist(perBmc),
        bmcsNotPolled: perBmc.filter((n) => n === 0).length,
        intervalS: dist(intervals),
        missed: intervals.filter((x) => x * 1000 > 1.5 * o.intervalMs).length,
        doubled: intervals.filter((x) => x * 1000 < 0.5 * o.intervalMs).length,
        failed: inSpan.filter((r) => r.exit !== 0).length,
        durationMs: dist(inSpan.map((r) => r.end - r.start)),
      },
      overlap: {
        overlappingRuns,
        maxConcurrent: maxConcurrent(runs.filter((r) => r.start >= spanStart)),
        sampledMaxPerBmc: watch.maxPerBmc,
        sampledMaxTotal: watch.maxTotal,
        samples: watch.samples,
      },
      daemonLog,
      nodeWarnings,
    };
    report(out, log);
    return out;
  } finally {
    watch?.stop();
    await d?.stop();
    floor?.kill("SIGKILL");
    await Promise.all(sims.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: FleetResult, log: (l: string) => void): void {
  const f = (x: number) => x.toFixed(3);
  const i = r.idle;
  log(
    `ipmi fleet: ${r.bmcs} BMCs every ${r.intervalMs / 1000} s, ${r.windows} windows of ${r.windowMs / 1000} s after ${r.warmupMs / 1000} s; floor (idle node) ${f(i.floorPercent)} % of a core, RSS ${i.floorRssMb.toFixed(1)} MB`,
  );
  const d = r.daemon;
  const fig = i.daemons.daemon!;
  log(
    `ipmi fleet daemon: ${f(d.cpuPercent)} % of a core, above the floor ${f(d.aboveFloorPercent)} % (windows ${fig.windowsAboveFloor.map(f).join(" ")}; ticks ${f(fig.ticksPercent)} %), RSS ${d.rssMb} MB; its ipmitool runs (reaped, incl. the bash wrapper) ${f(d.childrenPercent)} %`,
  );
  log(
    `ipmi fleet per poll: daemon ${d.daemonMsPerPoll} ms CPU, ipmitool+wrapper ${d.childrenMsPerPoll} ms CPU; the ${r.bmcs} ipmi_sim: ${f(r.sims.cpuPercentTotal)} % of a core, RSS ${r.sims.rssMbTotal.toFixed(0)} MB (${r.sims.rssMbEach} MB each), PSS ${r.sims.pssMbTotal.toFixed(0)} MB`,
  );
  const p = r.polls;
  log(
    `ipmi fleet polls: ${p.total} in ${p.spanS} s (${p.perSecond}/s); per BMC ${p.perBmc.min}–${p.perBmc.max} (expected ${p.expectedPerBmc}), ${p.bmcsNotPolled} never polled; interval p50 ${p.intervalS.p50} s, min ${p.intervalS.min}, max ${p.intervalS.max}; missed ${p.missed}, doubled ${p.doubled}, failed ${p.failed}; duration p50 ${p.durationMs.p50} ms, p95 ${p.durationMs.p95} ms, max ${p.durationMs.max} ms`,
  );
  const o = r.overlap;
  log(
    `ipmi fleet overlap: ${o.overlappingRuns} overlapping runs of one BMC (log); at most ${o.maxConcurrent} ipmitool at once in the windows; sampled every ${r.sampleMs} ms (${o.samples} samples): max ${o.sampledMaxPerBmc} per BMC, ${o.sampledMaxTotal} in total`,
  );
  const s = r.startup;
  log(
    `ipmi fleet startup: sdr dump p50 ${s.dumpMs.p50} ms, max ${s.dumpMs.max} ms; every BMC answered within ${s.allPolledAfterS} s; at most ${s.maxConcurrent} ipmitool at once in the first interval`,
  );
  const l = r.daemonLog;
  log(
    `ipmi fleet daemon log (rules: ${r.rules}): ${l.linesPerSecond} lines/s in the windows, of which rule "forgotten" ${l.forgottenPerSecond}/s; ${l.warnings} warnings${l.distinct.map((w) => `\n  ${w}`).join("")}`,
  );
  for (const w of r.nodeWarnings) log(`ipmi fleet daemon stderr (not a log line): ${w}`);
}

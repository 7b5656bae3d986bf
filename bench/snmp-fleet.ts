/**
 * 1,000 simulated SNMP agents polled every 10 s with the `if` profile by one daemon: snmpsimd serving an IF-MIB
 * walk on N distinct UDP ports (bench/snmp-sim.ts), the real daemon (`node dist/src/cli/main.js run --config X`)
 * with N `type: snmp` blocks (`interval: 10s`, `profiles: [if]`, one target each) and a rules file (default: an
 * interface rule and an agent-down rule on every target), measured against the idle-Node floor in the same windows
 * (bench/idle.ts): its CPU (schedstat), RSS (and peak). Polls come from the daemon's own counters (`GET /v1/status`:
 * each collector's runs, failures, timeouts and last duration) read before and after the windows — not inside them,
 * so the API's cost is not measured —, `snmp.up` from `state_dir/metrics.prom`. snmpsimd's CPU is measured apart
 * (not standby's cost). With `cpuProf`, the daemon runs under `node --cpu-prof` and the top frames by self time are
 * reported (the profile spans the whole run, startup included).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeTcpPort } from "../test/peers/common.js";
import { cpuNs, type IdleResult, measureIdle, rssMb, startFloor } from "./idle.js";
import { SIM_COMMUNITY, SnmpSim } from "./snmp-sim.js";
import { BenchDaemon, type DaemonLogSummary, type Dist, dist, r3, summarizeLog } from "./util.js";

export interface SnmpFleetOptions {
  readonly targets: number;
  readonly intervalMs: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
  /** snmpsimd processes */
  readonly simProcs: number;
  /** interfaces of each simulated agent */
  readonly interfaces: number;
  /** the blocks' max_repetitions (the first poll's GETBULK size; later polls ask for the rows seen + 1) */
  readonly maxRepetitions: number;
  /** "bench" (the rules below), "none", or a rules file */
  readonly rules: string;
  readonly cpuProf: boolean;
}

export interface SnmpFleetResult extends SnmpFleetOptions {
  readonly sim: { cpuPercentTotal: number; rssMbTotal: number };
  readonly idle: IdleResult;
  readonly daemon: {
    cpuPercent: number;
    aboveFloorPercent: number;
    rssMb: number;
    peakRssMb: number;
    /** process.memoryUsage() of the daemon at the end, MB. */
    heap?: { usedMb: number; totalMb: number; externalMb: number };
    /** the daemon's CPU above the floor per poll of one target, ms */
    msPerPoll: number;
  };
  readonly polls: {
    spanS: number;
    total: number;
    perSecond: number;
    expectedPerTarget: number;
    perTarget: Dist;
    targetsNotPolled: number;
    failures: number;
    timeouts: number;
    /** each target's last poll duration at the end, ms */
    lastDurationMs: Dist;
  };
  /** metrics.prom at the end: snmp.up series at 1 and at 0 */
  readonly up: { one: number; zero: number };
  readonly daemonLog: Omit<DaemonLogSummary, "nodeWarnings">;
  readonly nodeWarnings: string[];
  readonly profile?: { totalMs: number; top: { frame: string; selfMs: number; percent: number }[] };
}

const BENCH_RULES = `rules:
  - {name: if-down, metric: snmp.if.oper_status, problem: "in [failed, absent]", severity: warning}
  - {name: agent-down, metric: snmp.up, problem: "max over 3 samples == 0", severity: warning}
`;

function config(dir: string, ports: readonly number[], o: SnmpFleetOptions, api: number): string {
  let rules = o.rules;
  if (rules === "bench") writeFileSync((rules = join(dir, "rules.yaml")), BENCH_RULES);
  const blocks = ports.map(
    (p, i) =>
      `  - {name: sw-${String(i).padStart(4, "0")}, type: snmp, interval: ${o.intervalMs}ms, target: {host: 127.0.0.1, port: ${p}, community: ${SIM_COMMUNITY}}, profiles: [if], max_repetitions: ${o.maxRepetitions}}`,
  );
  const file = join(dir, "standby.yaml");
  writeFileSync(
    file,
    `host: bench-snmp
state_dir: ${join(dir, "state")}
rules: [${rules === "none" ? "" : rules}]
api: {socket: "", listen: "127.0.0.1:${api}"}
collectors:
${blocks.join("\n")}
`,
  );
  return file;
}

type Stats = { runs: number; failures: number; timeouts: number; lastDurationMs?: number };

type Mem = { rss_bytes: number; heap_used_bytes: number; heap_total_bytes: number; external_bytes: number };

async function collectorStats(api: number): Promise<Map<string, Stats> & { mem?: Mem }> {
  const r = await fetch(`http://127.0.0.1:${api}/v1/status`);
  const s = (await r.json()) as { collectors: { name: string; stats?: Stats }[]; process?: Mem };
  const m: Map<string, Stats> & { mem?: Mem } = new Map(
    s.collectors.map((c) => [c.name, c.stats ?? { runs: 0, failures: 0, timeouts: 0 }]),
  );
  if (s.process) m.mem = s.process;
  return m;
}

const mb = (b: number) => Math.round(b / 104857.6) / 10;

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Self time by frame (function url:line) of a .cpuprofile, the top `n`. */
export function topFrames(file: string, n = 15): NonNullable<SnmpFleetResult["profile"]> {
  const p = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((x) => [x.id, x.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    if (f.functionName === "(idle)") return;
    total += dt;
    const url = f.url.replace(/^.*\/(node_modules|dist)\//, "$1/");
    const k = `${f.functionName || "(anonymous)"} ${url}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    self.set(k, (self.get(k) ?? 0) + dt);
  });
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, ms]) => ({ frame, selfMs: Math.round(ms), percent: r3((ms / total) * 100) }));
  return { totalMs: Math.round(total), top };
}

export async function benchSnmpFleet(
  o: SnmpFleetOptions,
  log: (l: string) => void,
): Promise<SnmpFleetResult> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-snmpN-"));
  const sim = new SnmpSim({
    agents: o.targets,
    procs: o.simProcs,
    interfaces: o.interfaces,
  });
  let floor: ChildProcess | undefined;
  let d: BenchDaemon | undefined;
  try {
    const t = Date.now();
    await sim.start();
    log(
      `snmp fleet: ${o.targets} simulated agents (${o.interfaces} interfaces each) on ${sim.pids.length} snmpsimd in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    const api = await freeTcpPort();
    const file = config(dir, sim.ports, o, api);
    mkdirSync(join(dir, "state"));
    const prof = join(dir, "prof");
    floor = startFloor();
    // BENCH_NODE_ARGS: more node flags for the daemon (e.g. --heapsnapshot-signal=SIGUSR2 to look at its heap).
    const extra = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
    d = new BenchDaemon(file, join(dir, "state"), [
      ...extra,
      ...(o.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []),
    ]);
    await d.started(60_000);
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const before = await collectorStats(api);
    const simCpu = () => sim.pids.reduce((a, p) => a + (cpuNs(p) ?? 0), 0);
    const sc0 = simCpu();
    const spanStart = Date.now();
    const idle = await measureIdle(
      floor.pid!,
      { daemon: d.pid },
      { windowMs: o.windowMs, windows: o.windows },
    );
    const spanEnd = Date.now();
    const simCpuPercent = ((simCpu() - sc0) / 1e6 / (spanEnd - spanStart)) * 100;
    const simRss = sim.pids.reduce((a, p) => a + (rssMb(p) ?? 0), 0);
    const after = await collectorStats(api);
    const peak = peakRssMb(d.pid);
    const prom = readFileSync(join(dir, "state", "metrics.prom"), "utf8");
    const upOne = (prom.match(/^standby_snmp_up\{.*\} 1$/gm) ?? []).length;
    const upZero = (prom.match(/^standby_snmp_up\{.*\} 0$/gm) ?? []).length;
    const perTarget: number[] = [];
    const durations: number[] = [];
    let failures = 0;
    let timeouts = 0;
    for (const [name, s1] of after) {
      const s0 = before.get(name) ?? { runs: 0, failures: 0, timeouts: 0 };
      perTarget.push(s1.runs - s0.runs);
      failures += s1.failures - s0.failures;
      timeouts += s1.timeouts - s0.timeouts;
      if (s1.lastDurationMs !== undefined) durations.push(s1.lastDurationMs);
    }
    const spanS = (spanEnd - spanStart) / 1000;
    const total = perTarget.reduce((a, b) => a + b, 0);
    const fig = idle.daemons.daemon!;
    const { nodeWarnings, ...daemonLog } = summarizeLog(d.stderrText, spanStart, spanEnd);
    let profile: SnmpFleetResult["profile"];
    if (o.cpuProf) {
      await d.stop();
      const f = readdirSync(prof).find((x) => x.endsWith(".cpuprofile"));
      if (f) profile = topFrames(join(prof, f));
    }
    const out: SnmpFleetResult = {
      ...o,
      sim: { cpuPercentTotal: r3(simCpuPercent), rssMbTotal: Math.round(simRss) },
      idle,
      daemon: {
        cpuPercent: r3(fig.cpuPercent),
        aboveFloorPercent: r3(fig.aboveFloorPercent),
        rssMb: Math.round(fig.rssMb * 10) / 10,
        peakRssMb: peak,
        ...(after.mem
          ? {
              heap: {
                usedMb: mb(after.mem.heap_used_bytes),
                totalMb: mb(after.mem.heap_total_bytes),
                externalMb: mb(after.mem.external_bytes),
              },
            }
          : {}),
        msPerPoll: r3((fig.aboveFloorPercent * 10) / (total / spanS)),
      },
      polls: {
        spanS: r3(spanS),
        total,
        perSecond: r3(total / spanS),
        expectedPerTarget: r3((spanS * 1000) / o.intervalMs),
        perTarget: dist(perTarget),
        targetsNotPolled: perTarget.filter((n) => n === 0).length,
        failures,
        timeouts,
        lastDurationMs: dist(durations),
      },
      up: { one: upOne, zero: upZero },
      daemonLog,
      nodeWarnings,
      ...(profile ? { profile } : {}),
    };
    report(out, log);
    return out;
  } finally {
    await d?.stop();
    floor?.kill("SIGKILL");
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: SnmpFleetResult, log: (l: string) => void): void {
  const f = (x: number) => x.toFixed(3);
  const i = r.idle;
  const fig = i.daemons.daemon!;
  const d = r.daemon;
  const p = r.polls;
  log(
    `snmp fleet: ${r.targets} agents every ${r.intervalMs / 1000} s (profile if, rules: ${r.rules}), ${r.windows} windows of ${r.windowMs / 1000} s after ${r.warmupMs / 1000} s; floor (idle node) ${f(i.floorPercent)} % of a core, RSS ${i.floorRssMb.toFixed(1)} MB`,
  );
  log(
    `snmp fleet daemon: ${f(d.cpuPercent)} % of a core, above the floor ${f(d.aboveFloorPercent)} % (windows ${fig.windowsAboveFloor.map(f).join(" ")}; ticks ${f(fig.ticksPercent)} %), RSS ${d.rssMb} MB (peak ${d.peakRssMb} MB${d.heap ? `; JS heap ${d.heap.usedMb} MB used of ${d.heap.totalMb}, external ${d.heap.externalMb}` : ""}); ${d.msPerPoll} ms CPU per poll — targets ≤ 5 % and ≤ 120 MB`,
  );
  log(
    `snmp fleet polls: ${p.total} in ${p.spanS} s (${p.perSecond}/s); per target ${p.perTarget.min}–${p.perTarget.max} (p50 ${p.perTarget.p50}, expected ${p.expectedPerTarget}), ${p.targetsNotPolled} never polled; failures ${p.failures}, timeouts ${p.timeouts}; last poll duration ${p.lastDurationMs.p50} ms p50, ${p.lastDurationMs.p95} p95, ${p.lastDurationMs.max} max`,
  );
  log(
    `snmp fleet: snmp.up 1 for ${r.up.one} targets, 0 for ${r.up.zero}; the snmpsimd processes (not standby's cost): ${f(r.sim.cpuPercentTotal)} % of a core, RSS ${r.sim.rssMbTotal} MB`,
  );
  const l = r.daemonLog;
  log(
    `snmp fleet daemon log: ${l.linesPerSecond} lines/s in the windows, ${l.warnings} warnings${l.distinct.map((w) => `\n  ${w}`).join("")}`,
  );
  for (const w of r.nodeWarnings) log(`snmp fleet daemon stderr (not a log line): ${w}`);
  if (r.profile) {
    log(
      `snmp fleet --cpu-prof (whole run, ${(r.profile.totalMs / 1000).toFixed(1)} s of CPU): top frames by self time`,
    );
    for (const x of r.profile.top) log(`  ${x.percent.toFixed(1).padStart(5)} %  ${x.selfMs} ms  ${x.frame}`);
  }
}

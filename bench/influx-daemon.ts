/**
 * The daemon's extra CPU and RSS for the influx sink under a realistic load. Three real daemons
 * (`node dist/src/cli/main.js run`) with the same config but for `sinks.influx` — one with it, one without it and
 * a control, a second one without it (what two identical daemons differ by: the resolution) — started together
 * (the order rotating by round) and measured in the same windows against the idle-Node floor (bench/idle.ts:
 * schedstat of every thread). The load: two TCP probes every 100 ms (to listeners of this process), the os
 * collector (its default interval, 5 s), one snmp collector every 10 s with the `if` profile against a simulated
 * 11-interface switch (snmpsimd, bench/snmp-sim.ts: 11 × 9 series + `snmp.up` = 100 series), four rules and one
 * group of two members (whose states the sink writes every 10 s). Fresh processes every round. At the end of a
 * round the sink's own counters (`GET /v1/status`) are read and its database is counted in influxd: the points
 * must be there. The whole host's busy time is reported too (the VM is shared: other work shows there).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { InfluxSinkStatus } from "../src/sinks/influx/sink.js";
import { freeTcpPort } from "../test/peers/common.js";
import type { Influxd } from "../test/peers/influxd.js";
import { cpuNs, type IdleResult, measureIdle, startFloor } from "./idle.js";
import { countPoints, hostBusyPercent, hostCpu, median, sleep, sum } from "./influx-load.js";
import { SIM_COMMUNITY, SnmpSim } from "./snmp-sim.js";
import { BenchDaemon, r3, summarizeLog } from "./util.js";

export interface DaemonOptions {
  readonly rounds: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
}

export interface DaemonRound {
  readonly round: number;
  readonly idle: IdleResult;
  /**
   * % of a core above the floor, median of the windows: without and with the sink, and of (with − without); the
   * control is a second daemon without the sink (control − without: what two identical daemons differ by).
   */
  readonly withoutPercent: number;
  readonly withPercent: number;
  readonly diffPercent: number;
  readonly controlDiffPercent: number;
  readonly withoutRssMb: number;
  readonly controlRssMb: number;
  readonly withRssMb: number;
  /** influxd's CPU over the windows (writing the daemon's points), and the whole host's, % of a core. */
  readonly influxdPercent: number;
  readonly hostPercent: number;
  /** The sink's status at the end, and the points influxd holds (by measurement, and in all). */
  readonly sink: InfluxSinkStatus | undefined;
  readonly counted: number;
  readonly byMeasurement: Record<string, number>;
  /** Points written a second over the daemon's life. */
  readonly pointsPerSec: number;
  readonly warnings: string[];
}

export interface DaemonResult extends DaemonOptions {
  readonly runs: DaemonRound[];
  /** Medians over the rounds. */
  readonly medians: {
    withoutPercent: number;
    withPercent: number;
    diffPercent: number;
    controlDiffPercent: number;
    withoutRssMb: number;
    controlRssMb: number;
    withRssMb: number;
    pointsPerSec: number;
  };
}

const RULES = `rules:
  - {name: gw-a-down, metric: probe.success, labels: {collector: gw-a}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"}
  - {name: gw-b-down, metric: probe.success, labels: {collector: gw-b}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"}
  - {name: if-down, metric: snmp.if.oper_status, problem: "in [failed, absent]", severity: warning}
  - {name: agent-down, metric: snmp.up, problem: "max over 3 samples == 0", severity: warning}
`;

function config(
  dir: string,
  name: string,
  api: number,
  ports: { a: number; b: number; snmp: number },
  sink?: string,
): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `host: bench-${name}
state_dir: ${join(dir, name)}
rules: [${join(dir, "rules.yaml")}]
api: {socket: "", listen: "127.0.0.1:${api}"}
collectors:
  - {name: local, type: os}
  - {name: gw-a, type: probe, interval: 100ms, probe: {kind: tcp, target: "127.0.0.1:${ports.a}"}}
  - {name: gw-b, type: probe, interval: 100ms, probe: {kind: tcp, target: "127.0.0.1:${ports.b}"}}
  - {name: sw-01, type: snmp, interval: 10s, target: {host: 127.0.0.1, port: ${ports.snmp}, community: ${SIM_COMMUNITY}}, profiles: [if]}
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [gw-a-down], activate: [{exec: {argv: [/bin/true]}}]}
      - {name: isp-b, priority: 50, health: [gw-b-down], activate: [{exec: {argv: [/bin/true]}}]}
    failback: {mode: manual}
${sink ?? ""}`,
  );
  mkdirSync(join(dir, name));
  return file;
}

async function listen(): Promise<Server> {
  const s = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return s;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

async function sinkStatus(api: number): Promise<InfluxSinkStatus | undefined> {
  const r = await fetch(`http://127.0.0.1:${api}/v1/status`, { signal: AbortSignal.timeout(5000) });
  const s = (await r.json()) as { sinks?: { influx?: InfluxSinkStatus } };
  return s.sinks?.influx;
}

async function round(
  influxd: Influxd,
  sim: SnmpSim,
  ports: { a: number; b: number },
  o: DaemonOptions,
  n: number,
): Promise<DaemonRound> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-influx-daemon-"));
  const db = `daemon_${n}`;
  let floor: ChildProcess | undefined;
  const daemons: BenchDaemon[] = [];
  try {
    writeFileSync(join(dir, "rules.yaml"), RULES);
    const apis = { without: await freeTcpPort(), control: await freeTcpPort(), with: await freeTcpPort() };
    const p = { ...ports, snmp: sim.ports[0]! };
    const files = {
      without: config(dir, "without", apis.without, p),
      control: config(dir, "control", apis.control, p),
      with: config(dir, "with", apis.with, p, `sinks:\n  influx: {url: "${influxd.url}", database: ${db}}\n`),
    };
    floor = startFloor();
    const kinds = ["without", "control", "with"] as const;
    // the start order rotates by round
    const order = kinds.map((_, i) => kinds[(i + n - 1) % kinds.length]!);
    const d: Partial<Record<(typeof kinds)[number], BenchDaemon>> = {};
    for (const k of order) {
      d[k] = new BenchDaemon(files[k], join(dir, k));
      daemons.push(d[k]);
    }
    const born = Date.now();
    await Promise.all(daemons.map((x) => x.started(60_000)));
    await sleep(o.warmupMs);
    const i0 = cpuNs(influxd.pid!)!;
    const h0 = hostCpu();
    const from = Date.now();
    const idle = await measureIdle(
      floor.pid!,
      { without: d.without!.pid, control: d.control!.pid, with: d.with!.pid },
      o,
    );
    const to = Date.now();
    const hostPercent = r3(hostBusyPercent(h0, hostCpu(), cpus().length));
    const influxdPercent = (((cpuNs(influxd.pid!) ?? 0) - i0) / 1e6 / (to - from)) * 100;
    const sink = await sinkStatus(apis.with);
    const life = (Date.now() - born) / 1000;
    const byMeasurement = await countPoints(influxd, db);
    const counted = sum(byMeasurement);
    if (sink === undefined || counted < sink.written || counted === 0)
      throw new Error(`influxd holds ${counted} points in ${db}, the sink says it wrote ${sink?.written}`);
    const without = idle.daemons.without!;
    const withSink = idle.daemons.with!;
    const diff = (x: typeof without) =>
      r3(median(x.windowsAboveFloor.map((v, i) => v - without.windowsAboveFloor[i]!)));
    const warnings = daemons.flatMap((x) => summarizeLog(x.stderrText, from, to).distinct);
    return {
      round: n,
      idle,
      withoutPercent: r3(without.aboveFloorPercent),
      withPercent: r3(withSink.aboveFloorPercent),
      diffPercent: diff(withSink),
      controlDiffPercent: diff(idle.daemons.control!),
      withoutRssMb: Math.round(without.rssMb * 10) / 10,
      controlRssMb: Math.round(idle.daemons.control!.rssMb * 10) / 10,
      withRssMb: Math.round(withSink.rssMb * 10) / 10,
      influxdPercent: r3(influxdPercent),
      hostPercent,
      sink,
      counted,
      byMeasurement,
      pointsPerSec: r3(counted / life),
      warnings,
    };
  } finally {
    await Promise.all(daemons.map((x) => x.stop()));
    floor?.kill("SIGKILL");
    await influxd.query(`DROP DATABASE "${db}"`, undefined, { timeoutMs: 60_000 }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchDaemon(
  influxd: Influxd,
  o: DaemonOptions,
  log: (l: string) => void,
): Promise<DaemonResult> {
  const sim = new SnmpSim({ agents: 1, procs: 1, interfaces: 11 });
  const servers: Server[] = [];
  try {
    await sim.start();
    servers.push(await listen(), await listen());
    const ports = { a: portOf(servers[0]!), b: portOf(servers[1]!) };
    const runs: DaemonRound[] = [];
    for (let n = 1; n <= o.rounds; n++) {
      const r = await round(influxd, sim, ports, o, n);
      runs.push(r);
      const f = (x: number) => x.toFixed(3);
      const w = (k: string) =>
        r.idle.daemons[k]!.windowsAboveFloor.map((x, i) =>
          f(x - r.idle.daemons.without!.windowsAboveFloor[i]!),
        );
      log(
        `influx daemon round ${n}: ${o.windows} windows of ${o.windowMs / 1000} s after ${o.warmupMs / 1000} s, floor ${f(r.idle.floorPercent)} % of a core; above the floor: without the sink ${f(r.withoutPercent)} %, with it ${f(r.withPercent)} %: difference ${f(r.diffPercent)} % (windows ${w("with").join(" ")}); control (a second daemon without it) ${f(r.controlDiffPercent)} % (windows ${w("control").join(" ")}); RSS ${r.withoutRssMb}, ${r.controlRssMb} and ${r.withRssMb} MB`,
      );
      log(
        `influx daemon round ${n}: ${r.counted.toLocaleString("en")} points in influxd (${r.pointsPerSec}/s over the daemon's life; the sink says written ${r.sink?.written}, retried ${r.sink?.retried}, dropped ${r.sink?.dropped}, queued ${r.sink?.queue_points}, on disk ${r.sink?.spool_points}); influxd ${f(r.influxdPercent)} % of a core, the whole host ${f(r.hostPercent)} %${r.warnings.length ? `; warnings: ${r.warnings.join("; ")}` : ""}`,
      );
    }
    const m = (f: (r: DaemonRound) => number) => r3(median(runs.map(f)));
    return {
      ...o,
      runs,
      medians: {
        withoutPercent: m((r) => r.withoutPercent),
        withPercent: m((r) => r.withPercent),
        diffPercent: m((r) => r.diffPercent),
        controlDiffPercent: m((r) => r.controlDiffPercent),
        withoutRssMb: m((r) => r.withoutRssMb),
        controlRssMb: m((r) => r.controlRssMb),
        withRssMb: m((r) => r.withRssMb),
        pointsPerSec: m((r) => r.pointsPerSec),
      },
    };
  } finally {
    for (const s of servers) s.close();
    await sim.stop();
  }
}

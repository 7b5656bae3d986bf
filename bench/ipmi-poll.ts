/**
 * One BMC poll against one ipmi_sim (lanplus, `-C 3`), in this process: the wall time of `IpmiCollector.collect()`
 * cold (a new collector: `sdr dump` then `sdr elist -S`) and warm (the SDR cache), against a plain `ipmitool
 * sdr elist` without a cache (the baseline, what an exporter without a cache runs) and with one (`-S`: the bare
 * tool under the collector). The variants are interleaved round by round, so the VM's drift moves them alike.
 * CPU: the ipmitool processes' (this process's reaped children, utime+stime, 10 ms ticks summed over the
 * calls) and this process's own around each call (process.cpuUsage: spawn, pipes, parse).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { schema } from "../collectors/ipmi/config.js";
import { IpmiCollector } from "../collectors/ipmi/index.js";
import { type IpmiSim, PASSWORD, USER } from "../collectors/ipmi/test/sim.js";
import { spawnWithTimeout } from "../src/actions/spawn.js";
import type { Log } from "../src/collector.js";
import { cpuTicksNs } from "./idle.js";
import { writeWrapper } from "./ipmi-util.js";
import { type Dist, dist, fmtDist } from "./util.js";

const ENV = "SB_BENCH_BMC_PASSWORD";
const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} };

export interface PollVariant {
  /** wall time, ms */
  readonly wallMs: Dist;
  /** CPU of the ipmitool process(es) per call, ms (mean: total reaped-children ticks / calls) */
  readonly toolCpuMs: number;
  /** CPU of this Node process per call, ms (mean): spawning, reading the pipes, parsing */
  readonly nodeCpuMs: number;
  readonly failures: number;
}

export interface OnePollResult {
  readonly sensors: number;
  /** a new collector's first poll: `sdr dump` + `sdr elist -S` */
  readonly cold: PollVariant;
  /** IpmiCollector.collect() with its SDR cache, the real ipmitool */
  readonly warm: PollVariant;
  /** plain `ipmitool ... sdr elist`, no SDR cache: the baseline */
  readonly plainNoCache: PollVariant;
  /** plain `ipmitool ... -S FILE sdr elist` */
  readonly plainCached: PollVariant;
  /** the warm poll through the fleet benchmark's logging bash wrapper, and what it adds (p50 wall, mean CPU) */
  readonly warmWrapped: PollVariant;
  readonly wrapperOverhead: { wallMs: number; toolCpuMs: number };
}

const reapedNs = () => (cpuTicksNs(process.pid, true) ?? 0) - (cpuTicksNs(process.pid) ?? 0);

class Acc {
  readonly wall: number[] = [];
  toolNs = 0;
  nodeUs = 0;
  failures = 0;

  async time(f: () => Promise<boolean>): Promise<void> {
    const r0 = reapedNs();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const ok = await f();
    this.wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    this.nodeUs += c.user + c.system;
    this.toolNs += reapedNs() - r0;
    if (!ok) this.failures++;
  }

  result(): PollVariant {
    const n = Math.max(1, this.wall.length);
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      wallMs: dist(this.wall),
      toolCpuMs: r(this.toolNs / 1e6 / n),
      nodeCpuMs: r(this.nodeUs / 1e3 / n),
      failures: this.failures,
    };
  }
}

export async function benchOnePoll(
  sim: IpmiSim,
  opts: { polls: number; cold: number },
  log: (l: string) => void,
): Promise<OnePollResult> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-ipmi1-"));
  process.env[ENV] = PASSWORD;
  const spec = (ipmitool: string) =>
    schema.parse({
      name: "bmc",
      type: "ipmi",
      interval: "10s",
      ipmitool,
      target: { host: "127.0.0.1", port: sim.port, user: USER, password: { env: ENV }, cipher_suite: 3 },
    });
  const ctx = { host: "bench", now: () => performance.now(), log: quiet };
  const signal = new AbortController().signal;
  const wrapper = writeWrapper(dir, join(dir, "wrapper.log"));
  const warm = new IpmiCollector(spec("ipmitool"), ctx);
  const wrapped = new IpmiCollector(spec(wrapper), ctx);
  let sensors = 0;
  const up = async (c: IpmiCollector) => {
    const s = await c.collect(signal);
    sensors = s.filter((x) => x.metric === "ipmi.sensor").length;
    return s.find((x) => x.metric === "ipmi.up")?.value === 1;
  };
  try {
    const env = { ...process.env, IPMI_PASSWORD: PASSWORD };
    const base = warm.tool.baseArgs();
    const cache = join(dir, "sdr.cache");
    const dump = await spawnWithTimeout([...base, "sdr", "dump", cache], { timeout: 10_000, env });
    if (dump.exitCode !== 0) throw new Error(`ipmitool sdr dump failed: ${dump.output}`);
    const plain = async (extra: string[]) => {
      const r = await spawnWithTimeout([...base, ...extra, "sdr", "elist"], {
        timeout: 10_000,
        env,
        captureStdout: 1 << 20,
      });
      return r.exitCode === 0 && /\|/.test(r.stdout ?? "");
    };
    const acc = {
      cold: new Acc(),
      warm: new Acc(),
      plainNoCache: new Acc(),
      plainCached: new Acc(),
      warmWrapped: new Acc(),
    };
    for (let i = 0; i < opts.cold; i++) {
      await acc.cold.time(async () => {
        const c = new IpmiCollector(spec("ipmitool"), ctx);
        try {
          return await up(c);
        } finally {
          await c.close();
        }
      });
    }
    // The warm collectors' own first (cold) polls, not measured.
    if (!(await up(warm)) || !(await up(wrapped))) throw new Error("the BMC did not answer the first poll");
    const variants: [Acc, () => Promise<boolean>][] = [
      [acc.warm, () => up(warm)],
      [acc.plainNoCache, () => plain([])],
      [acc.plainCached, () => plain(["-S", cache])],
      [acc.warmWrapped, () => up(wrapped)],
    ];
    for (let i = 0; i < opts.polls; i++) {
      // rotate the order: no variant always runs right after the same other one
      for (let k = 0; k < variants.length; k++) {
        const [a, f] = variants[(i + k) % variants.length]!;
        await a.time(f);
      }
    }
    const res = Object.fromEntries(Object.entries(acc).map(([k, a]) => [k, a.result()])) as Record<
      keyof typeof acc,
      PollVariant
    >;
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const out: OnePollResult = {
      sensors,
      ...res,
      wrapperOverhead: {
        wallMs: r2(res.warmWrapped.wallMs.p50 - res.warm.wallMs.p50),
        toolCpuMs: r2(res.warmWrapped.toolCpuMs - res.warm.toolCpuMs),
      },
    };
    const line = (name: string, v: PollVariant) =>
      log(
        `ipmi poll ${name.padEnd(34)} wall ${fmtDist(v.wallMs)}; CPU per call: ipmitool ${v.toolCpuMs} ms, node ${v.nodeCpuMs} ms${v.failures ? `; ${v.failures} FAILED` : ""}`,
      );
    log(
      `ipmi poll: one ipmi_sim over lanplus -C 3, ${sensors} sensors; ${opts.polls} rounds, variants interleaved`,
    );
    line("cold (collector: dump + elist -S)", out.cold);
    line("warm (collector, SDR cache)", out.warm);
    line("baseline: ipmitool sdr elist", out.plainNoCache);
    line("ipmitool -S cache sdr elist", out.plainCached);
    line("warm through the bash wrapper", out.warmWrapped);
    return out;
  } finally {
    await warm.close();
    await wrapped.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

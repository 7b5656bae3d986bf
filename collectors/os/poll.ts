/** The os poll collector: CPU, memory, load, NICs and filesystems every `interval`. */
import { join } from "node:path";
import type { CollectorContext, PollCollector } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import type { OsCollectorSpec } from "./config.js";
import { FilesystemReader } from "./filesystems.js";
import type { OsCollectorOptions } from "./options.js";
import {
  type CpuTimes,
  cpuBusyPercent,
  memUsedPercent,
  parseCounter,
  parseLoadavg,
  parseMeminfo,
  parseProcStat,
  parseSpeed,
} from "./parse.js";
import { NOT_REPORTED, type Shared, VANISHED } from "./shared.js";

export class OsPollCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  readonly timeout: number;
  private prevCpu: CpuTimes | undefined;
  private readonly fs: FilesystemReader;

  constructor(
    readonly spec: OsCollectorSpec,
    private readonly ctx: CollectorContext,
    private readonly shared: Shared,
    options: OsCollectorOptions,
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.timeout;
    this.fs = new FilesystemReader(spec, shared, options);
  }

  /** Read or parse failures so far, by file (the first of each was logged). */
  get errors(): ReadonlyMap<string, number> {
    return this.shared.errors;
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const ts = this.ctx.now();
    const parts = await Promise.all([
      this.cpu(ts, signal),
      this.memory(ts, signal),
      this.load(ts, signal),
      this.nics(ts, signal),
      this.fs.read(ts, signal),
    ]);
    signal.throwIfAborted();
    return parts.flat();
  }

  private async cpu(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const cur = await this.shared.read(join(this.shared.proc, "stat"), parseProcStat, { signal });
    if (!cur) return [];
    const prev = this.prevCpu;
    this.prevCpu = cur;
    // The first run has nothing to compare with: no sample (a since-boot average would mislead a rule).
    const busy = prev ? cpuBusyPercent(prev, cur) : undefined;
    return busy === undefined
      ? []
      : [{ metric: "cpu.load_percent", labels: this.shared.base, value: busy, ts }];
  }

  private async memory(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const file = join(this.shared.proc, "meminfo");
    const used = await this.shared.read(file, (t) => memUsedPercent(parseMeminfo(t)), { signal });
    return used === undefined
      ? []
      : [{ metric: "mem.used_percent", labels: this.shared.base, value: used, ts }];
  }

  private async load(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const l = await this.shared.read(join(this.shared.proc, "loadavg"), parseLoadavg, { signal });
    if (!l) return [];
    const labels = this.shared.base;
    return [
      { metric: "load.1", labels, value: l.load1, ts },
      { metric: "load.5", labels, value: l.load5, ts },
      { metric: "load.15", labels, value: l.load15, ts },
    ];
  }

  private async nics(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const devices = await this.shared.listNics(signal);
    if (!devices) return [];
    devices.sort();
    const per = await Promise.all(devices.map((d) => this.nic(d, ts, signal)));
    this.shared.pruneNics(new Set(devices));
    return per.flat();
  }

  /** One NIC; every file is optional, so one bad file costs one metric, one bad NIC costs that NIC. */
  private async nic(device: string, ts: number, signal: AbortSignal): Promise<Sample[]> {
    const s = this.shared;
    const dir = join(s.net, device);
    const stat = (f: string) => s.read(join(dir, "statistics", f), parseCounter, { signal, quiet: VANISHED });
    const [up, speed, rxErr, txErr, rxDrop, txDrop] = await Promise.all([
      s.readLink(device, signal),
      s.read(join(dir, "speed"), parseSpeed, { signal, quiet: NOT_REPORTED }),
      stat("rx_errors"),
      stat("tx_errors"),
      stat("rx_dropped"),
      stat("tx_dropped"),
    ]);
    const l = s.nic(device);
    const out: Sample[] = [];
    if (up !== undefined) out.push(s.linkSample(device, up, ts));
    if (speed !== undefined && speed !== null)
      out.push({ metric: "nic.speed_mbps", labels: l.device, value: speed, ts });
    const counter = (metric: string, labels: Labels, value: number | undefined) => {
      if (value !== undefined) out.push({ metric, labels, value, ts });
    };
    counter("nic.errors", l.rx, rxErr);
    counter("nic.errors", l.tx, txErr);
    counter("nic.drops", l.rx, rxDrop);
    counter("nic.drops", l.tx, txDrop);
    return out;
  }
}

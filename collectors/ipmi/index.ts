/**
 * The `ipmi` collector: a BMC's sensors (PSUs, PSU and fan redundancy, fans, temperatures, voltages...) read
 * with `ipmitool sdr elist`, locally or over lanplus. It only observes; rules decide. The parts: ipmitool.ts
 * (running the tool: password, budget, one process per BMC, SDR cache), parse.ts (pure: the three forms of
 * ipmitool's output), config.ts. See README.md for the metrics and what each state means.
 */
import { type CollectorContext, labelsOf, type PollCollector, stateSample } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { KILL_GRACE_MS } from "../../src/util/kill.js";
import type { IpmiCollectorSpec } from "./config.js";
import { Ipmitool } from "./ipmitool.js";
import { type IpmiSensor, parseIpmitool } from "./parse.js";

export { Ipmitool, SDR_CACHE_TTL_MS } from "./ipmitool.js";
export { type IpmiParse, type IpmiSensor, parseIpmitool } from "./parse.js";

/** Distinct unreadable lines logged per collector (each once); more are only counted. */
const SKIPPED_LOGGED = 20;

/**
 * The part of the run's timeout ipmitool may use: the rest leaves time to kill it (SIGTERM, then SIGKILL a
 * second later) and still report `ipmi.up 0` within the run, before the scheduler gives up on it.
 */
export function callBudget(timeout: number): number {
  return Math.max(timeout - KILL_GRACE_MS - 500, Math.round(timeout * 0.5));
}

/** The extra identity label of each sensor whose name the BMC repeats: `entity` when that tells them apart, else `id`. */
function extraLabels(sensors: readonly IpmiSensor[]): Map<IpmiSensor, Labels> {
  const byName = new Map<string, IpmiSensor[]>();
  for (const s of sensors) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const out = new Map<IpmiSensor, Labels>();
  for (const list of byName.values()) {
    if (list.length < 2) continue;
    const distinct = (vals: (string | undefined)[]) =>
      vals.every((v) => v !== undefined) && new Set(vals).size === vals.length;
    if (distinct(list.map((s) => s.entity))) for (const s of list) out.set(s, { entity: s.entity! });
    else if (distinct(list.map((s) => s.id))) for (const s of list) out.set(s, { id: s.id! });
    else
      list.forEach((s, i) => {
        out.set(s, { id: String(i + 1) });
      });
  }
  return out;
}

export class IpmiCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  readonly timeout: number;
  readonly tool: Ipmitool;
  private readonly labels = new Map<string, Labels>();
  private readonly upLabels: Labels;
  /** The `ipmi.sensor` label sets of the last poll that answered: reported unknown while the BMC does not. */
  private lastSensors: Labels[] = [];
  private up: boolean | undefined;
  /** PSU sensors (by their label object) that have asserted "Presence detected": silent later means pulled. */
  private readonly present = new WeakSet<Labels>();
  private readonly skippedSeen = new Set<string>();
  /** Lines of ipmitool's output that could not be read, since start. */
  skippedLines = 0;
  private lastError: string | undefined;

  constructor(
    private readonly spec: IpmiCollectorSpec,
    private readonly ctx: CollectorContext,
    tool?: Ipmitool,
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.timeout;
    this.tool = tool ?? new Ipmitool(spec);
    this.upLabels = labelsOf({ host: ctx.host, collector: spec.name, bmc: this.tool.bmc });
  }

  private labelsFor(metric: string, s: IpmiSensor, extra: Labels | undefined): Labels {
    const unit = metric === "ipmi.reading" ? (s.unit ?? "") : undefined;
    const key = `${metric}\u0000${s.name}\u0000${s.kind}\u0000${unit ?? ""}\u0000${extra?.entity ?? ""}\u0000${extra?.id ?? ""}`;
    let l = this.labels.get(key);
    if (!l) {
      l = labelsOf(
        { host: this.ctx.host, collector: this.spec.name, bmc: this.tool.bmc, sensor: s.name, kind: s.kind },
        { ...(unit !== undefined ? { unit } : {}), ...extra },
      );
      this.labels.set(key, l);
    }
    return l;
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const r = await this.tool.poll(callBudget(this.timeout), signal);
    const ts = this.ctx.now();
    const log = this.ctx.log;
    const where = { collector: this.name, bmc: this.tool.bmc };
    this.ctx.report?.(this.tool.bmc, r.ok ? undefined : r.error);
    if (!r.ok) {
      if (this.up !== false || r.error !== this.lastError)
        log.warn({ ...where, err: r.error }, "BMC did not answer: ipmi.up 0, its sensors unknown");
      this.up = false;
      this.lastError = r.error;
      return [
        { metric: "ipmi.up", labels: this.upLabels, value: 0, ts },
        ...this.lastSensors.map((l) => stateSample("ipmi.sensor", l, "unknown", ts)),
      ];
    }
    if (this.up === false) log.info(where, "BMC answers again: ipmi.up 1");
    this.up = true;
    if (r.error && r.error !== this.lastError)
      log.warn({ ...where, err: r.error }, "ipmitool reported an error");
    this.lastError = r.error;
    const parsed = parseIpmitool(r.stdout);
    this.noteSkipped(parsed.skipped);
    const extra = extraLabels(parsed.sensors);
    const out: Sample[] = [{ metric: "ipmi.up", labels: this.upLabels, value: 1, ts }];
    const seen: Labels[] = [];
    for (const s of parsed.sensors) {
      const x = extra.get(s);
      const l = this.labelsFor("ipmi.sensor", s, x);
      seen.push(l);
      if (s.presence === true) this.present.add(l);
      // A supply that said it was there and now asserts nothing at all was pulled (its presence bit cleared).
      const state = s.presence === false && this.present.has(l) ? "absent" : s.state;
      out.push(stateSample("ipmi.sensor", l, state, ts));
      if (s.reading !== undefined) {
        out.push({
          metric: "ipmi.reading",
          labels: this.labelsFor("ipmi.reading", s, x),
          value: s.reading,
          ts,
        });
      }
    }
    this.lastSensors = seen;
    return out;
  }

  private noteSkipped(lines: readonly string[]): void {
    this.skippedLines += lines.length;
    for (const line of lines) {
      if (this.skippedSeen.has(line) || this.skippedSeen.size >= SKIPPED_LOGGED) continue;
      this.skippedSeen.add(line);
      this.ctx.log.warn(
        { collector: this.name, bmc: this.tool.bmc, line: line.slice(0, 200) },
        "ipmitool printed a line that is not a sensor: skipped",
      );
    }
  }

  close(): Promise<void> {
    return this.tool.close();
  }
}

export function createIpmiCollector(spec: IpmiCollectorSpec, ctx: CollectorContext): PollCollector {
  return new IpmiCollector(spec, ctx);
}

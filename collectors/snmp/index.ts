/**
 * The `snmp` collector: one agent (a router, a switch, a PDU, a server's agent) polled every interval with the
 * profiles and `oids:` its block names. It only observes; rules decide. The parts: agent.ts (the session, the
 * in-flight limit, reads), profiles/ (what each OID set means), series.ts (label objects, last good series),
 * config.ts. See README.md for the metrics and states.
 */
import { type CollectorContext, labelsOf, type PollCollector } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { registerAgent } from "../../src/snmp/registry.js";
import { describeSnmpError, type SessionOptions } from "../../src/snmp/session.js";
import { targetLabel } from "../../src/snmp/target.js";
import { AgentIO, isAgentDown } from "./agent.js";
import type { SnmpCollectorSpec } from "./config.js";
import { customProfile, PROFILE_DEFS, type Profile } from "./profiles/index.js";
import { Series } from "./series.js";

export { AgentIO, isAgentDown, Limiter } from "./agent.js";

const SYS_UPTIME = "1.3.6.1.2.1.1.3.0";

/** The part of the run's timeout a poll may use: the rest leaves time to report `snmp.up` 0 within the run. */
export function pollBudget(timeout: number): number {
  return Math.max(timeout - 500, Math.round(timeout * 0.8));
}

/** An error in words, without what a message might quote of a community ("Community 'x' in request ..."). */
export function describeError(err: unknown, version: SnmpCollectorSpec["target"]["version"]): string {
  return describeSnmpError(err, { version }).replace(/(community\s*)'[^']*'/gi, "$1'…'");
}

interface Run {
  readonly profile: Profile;
  readonly samples: Sample[];
  readonly commit: () => void;
}

export class SnmpCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  readonly timeout: number;
  readonly target: string;
  readonly io: AgentIO;
  readonly profiles: readonly Profile[];
  private readonly series: Series;
  private readonly upLabels: Labels;
  private up: boolean | undefined;
  private lastError: string | undefined;
  private readonly profileErrors = new Map<string, string>();
  /** Datagrams that were not valid SNMP (garbage, truncated, another protocol), since start. */
  invalidReplies = 0;
  private unregister: (() => void) | undefined;
  private registeredAt: string | undefined;

  constructor(
    private readonly spec: SnmpCollectorSpec,
    private readonly ctx: CollectorContext,
    options: Pick<SessionOptions, "resolve" | "sourceAddress"> = {},
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.timeout;
    this.target = targetLabel(spec.target);
    const base = labelsOf({ host: ctx.host, collector: spec.name, target: this.target });
    this.upLabels = base;
    this.profiles = [
      ...spec.profiles.map((n) => PROFILE_DEFS[n]),
      ...(spec.oids.length > 0 ? [customProfile(spec.oids)] : []),
    ];
    this.series = new Series(base, this.profiles);
    this.io = new AgentIO(spec, { ...options, onError: (err) => this.onInvalid(err) });
    if (this.io.address !== undefined) this.register(this.io.address);
  }

  private get where() {
    return { collector: this.name, target: this.target };
  }

  /** Tells the trap receiver which series this agent's traps belong to (again if the host's address changed). */
  private register(address: string): void {
    if (address === this.registeredAt) return;
    this.unregister?.();
    this.registeredAt = address;
    this.unregister = registerAgent(address, {
      collector: this.name,
      target: this.target,
      labels: (metric, index) => this.series.labelsFor(metric, index),
    });
  }

  private onInvalid(err: Error): void {
    this.invalidReplies++;
    if (this.invalidReplies === 1)
      this.ctx.log.warn(
        { ...this.where, err: err.message.slice(0, 200) },
        `${this.target}: a datagram that is not valid SNMP: ignored and counted (snmp.invalid_replies)`,
      );
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const ts = this.ctx.now();
    const onAbort = () => this.io.reset();
    signal.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = this.poll(ts);
      work.catch(() => {}); // settled below, or abandoned at the deadline
      const budget = pollBudget(this.timeout);
      const deadline = new Promise<"deadline">((r) => {
        timer = setTimeout(() => r("deadline"), budget);
      });
      const r = await Promise.race([work, deadline]).catch((err: unknown) => ({
        failure: this.describe(err),
        timedOut: (err as Error | undefined)?.name === "RequestTimedOutError",
      }));
      if (r === "deadline") {
        this.io.reset(); // ends the requests still outstanding
        this.io.backoff();
        return this.down(`no complete answer within ${budget} ms`);
      }
      if ("failure" in r) {
        if (r.timedOut) this.io.backoff();
        return this.down(r.failure);
      }
      this.io.answered();
      return this.answered(r.runs, r.failed, ts);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private describe(err: unknown): string {
    return describeError(err, this.spec.target.version);
  }

  /** Every profile at once (under the in-flight limit); a profile that failed for its own reason is listed apart. */
  private async poll(ts: number): Promise<{ runs: Run[]; failed: [Profile, unknown][] }> {
    const reader = await this.io.reader();
    this.register(this.io.address!);
    if (this.profiles.length === 0) await reader.get([SYS_UPTIME]);
    const settled = await Promise.allSettled(
      this.profiles.map(async (profile): Promise<Run> => {
        const samples: Sample[] = [];
        const { out, commit } = this.series.begin(profile, ts, samples);
        await profile.poll(reader, out);
        return { profile, samples, commit };
      }),
    );
    const runs: Run[] = [];
    const failed: [Profile, unknown][] = [];
    for (const [i, s] of settled.entries()) {
      if (s.status === "fulfilled") runs.push(s.value);
      else if (isAgentDown(s.reason)) throw s.reason;
      else failed.push([this.profiles[i]!, s.reason]);
    }
    return { runs, failed };
  }

  private answered(runs: readonly Run[], failed: readonly [Profile, unknown][], ts: number): Sample[] {
    if (this.up === false)
      this.ctx.log.info(this.where, `${this.target}: the agent answers again: snmp.up 1`);
    this.up = true;
    this.lastError = undefined;
    this.ctx.report?.(this.target, undefined);
    const out: Sample[] = [{ metric: "snmp.up", labels: this.upLabels, value: 1, ts }, ...this.invalid(ts)];
    for (const r of runs) {
      r.commit();
      out.push(...r.samples);
      this.profileErrors.delete(r.profile.name);
    }
    for (const [p, err] of failed) {
      const why = this.describe(err);
      if (this.profileErrors.get(p.name) !== why)
        this.ctx.log.warn(
          { ...this.where, profile: p.name, err: why },
          `${this.target}: profile ${p.name} could not be read: its components unknown`,
        );
      this.profileErrors.set(p.name, why);
      out.push(...this.series.unknown(p, ts));
    }
    return out;
  }

  /** The agent did not answer: `snmp.up` 0, every component of the last good poll `unknown`, numbers stop. */
  private down(why: string): Sample[] {
    const ts = this.ctx.now();
    this.io.reset();
    if (this.up !== false || why !== this.lastError)
      this.ctx.log.warn(
        { ...this.where, err: why },
        `${this.target}: ${why}: snmp.up 0, its components unknown`,
      );
    this.up = false;
    this.lastError = why;
    this.ctx.report?.(this.target, why);
    return [
      { metric: "snmp.up", labels: this.upLabels, value: 0, ts },
      ...this.invalid(ts),
      ...this.profiles.flatMap((p) => this.series.unknown(p, ts)),
    ];
  }

  private invalid(ts: number): Sample[] {
    return this.invalidReplies > 0
      ? [{ metric: "snmp.invalid_replies", labels: this.upLabels, value: this.invalidReplies, ts }]
      : [];
  }

  close(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    this.registeredAt = undefined;
    this.io.reset();
    return Promise.resolve();
  }
}

export function createSnmpCollector(spec: SnmpCollectorSpec, ctx: CollectorContext): PollCollector {
  return new SnmpCollector(spec, ctx);
}

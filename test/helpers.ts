import { parseCondition } from "../src/engine/condition.js";
import type { Condition, FlapSpec, Labels, RuleSpec, Sample, Severity } from "../src/engine/types.js";
import { parseDuration, parseSpan } from "../src/util/duration.js";

export function cond(text: string): Condition {
  const r = parseCondition(text);
  if (!r.ok) throw new Error(`bad condition in test: ${r.error.message}`);
  return r.condition;
}

export interface RuleInput {
  name?: string;
  metric?: string;
  labels?: Labels;
  problem: string;
  recovery?: string;
  for?: string;
  recover_for?: string;
  stale_after?: string;
  forget_after?: string;
  severity?: Severity;
  flap?: FlapSpec | false;
}

/** A RuleSpec from the strings a user writes (flap detection off unless asked). */
export function rule(r: RuleInput): RuleSpec {
  const span = (t: string | undefined) => {
    if (t === undefined) return undefined;
    const s = parseSpan(t);
    if (!s) throw new Error(`bad span in test: ${t}`);
    return s;
  };
  return {
    name: r.name ?? "r",
    metric: r.metric ?? "m",
    labels: r.labels ?? {},
    problem: cond(r.problem),
    ...(r.recovery ? { recovery: cond(r.recovery) } : {}),
    ...(r.for ? { for: span(r.for)! } : {}),
    ...(r.recover_for ? { recover_for: span(r.recover_for)! } : {}),
    ...(r.stale_after ? { stale_after: parseDuration(r.stale_after)! } : {}),
    ...(r.forget_after ? { forget_after: parseDuration(r.forget_after)! } : {}),
    severity: r.severity ?? "critical",
    flap: r.flap ?? false,
  };
}

export function sample(ts: number, value: number, labels: Labels = {}, metric = "m"): Sample {
  return { ts, metric, labels, value };
}

import type { HealthSnapshot, MemberStatus } from "../src/groups/controller.js";
import type { FailbackMode, GroupSpec, Health } from "../src/groups/types.js";

export interface GroupInput {
  name?: string;
  /** Member names, most preferred first; priorities 100, 90, 80, ... */
  members?: string[];
  mode?: FailbackMode;
  hold?: number;
  max_hold?: number;
  max_switches?: number;
  within?: number;
  min_healthy?: number;
  verify?: { rules: string[]; within: number };
}

export function group(g: GroupInput = {}): GroupSpec {
  const names = g.members ?? ["a", "b", "c"];
  const hold = g.hold ?? 30_000;
  return {
    name: g.name ?? "g",
    members: names.map((n, i) => ({
      name: n,
      priority: 100 - i * 10,
      health: [{ rule: `${n}-down` }],
      activate: [],
      deactivate: [],
    })),
    failback: { mode: g.mode ?? "auto", hold, max_hold: g.max_hold ?? hold * 8 },
    damping: { max_switches: g.max_switches ?? 100, within: g.within ?? 600_000 },
    ...(g.min_healthy !== undefined ? { min_healthy: g.min_healthy } : {}),
    ...(g.verify ? { verify: g.verify } : {}),
  };
}

/** A health snapshot: `{a: "healthy", b: "unhealthy"}`; members not named are healthy. */
export function health(
  spec: GroupSpec,
  states: Record<string, Health>,
  verifyFiring: string[] = [],
): HealthSnapshot {
  const members: Record<string, MemberStatus> = {};
  for (const m of spec.members) {
    const h = states[m.name] ?? "healthy";
    members[m.name] =
      h === "healthy"
        ? { health: h, culprits: [], reason: "all health rules ok" }
        : {
            health: h,
            culprits: [
              {
                rule: `${m.name}-down`,
                labels: {},
                state: h === "unknown" ? "unknown" : "firing",
                reason: `${m.name}-down ${h}`,
              },
            ],
            reason: `${m.name}-down ${h}`,
          };
  }
  return { members, verifyFiring };
}

import type { ActionContext } from "../src/actions/run.js";
import type { CollectorContext, Log } from "../src/collector.js";

/** A log that says nothing, for tests that do not look at logs. */
export const quietLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** One line a collector logged. */
export interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A collector context whose log is recorded (`logged`), with a fixed or given clock. */
export function collectorContext(
  now: () => number = () => 1764100000000,
  host = "web-01",
): { ctx: CollectorContext; logged: Logged[] } {
  const logged: Logged[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      logged.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const log: Log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { ctx: { host, now, log }, logged };
}

/** The context of a switch from isp-a to isp-b, as action tests use it. */
export const switchContext: ActionContext = {
  group: "uplink",
  from: "isp-a",
  to: "isp-b",
  reason: "gw-a-down firing",
  dryRun: false,
};

import type { StandbyEvent } from "../src/groups/events.js";

/** A field of any event, for tests that list events of several kinds (`field(e, "to")`). */
export function field(e: StandbyEvent, name: string): unknown {
  return (e as unknown as Record<string, unknown>)[name];
}

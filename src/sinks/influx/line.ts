/**
 * Samples, rule state changes, group and member states and events as InfluxDB line protocol (the schema in this
 * folder's README). Every line carries an explicit timestamp in ns, so a line written twice is one point.
 * Escaping is node-influx's (`escape`), plus what it leaves out: a newline in a tag or string would end the line,
 * an empty tag value is refused by InfluxDB (the tag is left out), NaN and infinities are not numbers to it (the
 * field is left out).
 */
import { escape as influxEscape } from "influx";
import { eventTitle } from "../../cli/format.js";
import type { Labels, Sample } from "../../engine/types.js";
import type { RuleEvent, StandbyEvent } from "../../groups/events.js";

/** What a line is: a sample (dropped first when the spool is full) or a decision (never dropped). */
export type LineKind = "sample" | "decision";

const NEWLINES = /[\r\n]+/g;

/** A tag key or value, escaped (a newline becomes a space). */
export function tagText(s: string): string {
  return influxEscape.tag(s.replace(NEWLINES, " "));
}

/** A string field value, quoted and escaped (a newline becomes a space: the JSON field keeps the original). */
export function stringField(s: string): string {
  return influxEscape.quoted(s.replace(NEWLINES, " "));
}

/** `,k=v,…` sorted by key (InfluxDB's own order, the cheapest for it to index); empty values left out. */
export function tagsText(labels: Labels): string {
  let out = "";
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k];
    if (v === undefined || v === "" || k === "") continue;
    out += `,${tagText(k === "time" ? "time_" : k)}=${tagText(v)}`;
  }
  return out;
}

type Field = string | number | boolean | undefined;

/** ` k=v,…` (a number is a float, `int(n)` an integer); undefined, NaN and infinities are left out. */
function fieldsText(fields: Readonly<Record<string, Field | Int>>): string {
  let out = "";
  for (const k in fields) {
    const v = fields[k];
    let t: string;
    if (v === undefined) continue;
    if (v instanceof Int) t = `${v.n}i`;
    else if (typeof v === "number") {
      if (!Number.isFinite(v)) continue;
      t = String(v);
    } else if (typeof v === "boolean") t = v ? "1i" : "0i";
    else t = stringField(v);
    out += `${out ? "," : " "}${tagText(k)}=${t}`;
  }
  return out;
}

class Int {
  constructor(readonly n: number) {}
}
const int = (n: number) => new Int(Math.trunc(n));

/** A sample's line, `metric,tags value=…[,state="…"] ts`; the tag text is cached per label object. */
export class SampleEncoder {
  private readonly tags = new WeakMap<Labels, string>();
  private readonly measurements = new Map<string, string | null>();

  /** `exclude(metric)`: samples of that metric are not written. */
  constructor(private readonly exclude: (metric: string) => boolean = () => false) {}

  /** The line, or undefined when the metric is excluded or the value is not a finite number. */
  encode(s: Sample, wallMs: number): string | undefined {
    let m = this.measurements.get(s.metric);
    if (m === undefined) {
      m = this.exclude(s.metric) ? null : influxEscape.measurement(s.metric.replace(NEWLINES, " "));
      this.measurements.set(s.metric, m);
    }
    if (m === null || !Number.isFinite(s.value)) return undefined;
    let t = this.tags.get(s.labels);
    if (t === undefined) this.tags.set(s.labels, (t = tagsText(s.labels)));
    const state = s.state === undefined ? "" : `,state=${stringField(s.state)}`;
    return `${m}${t} value=${s.value}${state} ${Math.round(wallMs)}000000`;
  }
}

/**
 * Timestamps of decision points: ns, the ms of the decision and a sequence within that ms, so two decisions in one
 * ms (a rule firing and the failover it causes, on the same group's series) are two points, not one.
 */
export class DecisionClock {
  private ms = Number.NEGATIVE_INFINITY;
  private seq = 0;

  ns(wallMs: number): string {
    const ms = Math.round(wallMs);
    if (ms === this.ms) this.seq++;
    else {
      this.ms = ms;
      this.seq = 0;
    }
    return `${ms}${String(this.seq).padStart(6, "0")}`;
  }
}

/** A rule instance's state change: `standby_rule`. */
export function ruleLine(e: RuleEvent, host: string, severity: string | undefined, ns: string): string {
  const firing = e.state === "firing" || e.state === "recovering" || e.state === "flapping";
  const tags = tagsText({ ...e.labels, host, rule: e.rule, ...(severity ? { severity } : {}) });
  return `standby_rule${tags}${fieldsText({
    state: e.state,
    prev: e.prev,
    firing: int(firing ? 1 : 0),
    value: e.value,
    reason: e.reason,
  })} ${ns}`;
}

/** A rule instance that is not ok, as it is now (every 10 s, so "what fires now" has a point in any window). */
export function ruleStateLine(
  r: { rule: string; labels: Labels; state: string; value?: number; reason: string },
  host: string,
  severity: string | undefined,
  ns: string,
): string {
  const firing = r.state === "firing" || r.state === "recovering" || r.state === "flapping";
  const tags = tagsText({ ...r.labels, host, rule: r.rule, ...(severity ? { severity } : {}) });
  return `standby_rule${tags}${fieldsText({ state: r.state, firing: int(firing ? 1 : 0), value: r.value, reason: r.reason })} ${ns}`;
}

/** Any other event: `standby_event`, with `text` for an annotation and the whole event as `json`. */
export function eventLine(e: StandbyEvent, host: string, ns: string): string {
  const x = e as unknown as Readonly<Record<string, unknown>>;
  const str = (k: string) => (typeof x[k] === "string" ? (x[k] as string) : undefined);
  const tags = tagsText({ host, kind: e.kind, ...(str("group") ? { group: str("group")! } : {}) });
  return `standby_event${tags}${fieldsText({
    text: eventTitle(e),
    reason: e.reason,
    from: str("from"),
    to: str("to"),
    member: str("member"),
    rule: str("rule"),
    action: str("action"),
    phase: str("phase"),
    collector: str("collector"),
    target: str("target"),
    state: str("state"),
    ok: typeof x.ok === "boolean" ? x.ok : undefined,
    duration_ms: typeof x.duration_ms === "number" ? x.duration_ms : undefined,
    dry_run: e.dry_run,
    json: JSON.stringify(e),
  })} ${ns}`;
}

/** A group's state as the dashboards show it. */
export interface GroupView {
  readonly name: string;
  readonly active: string;
  readonly switching: boolean;
  readonly frozen: boolean;
  readonly pinned: boolean;
  readonly members: readonly { name: string; priority: number; health: string; reason: string }[];
  /** Fleet mode, a shared group: its leader, whether this instance is it, and the observers' votes per member. */
  readonly fleet?: {
    readonly leader?: string;
    readonly isLeader: boolean;
    readonly fence?: string;
    readonly votes: Readonly<Record<string, Readonly<Record<string, number>>>>;
  };
}

const HEALTH_VALUE: Readonly<Record<string, number>> = { healthy: 2, degraded: 1, unhealthy: 0, unknown: -1 };

/** `standby_group` and one `standby_member` line per member. */
export function groupLines(g: GroupView, host: string, ns: string): string[] {
  const active = g.members.find((m) => m.name === g.active);
  // 1 = the most preferred member (highest priority); a dashboard colours "not on the primary" by it.
  const rank = active ? 1 + g.members.filter((m) => m.priority > active.priority).length : undefined;
  const out = [
    `standby_group${tagsText({ host, group: g.name })}${fieldsText({
      active: g.active,
      active_priority: active ? int(active.priority) : undefined,
      active_rank: rank !== undefined ? int(rank) : undefined,
      failed_over: rank !== undefined ? rank > 1 : undefined,
      members: int(g.members.length),
      healthy_members: int(g.members.filter((m) => m.health === "healthy").length),
      switching: g.switching,
      frozen: g.frozen,
      pinned: g.pinned,
      ...(g.fleet
        ? { leader: g.fleet.leader ?? "", is_leader: g.fleet.isLeader, fence: g.fleet.fence ?? "" }
        : {}),
    })} ${ns}`,
  ];
  for (const m of g.members) {
    out.push(
      `standby_member${tagsText({ host, group: g.name, member: m.name })}${fieldsText({
        health: m.health,
        health_value: int(HEALTH_VALUE[m.health] ?? -1),
        healthy: m.health === "healthy",
        active: m.name === g.active,
        priority: int(m.priority),
        reason: m.reason,
        ...votesFields(g.fleet?.votes[m.name]),
      })} ${ns}`,
    );
  }
  return out;
}

/** A shared member's votes as fields: `votes_healthy`, `votes_degraded`, `votes_unhealthy`, `votes_unknown`. */
function votesFields(tally: Readonly<Record<string, number>> | undefined): Record<string, Int> {
  if (!tally) return {};
  return Object.fromEntries(Object.entries(tally).map(([h, n]) => [`votes_${h}`, int(n)]));
}

/** The sink's own counters: `standby_sink`. */
export function sinkLine(
  host: string,
  sink: string,
  counters: Readonly<Record<string, number>>,
  lastError: string | undefined,
  ns: string,
): string {
  const fields: Record<string, Field | Int> = {};
  for (const [k, v] of Object.entries(counters)) fields[k] = int(v);
  fields.last_error = lastError ?? "";
  return `standby_sink${tagsText({ host, sink })}${fieldsText(fields)} ${ns}`;
}

/** Points in a batch of lines (one point a line). */
export function countLines(text: string): number {
  let n = text.length > 0 ? 1 : 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) if (i < text.length - 1) n++;
  return n;
}

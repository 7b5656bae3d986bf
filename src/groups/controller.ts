import { formatDuration } from "../util/duration.js";
import type { Culprit, EventInput, StandbyEvent } from "./events.js";
import type { GroupSpec, Health, MemberSpec } from "./types.js";

/** What the controller knows of one member: its health and the rule instances behind it. */
export interface MemberStatus {
  readonly health: Health;
  /** The rule instances that make the member less than healthy (empty when healthy). */
  readonly culprits: readonly Culprit[];
  readonly reason: string;
}

/** Everything the controller decides from, recomputed by the caller when a rule changes state. */
export interface HealthSnapshot {
  readonly members: Readonly<Record<string, MemberStatus>>;
  /** The group's `verify` rules that are firing now (their reasons). */
  readonly verifyFiring: readonly string[];
}

export type Command =
  | { readonly command: "failover"; readonly member?: string; readonly until?: number }
  | { readonly command: "failback" }
  | { readonly command: "pin"; readonly member: string; readonly until?: number; readonly force?: boolean }
  | { readonly command: "unpin" }
  | { readonly command: "freeze"; readonly reason?: string }
  | { readonly command: "unfreeze" };

export type Input =
  | { readonly type: "health"; readonly snapshot: HealthSnapshot }
  | { readonly type: "tick" }
  | ({ readonly type: "command"; readonly by?: string } & Command)
  /** The action runner's verdict on activating `to`. */
  | { readonly type: "switch_result"; readonly to: string; readonly ok: boolean; readonly detail: string };

/** The controller's whole state: plain data, JSON-serializable, persisted by the daemon. */
export interface GroupState {
  readonly active: string;
  /** When `active` became active. */
  readonly since: number;
  /** Times of the automatic switches still inside the damping window. */
  readonly switches: readonly number[];
  /**
   * Frozen by damping (with `until`) or by hand: no automatic failback. `avoid` is the member that kept failing
   * (as Pacemaker's migration-threshold bans a node): not chosen while another healthy member exists.
   */
  readonly frozen?: {
    readonly at: number;
    readonly until?: number;
    readonly reason: string;
    readonly avoid?: string;
  };
  /** The operator's choice (`pin`, or `failover`, which holds the group as a pin does) until unpin/failback/expiry. */
  readonly pin?: { readonly member: string; readonly until?: number; readonly by?: "pin" | "failover" };
  /**
   * A member the operator put in charge although it was unhealthy or unknown (`pin --force`, `failover --to`):
   * automatic failover away from it waits until its health changes.
   */
  readonly forced?: string;
  /** The hold in force: the configured one, doubled after each failed failback, capped at max_hold. */
  readonly hold: number;
  /** After a failback: a relapse of `to` before `until` doubles the next hold. */
  readonly probation?: { readonly to: string; readonly until: number };
  /** After a switch: `verify` rules are checked at `deadline`. */
  readonly verify?: { readonly to: string; readonly deadline: number };
  /** Members whose activation failed, excluded as targets until the given time. */
  readonly excluded: Readonly<Record<string, number>>;
  readonly health: Readonly<Record<string, MemberStatus>>;
  /** When each member became continuously healthy (absent when it is not healthy). */
  readonly healthySince: Readonly<Record<string, number>>;
  /** Members that have had a known health at least once (redundancy is judged once all have). */
  readonly seen: readonly string[];
  readonly verifyFiring: readonly string[];
  readonly noHealthy: boolean;
  readonly redundancy?: "ok" | "lost";
  readonly startedAt: number;
}

export interface StepResult {
  readonly state: GroupState;
  readonly events: readonly StandbyEvent[];
  /**
   * Set when the active member changed (at most one switch a step): the daemon deactivates `from` (best effort)
   * and activates `to`. `retry` re-runs the activation of the active member after its activation failed.
   */
  readonly switch?: { readonly from: string; readonly to: string; readonly kind: SwitchKind };
  /** A command that was refused, and why. */
  readonly error?: string;
}

export type SwitchKind = "failover" | "failback" | "manual_switch" | "switch_retry";

/** Redundancy is judged once every member has reported, or this long after start. */
export const REDUNDANCY_GRACE_MS = 30_000;

const UNKNOWN_STATUS: MemberStatus = { health: "unknown", culprits: [], reason: "no data yet" };

export function initialState(spec: GroupSpec, now: number, active?: string): GroupState {
  const first = spec.members[0];
  if (!first) throw new Error(`group "${spec.name}" has no members`);
  const start = active && spec.members.some((m) => m.name === active) ? active : first.name;
  return {
    active: start,
    since: now,
    switches: [],
    hold: spec.failback.hold,
    excluded: {},
    health: Object.fromEntries(spec.members.map((m) => [m.name, UNKNOWN_STATUS])),
    healthySince: {},
    seen: [],
    verifyFiring: [],
    noHealthy: false,
    startedAt: now,
  };
}

/** GroupState with everything writable, for the working copy of one step. */
type Working = {
  -readonly [K in keyof GroupState]: GroupState[K] extends readonly (infer E)[]
    ? E[]
    : GroupState[K] extends Readonly<Record<string, infer V>>
      ? Record<string, V>
      : GroupState[K];
};

/** A mutable working copy for one step; the caller's state is never changed. */
class Step {
  readonly s: Working;
  readonly events: StandbyEvent[] = [];
  switched?: StepResult["switch"];
  constructor(
    readonly spec: GroupSpec,
    state: GroupState,
    readonly now: number,
  ) {
    this.s = {
      ...state,
      switches: [...state.switches],
      excluded: { ...state.excluded },
      health: { ...state.health },
      healthySince: { ...state.healthySince },
      seen: [...state.seen],
      verifyFiring: [...state.verifyFiring],
    };
  }

  emit(e: EventInput<"ts" | "group">): void {
    this.events.push({ ts: this.now, group: this.spec.name, ...e } as StandbyEvent);
  }

  member(name: string): MemberSpec | undefined {
    return this.spec.members.find((m) => m.name === name);
  }

  status(name: string): MemberStatus {
    return this.s.health[name] ?? UNKNOWN_STATUS;
  }

  /** Members in order of preference: the pinned one first, then by priority. */
  preference(): MemberSpec[] {
    const pin = this.s.pin?.member;
    const members = [...this.spec.members];
    if (pin) {
      const i = members.findIndex((m) => m.name === pin);
      if (i > 0) members.unshift(...members.splice(i, 1));
    }
    return members;
  }

  /**
   * The best target other than `exclude`: healthy by preference, else degraded; never unknown/unhealthy. While
   * frozen, the member that kept failing is taken only when no other member would do.
   */
  bestTarget(exclude: string): { member: MemberSpec; health: Health } | undefined {
    const candidates = this.preference().filter((m) => m.name !== exclude && !(m.name in this.s.excluded));
    const avoid = this.s.frozen?.avoid;
    const ordered = avoid
      ? [...candidates.filter((m) => m.name !== avoid), ...candidates.filter((m) => m.name === avoid)]
      : candidates;
    for (const wanted of ["healthy", "degraded"] as const) {
      const m = ordered.find((c) => this.status(c.name).health === wanted);
      if (m) return { member: m, health: wanted };
    }
    return undefined;
  }

  switchTo(to: string, kind: "failover" | "failback" | "manual_switch", reason: string, extra = {}): void {
    // One switch per step: callers check `switched` first; should one not, the first switch stands and the next
    // step decides again (never an exception from inside the decision path of a failover daemon).
    if (this.switched) return;
    const from = this.s.active;
    const culprit = this.status(from).culprits[0];
    this.emit({
      kind,
      from,
      to,
      ...(kind === "failover" && culprit
        ? {
            rule: culprit.rule,
            labels: culprit.labels,
            ...(culprit.value !== undefined ? { value: culprit.value } : {}),
          }
        : {}),
      reason,
      ...extra,
    });
    this.s.active = to;
    this.s.since = this.now;
    this.s.noHealthy = false;
    if (this.s.forced !== to) delete this.s.forced;
    this.switched = { from, to, kind };
    if (this.spec.verify) this.s.verify = { to, deadline: this.now + this.spec.verify.within };
    else delete this.s.verify;
    if (kind === "failback") this.s.probation = { to, until: this.now + this.s.hold };
    else delete this.s.probation;
  }

  /**
   * An automatic switch, subject to damping. A failback is never made while frozen, and the one that would
   * exceed `max_switches` freezes the group instead. A failover (the active member is unhealthy) is made even
   * then — safety beats stability — and says so; the member it leaves is the one that kept failing.
   */
  autoSwitch(to: string, kind: "failover" | "failback", reason: string): void {
    const { max_switches, within } = this.spec.damping;
    this.s.switches = this.s.switches.filter((t) => t > this.now - within);
    if (this.s.frozen) {
      if (kind === "failback") return;
      this.s.switches.push(this.now);
      this.switchTo(
        to,
        kind,
        `${reason}; made although frozen (${this.s.frozen.reason}): ${this.s.active} is unhealthy`,
      );
      return;
    }
    if (this.s.switches.length >= max_switches) {
      const until = this.now + within;
      const avoid = kind === "failback" ? to : this.s.active;
      this.s.frozen = {
        at: this.now,
        until,
        reason: `${this.s.switches.length} automatic switches within ${formatDuration(within)} (max_switches ${max_switches})`,
        avoid,
      };
      const resumes = `automatic failback resumes in ${formatDuration(within)} or on unfreeze; ${avoid} kept failing and is avoided as a target`;
      if (kind === "failback") {
        this.emit({
          kind: "frozen",
          member: this.s.active,
          reason: `frozen on ${this.s.active}: ${this.s.frozen.reason}; wanted ${kind} to ${to} (${reason}); ${resumes}`,
        });
        return;
      }
      this.emit({
        kind: "frozen",
        member: to,
        reason: `frozen: ${this.s.frozen.reason}; the failover to ${to} is still made (${this.s.active} is unhealthy: safety beats stability); ${resumes}`,
      });
      this.s.switches.push(this.now);
      this.switchTo(to, kind, `${reason}; made although frozen: ${this.s.active} is unhealthy`);
      return;
    }
    this.s.switches.push(this.now);
    this.switchTo(to, kind, reason);
  }
}

function healthText(st: MemberStatus): string {
  return st.health === "healthy" ? "healthy" : `${st.health} (${st.reason})`;
}

/**
 * One step of a redundancy group's controller: pure, time is a parameter. Apply `input`, then decide.
 * See DESIGN.md "Semantics we promise".
 */
export function step(
  spec: GroupSpec,
  state: GroupState,
  now: number,
  input: Input = { type: "tick" },
): StepResult {
  const st = new Step(spec, state, now);
  const retry = expireTimers(st);
  let error: string | undefined;
  switch (input.type) {
    case "health":
      applyHealth(st, input.snapshot);
      break;
    case "tick":
      break;
    case "command":
      error = command(st, input);
      break;
    case "switch_result":
      if (!input.ok && st.s.active === input.to)
        switchFailed(st, input.to, `activation failed: ${input.detail}`);
      break;
  }
  checkVerify(st);
  // One switch per step: an operator's switch is not followed by an automatic one in the same step.
  if (!st.switched) decide(st);
  if (retry && !st.switched && !(st.s.active in st.s.excluded)) {
    st.switched = { from: st.s.active, to: st.s.active, kind: "switch_retry" };
    st.emit({
      kind: "switch_retry",
      member: st.s.active,
      to: st.s.active,
      reason: `retrying the activation of ${st.s.active}: it failed earlier, no other member took over, and its exclusion of ${formatDuration(st.s.hold)} ended`,
    });
  }
  judgeRedundancy(st);
  return {
    state: st.s,
    events: st.events,
    ...(st.switched ? { switch: st.switched } : {}),
    ...(error ? { error } : {}),
  };
}

/** Expires pins, freezes, exclusions and probation; true when the active member's exclusion ended. */
function expireTimers(st: Step): boolean {
  const { s, now } = st;
  let retry = false;
  if (s.pin?.until !== undefined && now >= s.pin.until) {
    st.emit({ kind: "unpinned", member: s.pin.member, reason: `pin to ${s.pin.member} expired` });
    delete s.pin;
  }
  if (s.frozen?.until !== undefined && now >= s.frozen.until) {
    st.emit({
      kind: "unfrozen",
      member: s.active,
      reason: `damping window of ${formatDuration(st.spec.damping.within)} passed; automatic switching resumes`,
    });
    delete s.frozen;
    // Not reset: the failovers made while frozen still count in the sliding window.
    s.switches = s.switches.filter((t) => t > now - st.spec.damping.within);
  }
  for (const [m, until] of Object.entries(s.excluded)) {
    if (now < until) continue;
    delete s.excluded[m];
    if (m === s.active) retry = true;
  }
  if (s.probation && now >= s.probation.until) {
    // The failback held: the hold returns to its configured length.
    s.hold = st.spec.failback.hold;
    delete s.probation;
  }
  return retry;
}

function applyHealth(st: Step, snap: HealthSnapshot): void {
  const { s, now } = st;
  s.verifyFiring = [...snap.verifyFiring];
  for (const m of st.spec.members) {
    const next = snap.members[m.name] ?? UNKNOWN_STATUS;
    const prev = st.status(m.name);
    s.health[m.name] = next;
    if (next.health !== "unknown" && !s.seen.includes(m.name)) s.seen.push(m.name);
    if (next.health === prev.health) continue;
    if (s.forced === m.name) delete s.forced;
    if (next.health === "healthy") s.healthySince[m.name] = now;
    else delete s.healthySince[m.name];
    const relapse =
      s.probation?.to === m.name &&
      (next.health === "unhealthy" || next.health === "degraded") &&
      now < s.probation.until;
    let extra = "";
    if (relapse) {
      const old = s.hold;
      s.hold = Math.min(old * 2, st.spec.failback.max_hold);
      delete s.probation;
      extra = `; relapse within ${formatDuration(old)} of failback: next hold ${formatDuration(s.hold)}`;
    }
    const culprit = next.culprits[0];
    st.emit({
      kind: "health",
      member: m.name,
      state: next.health,
      ...(culprit ? { rule: culprit.rule, labels: culprit.labels } : {}),
      reason: `${m.name} ${prev.health} → ${next.health}: ${next.reason}${
        m.name === s.active && next.health === "unknown"
          ? "; kept active (missing data is not evidence of failure)"
          : ""
      }${extra}`,
    });
  }
}

function switchFailed(st: Step, to: string, why: string): void {
  const { s, now } = st;
  s.excluded[to] = now + s.hold;
  delete s.verify;
  st.emit({
    kind: "switch_failed",
    member: to,
    to,
    reason: `switch to ${to} failed: ${why}; ${to} excluded as a target for ${formatDuration(s.hold)}`,
  });
}

function checkVerify(st: Step): void {
  const { s, now } = st;
  if (!s.verify || now < s.verify.deadline) return;
  const { to } = s.verify;
  delete s.verify;
  if (s.active === to && s.verifyFiring.length > 0) {
    switchFailed(
      st,
      to,
      `verify rules still firing ${formatDuration(st.spec.verify!.within)} after the switch: ${s.verifyFiring.join("; ")}`,
    );
  }
}

function decide(st: Step): void {
  const { s, spec, now } = st;
  const active = st.status(s.active);
  const activeFailed = s.active in s.excluded;
  if (s.forced === s.active && !activeFailed) return; // the operator's forced choice stands until its health changes
  if (active.health === "unhealthy" || activeFailed) {
    const t = st.bestTarget(s.active);
    const why = activeFailed ? `${s.active} failed to activate` : `${s.active} ${healthText(active)}`;
    if (!t) {
      if (!s.noHealthy) {
        s.noHealthy = true;
        const others = spec.members
          .filter((m) => m.name !== s.active)
          .map(
            (m) =>
              `${m.name} ${st.status(m.name).health}${m.name in s.excluded ? " (excluded after a failed switch)" : ""}`,
          );
        st.emit({
          kind: "no_healthy_member",
          member: s.active,
          reason: `${why}; no member to fail over to (${others.join(", ") || "no other member"}); staying on ${s.active}`,
        });
      }
      return;
    }
    const returning =
      st.preference().findIndex((m) => m.name === t.member.name) <
      st.preference().findIndex((m) => m.name === s.active);
    st.autoSwitch(
      t.member.name,
      "failover",
      `${why}; ${t.member.name} is the ${t.health} member of highest ${s.pin?.member === t.member.name ? "preference (pinned)" : `priority (${t.member.priority})`}${
        t.health === "degraded" ? ", no healthy member left" : ""
      }${returning ? "; hold does not apply when the active member is unhealthy" : ""}`,
    );
    return;
  }
  s.noHealthy = false;
  if (active.health === "unknown") return;
  // Failback: a more preferred member, healthy for the hold.
  if (spec.failback.mode !== "auto" || s.frozen) return;
  const cand = failbackCandidate(st);
  if (!cand) return;
  const since = s.healthySince[cand.name]!;
  if (now - since < s.hold) return;
  st.autoSwitch(
    cand.name,
    "failback",
    `${cand.name} healthy for ${formatDuration(now - since)} (hold ${formatDuration(s.hold)}${
      s.hold !== spec.failback.hold ? `, doubled after a failed failback` : ""
    }, failback auto); ${s.pin?.member === cand.name ? "pinned member" : `priority ${cand.priority} > ${st.member(s.active)?.priority}`}`,
  );
}

/** The most preferred member above the active one, if it is healthy now. */
function failbackCandidate(st: Step): MemberSpec | undefined {
  const { s } = st;
  for (const m of st.preference()) {
    if (m.name === s.active) return undefined;
    if (m.name in s.excluded) continue;
    if (st.status(m.name).health === "healthy") return m;
    // A more preferred member that is not healthy: look further only past unknown/unhealthy ones.
  }
  return undefined;
}

function judgeRedundancy(st: Step): void {
  const { s, spec, now } = st;
  if (spec.min_healthy === undefined) return;
  if (s.seen.length < spec.members.length && now < s.startedAt + REDUNDANCY_GRACE_MS) return;
  const healthy = spec.members.filter((m) => st.status(m.name).health === "healthy");
  const lost = healthy.length < spec.min_healthy;
  const detail = `${healthy.length} of ${spec.members.length} members healthy (min_healthy ${spec.min_healthy})`;
  if (lost && s.redundancy !== "lost") {
    const bad = spec.members
      .filter((m) => st.status(m.name).health !== "healthy")
      .map((m) => `${m.name} ${healthText(st.status(m.name))}`);
    st.emit({ kind: "redundancy_lost", reason: `${detail}: ${bad.join("; ")}` });
  } else if (!lost && s.redundancy === "lost") {
    st.emit({ kind: "redundancy_restored", reason: detail });
  }
  s.redundancy = lost ? "lost" : "ok";
}

function command(st: Step, c: Command & { by?: string }): string | undefined {
  const { s, spec, now } = st;
  const by = c.by ? ` by ${c.by}` : "";
  switch (c.command) {
    case "failover": {
      let target: MemberSpec | undefined;
      if (c.member) {
        target = st.member(c.member);
        if (!target) return `group "${spec.name}" has no member "${c.member}"`;
        if (target.name === s.active) return `${target.name} is already active`;
        const h = st.status(target.name).health;
        if (h === "unhealthy" || h === "unknown") return `${target.name} is ${h}; refusing to switch to it`;
      } else {
        target = st.bestTarget(s.active)?.member;
        if (!target) return `no healthy or degraded member to fail over to from ${s.active}`;
      }
      if (c.until !== undefined && c.until <= now) return "the expiry is in the past";
      // Operators are obeyed: the group stays on the target, as a pin holds it, until failback/unpin/expiry.
      s.pin = { member: target.name, by: "failover", ...(c.until !== undefined ? { until: c.until } : {}) };
      st.switchTo(
        target.name,
        "manual_switch",
        `operator failover${by} from ${s.active} to ${target.name} (${st.status(target.name).health}); held there until ${
          c.until !== undefined ? `its expiry in ${formatDuration(c.until - now)}, ` : ""
        }standby failback or unpin (automatic failback does not undo it)`,
      );
      return undefined;
    }
    case "failback": {
      // An operator's failback releases what held the group (a pin, an earlier failover by hand).
      const pin = s.pin;
      delete s.pin;
      const cand = failbackCandidate(st);
      if (!cand) {
        if (pin) s.pin = pin;
        return `no healthy member is preferred over the active ${s.active}`;
      }
      const since = s.healthySince[cand.name];
      if (pin)
        st.emit({
          kind: "unpinned",
          member: pin.member,
          reason: `unpinned from ${pin.member}${by} (failback)`,
        });
      st.switchTo(
        cand.name,
        "manual_switch",
        `operator failback${by} to ${cand.name} (healthy${since !== undefined ? ` for ${formatDuration(now - since)}` : ""}, failback ${spec.failback.mode})`,
      );
      return undefined;
    }
    case "pin": {
      const m = st.member(c.member);
      if (!m) return `group "${spec.name}" has no member "${c.member}"`;
      const h = st.status(m.name).health;
      const bad = h === "unhealthy" || h === "unknown";
      if (bad && !c.force) return `${m.name} is ${h}; refusing to pin it (use force)`;
      if (c.until !== undefined && c.until <= now) return "pin expiry is in the past";
      s.pin = { member: m.name, by: "pin", ...(c.until !== undefined ? { until: c.until } : {}) };
      if (bad) s.forced = m.name;
      else if (s.forced !== undefined && s.forced !== m.name) delete s.forced;
      st.emit({
        kind: "pinned",
        member: m.name,
        reason: `pinned to ${m.name}${by}${c.until !== undefined ? ` for ${formatDuration(c.until - now)}` : ""}${
          bad ? ` although ${h} (forced): no automatic failover away from it until its health changes` : ""
        }`,
      });
      if (s.active !== m.name) st.switchTo(m.name, "manual_switch", `operator pin${by} to ${m.name} (${h})`);
      return undefined;
    }
    case "unpin":
      if (!s.pin) return "not pinned";
      st.emit({ kind: "unpinned", member: s.pin.member, reason: `unpinned from ${s.pin.member}${by}` });
      delete s.pin;
      delete s.forced;
      return undefined;
    case "freeze":
      if (s.frozen && s.frozen.until === undefined) return "already frozen";
      s.frozen = { at: now, reason: c.reason ?? `frozen${by}` };
      st.emit({
        kind: "frozen",
        member: s.active,
        reason: `frozen on ${s.active}${by}${c.reason ? `: ${c.reason}` : ""}`,
      });
      return undefined;
    case "unfreeze":
      if (!s.frozen) return "not frozen";
      delete s.frozen;
      s.switches = [];
      st.emit({ kind: "unfrozen", member: s.active, reason: `unfrozen${by}; automatic switching resumes` });
      return undefined;
  }
}

/** The earliest time at which `step(..., tick)` may decide something new. */
export function nextDeadline(spec: GroupSpec, state: GroupState): number | undefined {
  const times: number[] = [];
  if (state.pin?.until !== undefined) times.push(state.pin.until);
  if (state.frozen?.until !== undefined) times.push(state.frozen.until);
  if (state.verify) times.push(state.verify.deadline);
  if (state.probation) times.push(state.probation.until);
  times.push(...Object.values(state.excluded));
  if (spec.min_healthy !== undefined && state.redundancy === undefined)
    times.push(state.startedAt + REDUNDANCY_GRACE_MS);
  if (spec.failback.mode === "auto" && !state.frozen) {
    const probe = new Step(spec, state, 0);
    const active = probe.status(state.active).health;
    if (active === "healthy" || active === "degraded") {
      const cand = failbackCandidate(probe);
      if (cand) times.push(state.healthySince[cand.name]! + state.hold);
    }
  }
  return times.length ? Math.min(...times) : undefined;
}

/**
 * One step's working copy of a group's state, and the moves a step can make: choosing a target, switching
 * (at most once a step), an automatic switch under damping.
 */
import { formatDuration } from "../util/duration.js";
import type { EventInput, StandbyEvent } from "./events.js";
import { type GroupState, type MemberStatus, type StepResult, UNKNOWN_STATUS } from "./state.js";
import type { GroupSpec, Health, MemberSpec } from "./types.js";

export type Working = {
  -readonly [K in keyof GroupState]: GroupState[K] extends readonly (infer E)[]
    ? E[]
    : GroupState[K] extends Readonly<Record<string, infer V>>
      ? Record<string, V>
      : GroupState[K];
};

/** A mutable working copy for one step; the caller's state is never changed. */
export class Step {
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

export function healthText(st: MemberStatus): string {
  return st.health === "healthy" ? "healthy" : `${st.health} (${st.reason})`;
}

/**
 * One step of a redundancy group's controller: pure, time is a parameter. Apply `input`, then decide.
 * See DESIGN.md "Semantics we promise".
 */

/** The most preferred member above the active one, if it is healthy now. */
export function failbackCandidate(st: Step): MemberSpec | undefined {
  const { s } = st;
  for (const m of st.preference()) {
    if (m.name === s.active) return undefined;
    if (m.name in s.excluded) continue;
    if (st.status(m.name).health === "healthy") return m;
    // A more preferred member that is not healthy: look further only past unknown/unhealthy ones.
  }
  return undefined;
}

import { RuleEngine, type Transition } from "./engine/engine.js";
import type { Labels, RuleSpec, Sample } from "./engine/types.js";
import {
  type Command,
  type GroupState,
  type Input,
  initialState,
  nextDeadline,
  step,
} from "./groups/controller.js";
import type { StandbyEvent } from "./groups/events.js";
import { snapshot } from "./groups/health.js";
import type { HealthSnapshot } from "./groups/state.js";
import type { GroupSpec } from "./groups/types.js";

/** A switch the daemon must carry out (the controller already counts it as done). */
export interface SwitchOrder {
  readonly group: string;
  readonly from: string;
  readonly to: string;
  readonly kind: StandbyEvent["kind"];
  readonly reason: string;
  /** A shared group's switch: the leader's fencing token when it was decided (checked in etcd before acting). */
  readonly fence?: string;
}

/**
 * How shared groups (fleet mode, docs/fleet.md) are decided: from the fleet's verdicts, and only by their leader.
 * Without hooks a shared group is decided as a local one (`simulate`, a dry run).
 */
export interface SharedHooks {
  /**
   * This instance's own view of a shared group (its local snapshot, published as its vote) in, the snapshot the
   * controller decides from (the observers' verdicts) out, and whether this instance decides the group now. A
   * group it does not decide keeps the verdicts for status, and its controller does not run.
   */
  health(spec: GroupSpec, local: HealthSnapshot, now: number): { snapshot: HealthSnapshot; decides: boolean };
  /** Whether this instance decides the shared group now (its leader, having taken over its state). */
  decides(group: string, now?: number): boolean;
  /** Why an operator command cannot be taken by this instance (it does not lead the group). */
  notLeader(group: string): string;
}

export interface Output {
  readonly events: StandbyEvent[];
  readonly switches: SwitchOrder[];
}

interface GroupSlot {
  readonly spec: GroupSpec;
  state: GroupState;
}

export function ruleEvent(t: Transition): StandbyEvent {
  return {
    ts: t.ts,
    kind: "rule",
    rule: t.rule,
    labels: t.labels,
    state: t.state,
    prev: t.prev,
    ...(t.value !== undefined ? { value: t.value } : {}),
    reason: t.reason,
  };
}

/**
 * The decision core wired together, still without I/O: samples → rule engine → member health → group
 * controllers. Used as is by `standby simulate`, and by the daemon with real clocks, collectors and actions.
 */
export class Pipeline {
  readonly engine: RuleEngine;
  private readonly groups = new Map<string, GroupSlot>();
  /** rule name → the groups whose members or verify list name it. */
  private readonly groupsByRule = new Map<string, GroupSlot[]>();
  /** Set by the daemon in fleet mode; without it shared groups are decided as local ones. */
  shared: SharedHooks | undefined;

  constructor(
    rules: readonly RuleSpec[],
    groups: readonly GroupSpec[],
    now: number,
    initial?: ReadonlyMap<string, GroupState>,
  ) {
    this.engine = new RuleEngine(rules);
    for (const spec of groups) {
      const slot: GroupSlot = { spec, state: initial?.get(spec.name) ?? initialState(spec, now) };
      this.groups.set(spec.name, slot);
      const names = new Set([
        ...spec.members.flatMap((m) => m.health.map((h) => h.rule)),
        ...(spec.verify?.rules ?? []),
      ]);
      for (const r of names) {
        let list = this.groupsByRule.get(r);
        if (!list) this.groupsByRule.set(r, (list = []));
        list.push(slot);
      }
    }
  }

  /**
   * Gives every group its first health snapshot (a member without health rules is healthy from the start;
   * one whose rules have no data yet is unknown). Call once after construction.
   */
  initialize(now: number, out: Output = { events: [], switches: [] }): Output {
    for (const slot of this.groups.values()) {
      this.step(slot, now, { type: "health", snapshot: snapshot(slot.spec, this.engine) }, out);
    }
    return out;
  }

  groupState(name: string): GroupState | undefined {
    return this.groups.get(name)?.state;
  }

  groupSpecs(): GroupSpec[] {
    return [...this.groups.values()].map((g) => g.spec);
  }

  ingest(sample: Sample, out: Output = { events: [], switches: [] }): Output {
    const transitions = this.engine.ingest(sample);
    if (transitions.length > 0) this.afterTransitions(transitions, sample.ts, out);
    return out;
  }

  /** Advances time to `now`: rule timers and stale data, then every group's timers. */
  tick(now: number, out: Output = { events: [], switches: [] }): Output {
    const transitions = this.engine.tick(now);
    if (transitions.length > 0) this.afterTransitions(transitions, now, out);
    for (const slot of this.groups.values()) {
      if (!this.decides(slot, now)) continue;
      const d = nextDeadline(slot.spec, slot.state);
      if (d !== undefined && d <= now) this.step(slot, now, { type: "tick" }, out);
    }
    return out;
  }

  /** Rule instances of series that will not come back (engine.retire), and what that changes for the groups. */
  retire(which: (labels: Labels) => boolean, now: number, why: string): Output {
    const out: Output = { events: [], switches: [] };
    const transitions = this.engine.retire(which, now, why);
    if (transitions.length > 0) this.afterTransitions(transitions, now, out);
    return out;
  }

  /**
   * Shared groups: the fleet's picture changed (votes, leadership). Each is given a fresh snapshot: the leader
   * decides from the new verdicts, a follower keeps them for status.
   */
  refreshShared(now: number, out: Output = { events: [], switches: [] }, only?: string): Output {
    for (const slot of this.groups.values()) {
      if (slot.spec.scope !== "shared" || (only !== undefined && slot.spec.name !== only)) continue;
      this.step(slot, now, { type: "health", snapshot: snapshot(slot.spec, this.engine) }, out);
    }
    return out;
  }

  /**
   * A shared group's state from the fleet (a follower adopting its leader's, a new leader carrying on): the
   * durable fields replaced, this instance's health view kept.
   */
  adopt(group: string, state: GroupState): void {
    const slot = this.groups.get(group);
    if (!slot) return;
    const cur = slot.state;
    slot.state = {
      ...state,
      health: cur.health,
      healthySince: cur.healthySince,
      seen: cur.seen,
      verifyFiring: cur.verifyFiring,
      noHealthy: cur.noHealthy,
      ...(cur.redundancy !== undefined ? { redundancy: cur.redundancy } : {}),
      startedAt: cur.startedAt,
    };
  }

  private decides(slot: GroupSlot, now?: number): boolean {
    return slot.spec.scope !== "shared" || !this.shared || this.shared.decides(slot.spec.name, now);
  }

  command(group: string, cmd: Command & { by?: string }, now: number): Output & { error?: string } {
    const slot = this.groups.get(group);
    const out: Output = { events: [], switches: [] };
    if (!slot) return { ...out, error: `no group "${group}"` };
    const error = this.step(slot, now, { type: "command", ...cmd }, out);
    return error ? { ...out, error } : out;
  }

  switchResult(group: string, to: string, ok: boolean, detail: string, now: number): Output {
    const out: Output = { events: [], switches: [] };
    const slot = this.groups.get(group);
    if (slot) this.step(slot, now, { type: "switch_result", to, ok, detail }, out);
    return out;
  }

  /** The earliest time at which `tick` may change something. */
  nextDeadline(): number | undefined {
    let next = this.engine.nextDeadline();
    for (const slot of this.groups.values()) {
      if (!this.decides(slot)) continue;
      const d = nextDeadline(slot.spec, slot.state);
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    return next;
  }

  private afterTransitions(transitions: readonly Transition[], now: number, out: Output): void {
    const touched = new Set<GroupSlot>();
    for (const t of transitions) {
      out.events.push(ruleEvent(t));
      for (const slot of this.groupsByRule.get(t.rule) ?? []) touched.add(slot);
    }
    for (const slot of touched) {
      this.step(slot, now, { type: "health", snapshot: snapshot(slot.spec, this.engine) }, out);
    }
  }

  private step(slot: GroupSlot, now: number, input: Input, out: Output): string | undefined {
    const hooks = slot.spec.scope === "shared" ? this.shared : undefined;
    if (hooks) {
      if (input.type === "health") {
        const r = hooks.health(slot.spec, input.snapshot, now);
        if (!r.decides) {
          // A follower: the fleet's verdicts for status; the leader decides (and its state is adopted).
          slot.state = followHealth(slot.state, r.snapshot, now);
          return undefined;
        }
        input = { type: "health", snapshot: r.snapshot };
      } else if (!hooks.decides(slot.spec.name, now)) {
        return input.type === "command" ? hooks.notLeader(slot.spec.name) : undefined;
      }
    }
    const r = step(slot.spec, slot.state, now, input);
    slot.state = r.state;
    out.events.push(...r.events);
    if (r.switch) {
      const ev = r.events.find((e) => e.kind === r.switch!.kind && "to" in e && e.to === r.switch!.to);
      out.switches.push({ group: slot.spec.name, ...r.switch, reason: ev?.reason ?? "" });
    }
    return r.error;
  }
}

/**
 * A follower's view of a shared group's health, kept as the controller would keep it (when each member became
 * healthy, which members reported), so that the hold of a failback still counts from then if it becomes leader.
 */
function followHealth(state: GroupState, snap: HealthSnapshot, now: number): GroupState {
  const healthySince = { ...state.healthySince };
  const seen = [...state.seen];
  for (const [m, st] of Object.entries(snap.members)) {
    const was = state.health[m]?.health;
    if (st.health === "healthy") {
      if (was !== "healthy" || healthySince[m] === undefined) healthySince[m] = now;
    } else delete healthySince[m];
    if (st.health !== "unknown" && !seen.includes(m)) seen.push(m);
  }
  return { ...state, health: snap.members, healthySince, seen, verifyFiring: snap.verifyFiring };
}

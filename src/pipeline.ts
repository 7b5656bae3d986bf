import { RuleEngine, type Transition } from "./engine/engine.js";
import type { RuleSpec, Sample } from "./engine/types.js";
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
import type { GroupSpec } from "./groups/types.js";

/** A switch the daemon must carry out (the controller already counts it as done). */
export interface SwitchOrder {
  readonly group: string;
  readonly from: string;
  readonly to: string;
  readonly kind: StandbyEvent["kind"];
  readonly reason: string;
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
      const d = nextDeadline(slot.spec, slot.state);
      if (d !== undefined && d <= now) this.step(slot, now, { type: "tick" }, out);
    }
    return out;
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

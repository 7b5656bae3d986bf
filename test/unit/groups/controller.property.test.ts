import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type GroupState,
  type Input,
  initialState,
  nextDeadline,
  step,
} from "../../../src/groups/controller.js";
import type { StandbyEvent } from "../../../src/groups/events.js";
import type { GroupSpec, Health } from "../../../src/groups/types.js";
import { group, health } from "../../helpers.js";

const MEMBERS = ["a", "b", "c"];
const SWITCH_KINDS = new Set(["failover", "failback", "manual_switch"]);

type Op =
  | { dt: number; kind: "health"; states: Record<string, Health> }
  | { dt: number; kind: "tick" }
  | { dt: number; kind: "command"; command: "failover" | "failback" | "unpin" | "freeze" | "unfreeze" }
  | { dt: number; kind: "pin"; member: string; ttl?: number };

interface Params {
  mode: "auto" | "manual" | "never";
  hold: number;
  max_switches: number;
  within: number;
}

/** Mostly healthy, as real members are: failures come and go, so failovers and failbacks both happen. */
const healthArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Health>("healthy") },
  { weight: 5, arbitrary: fc.constant<Health>("unhealthy") },
  { weight: 2, arbitrary: fc.constant<Health>("degraded") },
  { weight: 1, arbitrary: fc.constant<Health>("unknown") },
);

/** Gaps scaled to the hold, so holds run out (failbacks) about as often as they are cut short. */
const opArb = (p: Params, withCommands: boolean): fc.Arbitrary<Op> => {
  const dt = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2 * p.hold }));
  const base: { weight: number; arbitrary: fc.Arbitrary<Op> }[] = [
    {
      weight: 8,
      arbitrary: fc.record({
        dt,
        kind: fc.constant("health" as const),
        states: fc.record(Object.fromEntries(MEMBERS.map((m) => [m, healthArb]))),
      }),
    },
    { weight: 3, arbitrary: fc.record({ dt, kind: fc.constant("tick" as const) }) },
  ];
  if (withCommands) {
    base.push(
      {
        weight: 2,
        arbitrary: fc.record({
          dt,
          kind: fc.constant("command" as const),
          command: fc.constantFrom(
            "failover",
            "failback",
            "unpin",
            "freeze",
            "unfreeze",
          ) as fc.Arbitrary<"failover">,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          dt,
          kind: fc.constant("pin" as const),
          member: fc.constantFrom(...MEMBERS),
          ttl: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }),
        }),
      },
    );
  }
  return fc.oneof(...base);
};

const paramsArb = (modes: Params["mode"][] = ["auto", "manual", "never"]) =>
  fc.record({
    mode: fc.constantFrom(...modes),
    hold: fc.integer({ min: 1, max: 30_000 }),
    max_switches: fc.integer({ min: 1, max: 5 }),
    within: fc.integer({ min: 1000, max: 300_000 }),
  });

const caseArb = (opts: { modes?: Params["mode"][]; commands: boolean; length: number }) =>
  paramsArb(opts.modes).chain((p) =>
    fc.record({
      p: fc.constant(p),
      ops: fc.array(opArb(p, opts.commands), { minLength: opts.length / 2, maxLength: opts.length }),
    }),
  );

interface StepRecord {
  now: number;
  input: Input;
  /** Health in force after the step. */
  health: Record<string, Health>;
  switch?: { from: string; to: string; kind: string };
  events: readonly StandbyEvent[];
  /** State before and after the step. */
  before: GroupState;
  after: GroupState;
}

/** Runs ops through the controller as the daemon does: ticking at every deadline in between. */
function drive(spec: GroupSpec, ops: Op[]): StepRecord[] {
  let state = initialState(spec, 0);
  let now = 0;
  const current: Record<string, Health> = Object.fromEntries(MEMBERS.map((m) => [m, "unknown" as Health]));
  const steps: StepRecord[] = [];
  const apply = (at: number, input: Input) => {
    if (input.type === "health") for (const m of MEMBERS) current[m] = input.snapshot.members[m]!.health;
    const r = step(spec, state, at, input);
    steps.push({
      now: at,
      input,
      health: { ...current },
      ...(r.switch ? { switch: r.switch } : {}),
      events: r.events,
      before: state,
      after: r.state,
    });
    state = r.state;
  };
  for (const op of ops) {
    const target = now + op.dt;
    for (let d = nextDeadline(spec, state); d !== undefined && d <= target; d = nextDeadline(spec, state)) {
      apply(Math.max(d, now), { type: "tick" });
      now = Math.max(d, now);
    }
    now = target;
    switch (op.kind) {
      case "health":
        apply(now, { type: "health", snapshot: health(spec, op.states) });
        break;
      case "tick":
        apply(now, { type: "tick" });
        break;
      case "command":
        apply(now, { type: "command", command: op.command });
        break;
      case "pin":
        apply(now, {
          type: "command",
          command: "pin",
          member: op.member,
          ...(op.ttl ? { until: now + op.ttl } : {}),
        });
        break;
    }
  }
  return steps;
}

const mkSpec = (p: Params) =>
  group({ members: MEMBERS, mode: p.mode, hold: p.hold, max_switches: p.max_switches, within: p.within });

const RUNS = { numRuns: 400 };
const isAuto = (s: StepRecord) =>
  s.switch !== undefined && (s.switch.kind === "failover" || s.switch.kind === "failback");

/** Frozen, and not expiring at `now`. */
const frozenAt = (st: GroupState, now: number) =>
  st.frozen !== undefined && (st.frozen.until === undefined || now < st.frozen.until);

/** Counts the cases in which a property's precondition held at least once, to assert its share afterwards. */
class Reach {
  cases = 0;
  reached = 0;
  see(hit: boolean): void {
    this.cases++;
    if (hit) this.reached++;
  }
  get share(): number {
    if (process.env.SHOW_REACH) console.log(`reach ${this.reached}/${this.cases}`);
    return this.reached / this.cases;
  }
}

describe("controller invariants (property-based)", () => {
  it("never switches to an unhealthy or unknown member, a degraded one only when no healthy one is left, and once a step", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ commands: true, length: 80 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        let switches = 0;
        for (const s of steps) {
          // One switch per step: the events say the same as the result.
          const switchEvents = s.events.filter((e) => SWITCH_KINDS.has(e.kind));
          expect(switchEvents.length).toBeLessThanOrEqual(1);
          expect(switchEvents.length).toBe(s.switch && s.switch.kind !== "switch_retry" ? 1 : 0);
          if (!s.switch || s.switch.kind === "switch_retry") continue;
          switches++;
          expect(switchEvents[0] && "to" in switchEvents[0] ? switchEvents[0].to : undefined).toBe(
            s.switch.to,
          );
          const h = s.health[s.switch.to];
          expect(["healthy", "degraded"]).toContain(h);
          if (h === "degraded" && s.switch.kind !== "manual_switch") {
            const healthyOther = MEMBERS.some(
              (m) =>
                m !== s.switch!.from &&
                m !== s.switch!.to &&
                s.health[m] === "healthy" &&
                !(m in s.after.excluded),
            );
            expect(healthyOther).toBe(false);
          }
        }
        reach.see(switches >= 2);
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.9);
  });

  it("damping: beyond max_switches within the window only failovers off an unhealthy member are made, and the group is frozen", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ modes: ["auto"], commands: false, length: 120 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        const auto = steps.filter(isAuto);
        let over = false;
        for (const [i, s] of auto.entries()) {
          const inWindow = auto.slice(0, i + 1).filter((x) => x.now > s.now - p.within).length;
          if (inWindow <= p.max_switches && !frozenAt(s.before, s.now)) continue;
          over = true;
          // Safety beats stability: only a failover off an unhealthy active member, and frozen after it.
          expect(s.switch!.kind).toBe("failover");
          expect(s.health[s.switch!.from]).toBe("unhealthy");
          expect(s.after.frozen?.until).toBeGreaterThan(s.now); // frozen for a window from now (or earlier)
        }
        // Never a failback while frozen.
        for (const s of steps) if (frozenAt(s.before, s.now)) expect(s.switch?.kind).not.toBe("failback");
        reach.see(over || steps.some((s) => s.events.some((e) => e.kind === "frozen")));
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.5);
  });

  it("a frozen group is never left on an unhealthy member while a healthy one exists", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ commands: true, length: 100 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        let hit = false;
        for (const s of steps) {
          if (!s.after.frozen || s.input.type !== "health") continue;
          if (s.health[s.after.active] !== "unhealthy" || s.after.forced === s.after.active) continue;
          hit = true;
          const healthy = MEMBERS.filter((m) => s.health[m] === "healthy" && !(m in s.after.excluded));
          expect(healthy).toEqual([]);
        }
        const froze = steps.some((s) => s.after.frozen);
        reach.see(hit || froze);
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.6);
  });

  it("never fails back before the preferred member has been healthy for the hold", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ modes: ["auto"], commands: false, length: 120 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        let failbacks = 0;
        for (const [i, s] of steps.entries()) {
          if (s.switch?.kind !== "failback") continue;
          failbacks++;
          // When did `to` last become healthy? Walk back through the steps.
          let since = s.now;
          for (let j = i; j >= 0; j--) {
            if (steps[j]!.health[s.switch.to] !== "healthy") break;
            since = steps[j]!.now;
          }
          // The hold in force when the step decided (a probation that ended in the same step reset it).
          expect(s.now - since).toBeGreaterThanOrEqual(s.after.hold);
          expect(s.after.hold).toBeGreaterThanOrEqual(p.hold);
        }
        reach.see(failbacks > 0);
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.5);
  });

  it("never leaves a healthy active member on its own in manual and never modes", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ modes: ["manual", "never"], commands: false, length: 80 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        let healthyActive = 0;
        for (const s of steps) {
          if (s.health[s.before.active] === "healthy") healthyActive++;
          if (s.switch) expect(s.health[s.switch.from]).not.toBe("healthy");
        }
        reach.see(healthyActive > 5 && steps.some((s) => s.switch));
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.9);
  });

  it("operators are obeyed: a member put in charge by hand is left only when it turns unhealthy or is released", () => {
    const reach = new Reach();
    fc.assert(
      fc.property(caseArb({ modes: ["auto"], commands: true, length: 100 }), ({ p, ops }) => {
        const steps = drive(mkSpec(p), ops);
        let held = 0;
        // The member an operator's failover put in charge (independent of how the controller keeps it).
        let chosen: string | undefined;
        for (const s of steps) {
          const pin = s.before.pin;
          const pinned =
            pin && pin.member === s.before.active && !(pin.until !== undefined && s.now >= pin.until);
          if (s.input.type === "command") {
            if (s.input.command === "failover" && s.switch) chosen = s.switch.to;
            else if (s.input.command !== "freeze" && s.input.command !== "unfreeze") chosen = undefined;
            continue;
          }
          if (!pinned && chosen !== s.before.active) continue;
          held++;
          if (s.switch) {
            expect(s.switch.kind).toBe("failover");
            expect(s.health[s.switch.from]).toBe("unhealthy");
            chosen = undefined;
          }
        }
        reach.see(held > 3);
      }),
      RUNS,
    );
    expect(reach.share).toBeGreaterThan(0.6);
  });
});

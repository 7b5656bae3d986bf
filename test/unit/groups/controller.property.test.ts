import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type GroupState,
  type Input,
  initialState,
  nextDeadline,
  step,
} from "../../../src/groups/controller.js";
import type { GroupSpec, Health } from "../../../src/groups/types.js";
import { group, health } from "../../helpers.js";

const HEALTHS: Health[] = ["healthy", "degraded", "unhealthy", "unknown"];
const MEMBERS = ["a", "b", "c"];

type Op =
  | { dt: number; kind: "health"; states: Record<string, Health> }
  | { dt: number; kind: "tick" }
  | { dt: number; kind: "command"; command: "failover" | "failback" | "unpin" | "freeze" | "unfreeze" }
  | { dt: number; kind: "pin"; member: string; ttl?: number };

const opArb = (withCommands: boolean): fc.Arbitrary<Op> => {
  const dt = fc.integer({ min: 0, max: 20_000 });
  const base: fc.Arbitrary<Op>[] = [
    fc.record({
      dt,
      kind: fc.constant("health" as const),
      states: fc.record(Object.fromEntries(MEMBERS.map((m) => [m, fc.constantFrom(...HEALTHS)]))),
    }),
    fc.record({ dt, kind: fc.constant("tick" as const) }),
  ];
  if (withCommands) {
    base.push(
      fc.record({
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
      fc.record({
        dt,
        kind: fc.constant("pin" as const),
        member: fc.constantFrom(...MEMBERS),
        ttl: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }),
      }),
    );
  }
  return fc.oneof(...base);
};

const specArb = fc.record({
  mode: fc.constantFrom("auto", "manual", "never") as fc.Arbitrary<"auto" | "manual" | "never">,
  hold: fc.integer({ min: 1, max: 60_000 }),
  max_switches: fc.integer({ min: 1, max: 5 }),
  within: fc.integer({ min: 1000, max: 300_000 }),
});

interface Trace {
  spec: GroupSpec;
  /** Every step: its time, input, the health in force after it, the switch if any, the hold in force before. */
  steps: {
    now: number;
    input: Input;
    health: Record<string, Health>;
    switch?: { from: string; to: string; kind: string };
    state: GroupState;
  }[];
}

/** Runs ops through the controller as the daemon does: ticking at every deadline in between. */
function drive(spec: GroupSpec, ops: Op[]): Trace {
  let state = initialState(spec, 0);
  let now = 0;
  const current: Record<string, Health> = Object.fromEntries(MEMBERS.map((m) => [m, "unknown" as Health]));
  const trace: Trace = { spec, steps: [] };
  const apply = (at: number, input: Input) => {
    if (input.type === "health") for (const m of MEMBERS) current[m] = input.snapshot.members[m]!.health;
    const r = step(spec, state, at, input);
    trace.steps.push({
      now: at,
      input,
      health: { ...current },
      ...(r.switch ? { switch: r.switch } : {}),
      state,
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
  return trace;
}

const mkSpec = (p: {
  mode: "auto" | "manual" | "never";
  hold: number;
  max_switches: number;
  within: number;
}) => group({ members: MEMBERS, mode: p.mode, hold: p.hold, max_switches: p.max_switches, within: p.within });

const RUNS = { numRuns: 400 };

describe("controller invariants (property-based)", () => {
  it("never switches to an unhealthy or unknown member, and to a degraded one only when no healthy one is left", () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb(true), { maxLength: 60 }), (p, ops) => {
        const t = drive(mkSpec(p), ops);
        for (const s of t.steps) {
          if (!s.switch) continue;
          const h = s.health[s.switch.to];
          expect(h === "healthy" || h === "degraded").toBe(true);
          if (h === "degraded" && s.switch.kind !== "manual_switch") {
            const healthyOther = MEMBERS.some(
              (m) => m !== s.switch!.from && m !== s.switch!.to && s.health[m] === "healthy",
            );
            expect(healthyOther).toBe(false);
          }
        }
      }),
      RUNS,
    );
  });

  it("never makes more than max_switches automatic switches within the damping window", () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb(false), { maxLength: 80 }), (p, ops) => {
        const t = drive(mkSpec(p), ops);
        const times = t.steps.filter((s) => s.switch && s.switch.kind !== "manual_switch").map((s) => s.now);
        for (let i = 0; i < times.length; i++) {
          const inWindow = times.filter((x) => x > times[i]! - p.within && x <= times[i]!).length;
          expect(inWindow).toBeLessThanOrEqual(p.max_switches);
        }
      }),
      RUNS,
    );
  });

  it("never fails back before the preferred member has been healthy for the hold", () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb(false), { maxLength: 80 }), (p, ops) => {
        const t = drive(mkSpec(p), ops);
        for (const [i, s] of t.steps.entries()) {
          if (s.switch?.kind !== "failback") continue;
          expect(p.mode).toBe("auto");
          // When did `to` last become healthy? Walk back through the health inputs.
          let since = s.now;
          for (let j = i; j >= 0; j--) {
            if (t.steps[j]!.health[s.switch.to] !== "healthy") break;
            since = t.steps[j]!.now;
          }
          const firstHealthy = t.steps.find(
            (x, j) => j <= i && x.now >= since && x.health[s.switch!.to] === "healthy",
          );
          expect(firstHealthy).toBeDefined();
          expect(s.now - firstHealthy!.now).toBeGreaterThanOrEqual(s.state.hold);
          expect(s.state.hold).toBeGreaterThanOrEqual(p.hold);
        }
      }),
      RUNS,
    );
  });

  it("never leaves a healthy active member on its own in manual and never modes", () => {
    fc.assert(
      fc.property(
        specArb.filter((p) => p.mode !== "auto"),
        fc.array(opArb(false), { maxLength: 60 }),
        (p, ops) => {
          const t = drive(mkSpec(p), ops);
          for (const s of t.steps) {
            if (s.switch) expect(s.health[s.switch.from]).not.toBe("healthy");
          }
        },
      ),
      RUNS,
    );
  });
});

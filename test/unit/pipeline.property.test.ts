import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Command } from "../../src/groups/controller.js";
import { snapshot } from "../../src/groups/health.js";
import type { GroupSpec } from "../../src/groups/types.js";
import { type Output, Pipeline } from "../../src/pipeline.js";
import { rule } from "../helpers.js";

/**
 * The decision core as the daemon drives it (samples, timers at their deadlines, operator commands), with
 * random faults, data gaps and clock steps: the promises of DESIGN hold whatever the input.
 */
const MEMBERS = ["a", "b", "c"];
const STALE_MS = 1000;
const STEP_MS = 100;

const rules = MEMBERS.map((m) =>
  rule({
    name: `${m}-down`,
    metric: "probe.success",
    labels: { collector: `gw-${m}` },
    problem: "max over 3 samples == 0",
    recovery: "min over 5 samples == 1",
    stale_after: "1s",
  }),
);

const spec = (hold: number, max_switches: number): GroupSpec => ({
  name: "g",
  members: MEMBERS.map((m, i) => ({
    name: m,
    priority: 100 - i * 10,
    health: [{ rule: `${m}-down` }],
    activate: [],
    deactivate: [],
  })),
  failback: { mode: "auto", hold, max_hold: hold * 8 },
  damping: { max_switches, within: 60_000 },
});

/** What one member's gateway does for a while. */
type Segment = { kind: "up" | "down" | "silent" | "stepback"; ms: number };
const segmentArb: fc.Arbitrary<Segment> = fc.record({
  kind: fc.oneof(
    { weight: 6, arbitrary: fc.constant("up" as const) },
    { weight: 3, arbitrary: fc.constant("down" as const) },
    { weight: 2, arbitrary: fc.constant("silent" as const) },
    // The wall clock stepped back: the collector's timestamps go back, the engine drops them (a gap to it).
    { weight: 1, arbitrary: fc.constant("stepback" as const) },
  ),
  ms: fc.integer({ min: 1, max: 60 }).map((n) => n * STEP_MS),
});

type CommandAt = { at: number; cmd: Command };
const commandArb: fc.Arbitrary<CommandAt> = fc.record({
  at: fc.integer({ min: 0, max: 600 }).map((n) => n * STEP_MS + 7),
  cmd: fc.oneof(
    fc.constant<Command>({ command: "failover" }),
    fc.constant<Command>({ command: "failback" }),
    fc.constant<Command>({ command: "unpin" }),
    fc.constant<Command>({ command: "freeze" }),
    fc.constant<Command>({ command: "unfreeze" }),
    fc.constantFrom(...MEMBERS).map((m): Command => ({ command: "pin", member: m })),
    fc.constantFrom(...MEMBERS).map((m): Command => ({ command: "failover", member: m, until: 0 })),
  ),
});

interface Sent {
  ts: number;
  member: string;
  value: number;
  /** Timestamp as stamped (differs from `ts` after a clock step back). */
  stamped: number;
}

/** Turns each member's segments into samples every 100 ms (offset per member), in time order. */
function samples(segments: Record<string, Segment[]>): Sent[] {
  const out: Sent[] = [];
  MEMBERS.forEach((m, i) => {
    let t = i * 3;
    for (const seg of segments[m]!) {
      for (let x = 0; x < seg.ms; x += STEP_MS, t += STEP_MS) {
        if (seg.kind === "silent") continue;
        const value = seg.kind === "down" ? 0 : 1;
        out.push({ ts: t, member: m, value, stamped: seg.kind === "stepback" ? t - 30_000 : t });
      }
    }
  });
  return out.sort((x, y) => x.ts - y.ts);
}

describe("pipeline invariants (property-based)", () => {
  it("gaps, clock steps and operator commands among faults: switches only to fit members, one a step, silence ends unknown", () => {
    let switched = 0;
    let silences = 0;
    let commandsObeyed = 0;
    fc.assert(
      fc.property(
        fc.record(
          Object.fromEntries(MEMBERS.map((m) => [m, fc.array(segmentArb, { minLength: 3, maxLength: 12 })])),
        ),
        fc.array(commandArb, { maxLength: 8 }),
        fc.integer({ min: 1, max: 20 }).map((n) => n * 500),
        fc.integer({ min: 1, max: 4 }),
        (segments, commands, hold, maxSwitches) => {
          const g = spec(hold, maxSwitches);
          const p = new Pipeline(rules, [g], 0);
          p.initialize(0);
          const check = (out: Output) => {
            // One switch a step (a call steps a group at most once here), and only to a member fit to take over.
            expect(out.switches.length).toBeLessThanOrEqual(1);
            const snap = snapshot(g, p.engine).members;
            for (const sw of out.switches) {
              if (sw.kind === "switch_retry") continue;
              switched++;
              const h = snap[sw.to]!.health;
              if (sw.kind === "manual_switch") expect(["healthy", "degraded"]).toContain(h);
              else expect(h === "healthy" || h === "degraded").toBe(true);
            }
          };
          let now = 0;
          const advance = (to: number) => {
            for (let d = p.nextDeadline(); d !== undefined && d <= to; d = p.nextDeadline()) {
              now = Math.max(now, d);
              check(p.tick(now));
            }
            now = Math.max(now, to);
          };
          const lastSeen: Record<string, number> = {};
          const pending = [...commands].sort((x, y) => x.at - y.at);
          for (const s of samples(segments)) {
            while (pending.length > 0 && pending[0]!.at <= s.ts) {
              const c = pending.shift()!;
              advance(c.at);
              const cmd =
                c.cmd.command === "failover" && c.cmd.until === 0 ? { ...c.cmd, until: c.at + hold } : c.cmd;
              const r = p.command("g", cmd, c.at);
              check(r);
              if (!r.error && r.switches.length > 0) commandsObeyed++;
            }
            advance(s.ts);
            // A silence of stale_after or more has ended in unknown by the time data comes back.
            const last = lastSeen[s.member];
            if (last !== undefined && s.ts - last > STALE_MS) {
              silences++;
              const inst = [...p.engine.instancesOf(`${s.member}-down`)][0];
              expect(inst === undefined || inst.state === "unknown").toBe(true);
            }
            const out = p.ingest({
              ts: s.stamped,
              metric: "probe.success",
              labels: { collector: `gw-${s.member}` },
              value: s.value,
            });
            check(out);
            // The engine's clock for this series is what it accepted; a stamped-back sample is dropped.
            if (s.stamped === s.ts) lastSeen[s.member] = s.ts;
          }
          // And after the last sample: every member ends unknown once stale_after has passed.
          advance(now + STALE_MS);
          for (const m of MEMBERS) {
            const inst = [...p.engine.instancesOf(`${m}-down`)][0];
            expect(inst === undefined || inst.state === "unknown").toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
    // The properties were exercised, not vacuous.
    expect(switched).toBeGreaterThan(150);
    expect(silences).toBeGreaterThan(200);
    if (process.env.SHOW_REACH) console.log({ switched, silences, commandsObeyed });
    expect(commandsObeyed).toBeGreaterThan(25);
  });
});

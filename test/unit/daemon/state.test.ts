import { describe, expect, it } from "vitest";
import { checkState, fromDurable, toDurable } from "../../../src/daemon/state.js";
import { initialState } from "../../../src/groups/controller.js";
import type { Clock } from "../../../src/util/clock.js";
import { group } from "../../helpers.js";

describe("state.json (durable fields, wall times)", () => {
  const spec = group({ members: ["a", "b"], hold: 1000, max_hold: 8000 });

  it("saves durable fields in wall time and loads them back on another monotonic clock", () => {
    const before: Clock = { mono: () => 10_000, wall: () => 1_000_010_000 };
    const s = {
      ...initialState(spec, 10_000, "b"),
      since: 9_000,
      switches: [9_000],
      pin: { member: "b", until: 610_000 },
      excluded: { a: 12_000 },
      hold: 4000,
    };
    const d = toDurable(s, [{ from: "a", to: "b", kind: "failover", reason: "a down" }], before);
    expect(d).toEqual({
      active: "b",
      since: 1_000_009_000,
      switches: [1_000_009_000],
      pin: { member: "b", until: 1_000_610_000 },
      hold: 4000,
      excluded: { a: 1_000_012_000 },
      intents: [{ from: "a", to: "b", kind: "failover", reason: "a down" }],
    });
    // After a restart 60 s later: the monotonic clock starts near 0.
    const after: Clock = { mono: () => 100, wall: () => 1_000_070_000 };
    const back = fromDurable(spec, d, 100, after)!;
    expect(back.pin).toEqual({ member: "b", until: 540_100 }); // 9 min from now
    expect(back.excluded).toEqual({ a: -57_900 }); // expired: the next step drops it
    // The per-process part starts afresh.
    expect(back.startedAt).toBe(100);
    expect(back.seen).toEqual([]);
    expect(back.health.a?.health).toBe("unknown");
    expect(back.hold).toBe(4000);
  });

  it("keeps the operator's and damping's choices across a restart: pin.by, forced, frozen.avoid", () => {
    const clock: Clock = { mono: () => 0, wall: () => 0 };
    const s = {
      ...initialState(spec, 0, "b"),
      pin: { member: "b", by: "failover" as const },
      forced: "b",
      frozen: { at: 0, until: 60_000, reason: "2 automatic switches", avoid: "a" },
    };
    const d = toDurable(s, [], clock);
    expect(d).toMatchObject({ pin: { member: "b", by: "failover" }, forced: "b", frozen: { avoid: "a" } });
    const parsed = checkState(JSON.parse(JSON.stringify({ version: 2, savedAt: 0, groups: { g: d } })));
    expect(parsed.kind).toBe("ok");
    const back = fromDurable(
      spec,
      (parsed as { state: { groups: Record<string, typeof d> } }).state.groups.g!,
      0,
      clock,
    )!;
    expect(back.pin).toEqual({ member: "b", by: "failover" });
    expect(back.forced).toBe("b");
    expect(back.frozen?.avoid).toBe("a");
    expect(checkState({ version: 2, groups: { g: { ...d, forced: 3 } } }).kind).toBe("bad");
  });

  it("drops what no longer fits the config: unknown active member, pins and exclusions of removed members", () => {
    const clock: Clock = { mono: () => 0, wall: () => 0 };
    const base = { since: 0, switches: [], hold: 1000, excluded: { zz: 5 } };
    expect(fromDurable(spec, { ...base, active: "zz" }, 0, clock)).toBeUndefined();
    const s = fromDurable(spec, { ...base, active: "a", pin: { member: "zz" }, hold: 99_000 }, 0, clock)!;
    expect(s.pin).toBeUndefined();
    expect(s.excluded).toEqual({});
    expect(s.hold).toBe(8000); // capped by max_hold
  });

  it("refuses half-shaped files field by field, and reads version 1", () => {
    expect(checkState([])).toEqual({ kind: "bad", why: "not a JSON object" });
    expect(checkState({ version: 2 })).toEqual({ kind: "bad", why: 'no "groups" object' });
    expect(
      checkState({ version: 2, groups: { g: { active: "a", since: 0, switches: [], hold: 1 } } }),
    ).toEqual({
      kind: "bad",
      why: 'group "g": "excluded" is not an object of numbers',
    });
    expect(
      checkState({
        version: 2,
        groups: {
          g: { active: "a", since: 0, switches: [], hold: 1, excluded: {}, intents: [{ from: "a" }] },
        },
      }),
    ).toEqual({ kind: "bad", why: 'group "g": "intents" is malformed' });
    const v1 = checkState({
      version: 1,
      savedAt: 5,
      groups: { g: { active: "a", since: 0, switches: [], hold: 1, excluded: {}, health: {}, seen: ["a"] } },
    });
    expect(v1).toEqual({
      kind: "ok",
      state: {
        version: 2,
        savedAt: 5,
        groups: { g: { active: "a", since: 0, switches: [], hold: 1, excluded: {} } },
      },
    });
  });
});

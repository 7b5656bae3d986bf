import { describe, expect, it } from "vitest";
import {
  type Command,
  type GroupState,
  type Input,
  initialState,
  nextDeadline,
  step,
} from "../../../src/groups/controller.js";
import type { StandbyEvent } from "../../../src/groups/events.js";
import type { GroupSpec, Health } from "../../../src/groups/types.js";
import { field, type GroupInput, group, health } from "../../helpers.js";

/** Drives one controller with a fake clock and records what it decides. */
class Harness {
  state: GroupState;
  events: StandbyEvent[] = [];
  lastError: string | undefined;
  constructor(
    readonly spec: GroupSpec,
    start = 0,
  ) {
    this.state = initialState(spec, start);
  }
  private run(now: number, input: Input) {
    const r = step(this.spec, this.state, now, input);
    this.state = r.state;
    this.events.push(...r.events);
    this.lastError = r.error;
    return r;
  }
  health(now: number, states: Record<string, Health>, verifyFiring: string[] = []) {
    return this.run(now, { type: "health", snapshot: health(this.spec, states, verifyFiring) });
  }
  tick(now: number) {
    return this.run(now, { type: "tick" });
  }
  cmd(now: number, c: Command) {
    return this.run(now, { type: "command", ...c });
  }
  get active() {
    return this.state.active;
  }
  kinds(filter = (e: StandbyEvent) => e.kind !== "health") {
    return this.events.filter(filter).map((e) => `${e.ts}:${e.kind}${"to" in e ? `>${e.to}` : ""}`);
  }
}

const ALL_OK = { a: "healthy", b: "healthy", c: "healthy" } as const;

function started(g: GroupInput = {}): Harness {
  const h = new Harness(group(g));
  h.health(0, ALL_OK);
  return h;
}

describe("failover", () => {
  it("switches to the healthy member of highest priority", () => {
    const h = started();
    const r = h.health(1000, { a: "unhealthy" });
    expect(h.active).toBe("b");
    expect(r.switch).toEqual({ from: "a", to: "b", kind: "failover" });
    const ev = h.events.find((e) => e.kind === "failover")!;
    expect(ev).toMatchObject({ ts: 1000, group: "g", from: "a", to: "b", rule: "a-down" });
    expect(ev.reason).toBe(
      "a unhealthy (a-down unhealthy); b is the healthy member of highest priority (90)",
    );
  });
  it("skips unhealthy and unknown members, takes degraded only when no healthy one is left", () => {
    const h = started();
    h.health(1000, { a: "unhealthy", b: "unknown", c: "healthy" });
    expect(h.active).toBe("c");
    const h2 = started();
    h2.health(1000, { a: "unhealthy", b: "degraded", c: "unknown" });
    expect(h2.active).toBe("b");
    expect(h2.events.find((e) => e.kind === "failover")?.reason).toMatch(
      /degraded member .* no healthy member left/,
    );
  });
  it("stays and raises no_healthy_member once when nothing is left", () => {
    const h = started();
    h.health(1000, { a: "unhealthy", b: "unhealthy", c: "unknown" });
    h.health(2000, { a: "unhealthy", b: "unhealthy", c: "unhealthy" });
    expect(h.active).toBe("a");
    expect(h.kinds()).toEqual(["1000:no_healthy_member"]);
    expect(h.events.at(-1)?.kind).toBe("health");
    // Once a member is healthy again, it fails over to it.
    h.health(3000, { a: "unhealthy", b: "unhealthy", c: "healthy" });
    expect(h.active).toBe("c");
  });
  it("keeps an active member whose health is unknown, and says so", () => {
    const h = started();
    h.health(1000, { a: "unknown" });
    expect(h.active).toBe("a");
    const ev = h.events.find((e) => e.kind === "health" && e.member === "a" && e.ts === 1000)!;
    expect(field(ev, "state")).toBe("unknown");
    expect(ev.reason).toMatch(/kept active \(missing data is not evidence of failure\)/);
  });
  it("does not switch away from a merely degraded active member", () => {
    const h = started();
    h.health(1000, { a: "degraded" });
    expect(h.active).toBe("a");
  });
  it("moves at once to the preferred member when the active one fails, even during the hold", () => {
    const h = started();
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {}); // a healthy again: hold starts
    h.health(3000, { b: "unhealthy" }); // b fails before a's hold is over
    expect(h.active).toBe("a");
    expect(h.events.filter((e) => e.kind === "failover").at(-1)?.reason).toMatch(/hold does not apply/);
  });
});

describe("failback", () => {
  it("auto: exactly at hold, not one tick earlier", () => {
    const h = started({ hold: 30_000 });
    h.health(1000, { a: "unhealthy" });
    h.health(5000, {});
    expect(nextDeadline(h.spec, h.state)).toBe(35_000);
    h.tick(34_999);
    expect(h.active).toBe("b");
    const r = h.tick(35_000);
    expect(h.active).toBe("a");
    expect(r.switch).toEqual({ from: "b", to: "a", kind: "failback" });
    expect(h.events.at(-1)?.reason).toBe("a healthy for 30s (hold 30s, failback auto); priority 100 > 90");
  });
  it("auto: a timer that fires a ms late still says 'healthy for 30s' (CI saw 30.001s beside 'hold 30s')", () => {
    const h = started({ hold: 30_000 });
    h.health(1000, { a: "unhealthy" });
    h.health(5000, {});
    h.tick(35_001);
    expect(h.active).toBe("a");
    expect(h.events.at(-1)?.reason).toBe("a healthy for 30s (hold 30s, failback auto); priority 100 > 90");
  });
  it("a relapse during the hold restarts it", () => {
    const h = started({ hold: 10_000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.health(8000, { a: "unhealthy" });
    h.health(9000, {});
    h.tick(12_000);
    expect(h.active).toBe("b");
    h.tick(18_999);
    expect(h.active).toBe("b");
    h.tick(19_000);
    expect(h.active).toBe("a");
  });
  it("a failback followed by a relapse within the hold doubles the next hold, capped at max_hold", () => {
    const h = started({ hold: 10_000, max_hold: 30_000 });
    let t = 0;
    const cycle = (expectHold: number) => {
      h.health((t += 1000), { a: "unhealthy" });
      expect(h.active).toBe("b");
      h.health((t += 1000), {});
      const since = t;
      expect(nextDeadline(h.spec, h.state)).toBe(since + expectHold);
      h.tick(since + expectHold - 1);
      expect(h.active).toBe("b");
      h.tick((t = since + expectHold));
      expect(h.active).toBe("a");
      t += 1000; // relapse 1s after the failback, within the hold
    };
    cycle(10_000);
    cycle(20_000);
    cycle(30_000);
    cycle(30_000); // capped
    expect(h.events.some((e) => /next hold 20s/.test(e.reason))).toBe(true);
  });
  it("a failback that holds resets the hold to its configured length", () => {
    const h = started({ hold: 10_000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.tick(12_000); // failback
    h.health(13_000, { a: "unhealthy" }); // relapse → hold 20s
    h.health(14_000, {});
    h.tick(34_000); // failback after 20s
    expect(h.active).toBe("a");
    expect(h.state.hold).toBe(20_000);
    h.tick(54_000); // survived its probation
    expect(h.state.hold).toBe(10_000);
  });
  it("manual: never fails back by itself; `failback` does", () => {
    const h = started({ mode: "manual", hold: 1000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.tick(1_000_000);
    expect(h.active).toBe("b");
    expect(nextDeadline(h.spec, h.state)).toBeUndefined();
    const r = h.cmd(1_000_001, { command: "failback" });
    expect(r.error).toBeUndefined();
    expect(h.active).toBe("a");
    expect(h.events.at(-1)).toMatchObject({ kind: "manual_switch", from: "b", to: "a" });
  });
  it("never: sticky, yet still fails over when the active member fails", () => {
    const h = started({ mode: "never", hold: 1000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.tick(1_000_000);
    expect(h.active).toBe("b");
    h.health(1_000_001, { b: "unhealthy" });
    expect(h.active).toBe("a");
  });
  it("fails back to the most preferred healthy member, not an intermediate one", () => {
    const h = started({ hold: 10_000 });
    h.health(1000, { a: "unhealthy", b: "unhealthy" });
    expect(h.active).toBe("c");
    h.health(2000, { a: "unhealthy" }); // b healthy
    h.tick(12_000);
    expect(h.active).toBe("b"); // a still unhealthy: b is the best available
    h.health(13_000, {});
    h.tick(23_000);
    expect(h.active).toBe("a");
  });
});

describe("damping", () => {
  it("the failback that would exceed max_switches is held back: frozen, with an event, until the window passes", () => {
    const h = started({ max_switches: 2, within: 60_000, hold: 1000 });
    h.health(1000, { a: "unhealthy" }); // switch 1: a→b
    h.health(2000, {}); // a healthy again
    h.tick(3000); // switch 2: failback b→a
    h.health(4000, { a: "unhealthy" }); // switch 3 would exceed: a failover, made anyway (a is dead)
    expect(h.active).toBe("b");
    expect(h.state.frozen).toMatchObject({ until: 64_000, avoid: "a" });
    h.health(5000, {}); // a healthy: no failback while frozen
    h.tick(10_000);
    expect(h.active).toBe("b");
    h.tick(63_999);
    expect(h.active).toBe("b");
    h.tick(64_000);
    expect(h.kinds()).toEqual([
      "1000:failover>b",
      "3000:failback>a",
      "4000:frozen",
      "4000:failover>b",
      "64000:unfrozen",
      "64000:failback>a",
    ]);
    expect(h.events.find((e) => e.kind === "frozen")!.reason).toMatch(
      /^frozen: 2 automatic switches within 1m \(max_switches 2\); the failover to b is still made \(a is unhealthy: safety beats stability\)/,
    );
  });
  it("a failback that would exceed max_switches is not made; the frozen event names it", () => {
    const g = started({ max_switches: 1, within: 60_000, hold: 1000 });
    g.health(1000, { a: "unhealthy" }); // 1: a→b
    g.health(2000, {}); // a healthy
    g.tick(3000); // the failback would be switch 2: frozen instead
    expect(g.active).toBe("b");
    expect(g.state.frozen?.avoid).toBe("a");
    expect(g.events.find((e) => e.kind === "frozen")!.reason).toMatch(
      /^frozen on b: 1 automatic switches within 1m \(max_switches 1\); wanted failback to a/,
    );
  });
  it("the window boundary: a switch exactly `within` ago no longer counts", () => {
    const h = started({ max_switches: 1, within: 10_000, hold: 1000 });
    h.health(1000, { a: "unhealthy" }); // a→b at 1000
    h.health(5000, {}); // a healthy since 5000; hold 1000 → failback due at 6000, still within 10 s
    h.health(5500, { a: "unhealthy" });
    h.health(10_000, {}); // healthy since 10000: failback due at 11000 = 1000 + within → the first no longer counts
    h.tick(11_000);
    expect(h.active).toBe("a");
    expect(h.state.frozen).toBeUndefined();
    // One millisecond earlier, the first switch still counts.
    const e = started({ max_switches: 1, within: 10_000, hold: 1000 });
    e.health(1000, { a: "unhealthy" });
    e.health(9999, {});
    e.tick(10_999);
    expect(e.active).toBe("b");
    expect(e.state.frozen?.avoid).toBe("a");
  });
  it("a frozen group whose active member dies moves to a healthy member, avoiding the one that kept failing", () => {
    const h = started({ max_switches: 1, within: 60_000, hold: 1000 });
    h.health(1000, { a: "unhealthy" }); // 1: a→b
    h.health(2000, {}); // a healthy
    h.tick(3000); // failback held back: frozen on b, a avoided
    expect(h.state.frozen?.avoid).toBe("a");
    h.health(4000, { b: "unhealthy" }); // a and c healthy: c is chosen, a is avoided
    expect(h.active).toBe("c");
    expect(h.events.at(-1)!.reason).toMatch(/made although frozen/);
    h.health(5000, { b: "unhealthy", c: "unhealthy" }); // only a is left: safety beats stability
    expect(h.active).toBe("a");
  });
  it("a frozen group says so when its active member dies and nothing is left", () => {
    const h = started({ max_switches: 1, within: 60_000 });
    h.cmd(500, { command: "freeze" });
    h.health(1000, { a: "unhealthy", b: "unhealthy", c: "unknown" });
    expect(h.kinds()).toEqual(["500:frozen", "1000:no_healthy_member"]);
  });
  it("unfreeze by hand resumes at once; a freeze by hand stops automatic failback, not the move off a dead member", () => {
    const h = started({ max_switches: 1, within: 60_000, hold: 1000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.tick(3000);
    expect(h.state.frozen).toMatchObject({ at: 3000, until: 63_000, avoid: "a" });
    expect(h.active).toBe("b");
    h.cmd(4000, { command: "unfreeze" });
    expect(h.active).toBe("a");
    h.cmd(5000, { command: "freeze", reason: "maintenance" });
    h.health(6000, { a: "unhealthy" });
    expect(h.active).toBe("b");
    h.health(7000, {});
    h.tick(20_000);
    expect(h.active).toBe("b");
    expect(h.events.find((e) => e.ts === 5000)?.reason).toBe("frozen on a: maintenance");
  });
});

describe("pin", () => {
  it("switches to the pinned member, holds it against failback, and lets go at expiry", () => {
    const h = started({ hold: 10_000 });
    const r = h.cmd(1000, { command: "pin", member: "b", until: 100_000 });
    expect(r.switch).toEqual({ from: "a", to: "b", kind: "manual_switch" });
    h.tick(50_000);
    expect(h.active).toBe("b");
    expect(nextDeadline(h.spec, h.state)).toBe(100_000);
    h.tick(99_999);
    expect(h.active).toBe("b");
    h.tick(100_000);
    expect(h.active).toBe("a");
    expect(h.kinds()).toEqual([
      "1000:pinned",
      "1000:manual_switch>b",
      "100000:unpinned",
      "100000:failback>a",
    ]);
  });
  it("a pinned member that fails is left, and returned to after the hold", () => {
    const h = started({ hold: 10_000 });
    h.cmd(1000, { command: "pin", member: "b" });
    h.health(2000, { b: "unhealthy" });
    expect(h.active).toBe("a");
    h.health(3000, {});
    h.tick(12_999);
    expect(h.active).toBe("a");
    h.tick(13_000);
    expect(h.active).toBe("b");
    h.cmd(14_000, { command: "unpin" });
    h.tick(14_000);
    expect(h.active).toBe("a"); // a has been healthy all along
  });
  it("refuses to pin an unhealthy or unknown member unless forced, and unknown names", () => {
    const h = started();
    h.health(1000, { b: "unhealthy" });
    expect(h.cmd(2000, { command: "pin", member: "b" }).error).toBe(
      "b is unhealthy; refusing to pin it (use force)",
    );
    expect(h.cmd(2000, { command: "pin", member: "zz" }).error).toBe('group "g" has no member "zz"');
    expect(h.cmd(2000, { command: "pin", member: "b", force: true }).error).toBeUndefined();
  });
  it("refuses a pin whose expiry is now or past", () => {
    const h = started();
    expect(h.cmd(2000, { command: "pin", member: "b", until: 2000 }).error).toBe("pin expiry is in the past");
    expect(h.cmd(2000, { command: "pin", member: "b", until: 1000 }).error).toBe("pin expiry is in the past");
    expect(h.active).toBe("a");
    expect(h.state.pin).toBeUndefined();
  });
});

describe("redundancy", () => {
  it("raises redundancy_lost and redundancy_restored around min_healthy", () => {
    const h = new Harness(group({ min_healthy: 2, members: ["a", "b"] }));
    h.health(0, { a: "healthy", b: "unknown" }); // not judged until every member has reported
    expect(h.kinds()).toEqual([]);
    h.health(100, { a: "healthy", b: "healthy" });
    h.health(1000, { b: "unhealthy" });
    h.health(2000, { b: "degraded" });
    h.health(3000, {});
    expect(h.kinds()).toEqual(["1000:redundancy_lost", "3000:redundancy_restored"]);
    expect(h.events.find((e) => e.kind === "redundancy_lost")?.reason).toBe(
      "1 of 2 members healthy (min_healthy 2): b unhealthy (b-down unhealthy)",
    );
  });
  it("judges a member that never reports after the grace period", () => {
    const h = new Harness(group({ min_healthy: 2, members: ["a", "b"] }));
    h.health(0, { a: "healthy", b: "unknown" });
    expect(nextDeadline(h.spec, h.state)).toBe(30_000);
    h.tick(30_000);
    expect(h.kinds()).toEqual(["30000:redundancy_lost"]);
  });
});

describe("switch verification and failures", () => {
  it("a verify rule still firing `within` after the switch fails it, and the next candidate is tried", () => {
    const h = started({ verify: { rules: ["svc"], within: 5000 } });
    h.health(1000, { a: "unhealthy" }, ["svc firing"]);
    expect(h.active).toBe("b");
    h.tick(5999);
    expect(h.active).toBe("b");
    h.tick(6000);
    expect(h.active).toBe("c");
    expect(h.kinds()).toEqual(["1000:failover>b", "6000:switch_failed>b", "6000:failover>c"]);
    expect(h.events.find((e) => e.kind === "switch_failed")?.reason).toMatch(
      /verify rules still firing 5s after the switch: svc firing/,
    );
  });
  it("a verify rule that cleared in time confirms the switch", () => {
    const h = started({ verify: { rules: ["svc"], within: 5000 } });
    h.health(1000, { a: "unhealthy" }, ["svc firing"]);
    h.health(3000, { a: "unhealthy" }, []);
    h.tick(6000);
    expect(h.active).toBe("b");
  });
  it("a failed activation excludes the member and tries the next", () => {
    const h = started();
    h.health(1000, { a: "unhealthy" });
    const r = step(h.spec, h.state, 1100, {
      type: "switch_result",
      to: "b",
      ok: false,
      detail: "ip: exit 2",
    });
    expect(r.state.active).toBe("c");
    expect(r.events.map((e) => e.kind)).toEqual(["switch_failed", "failover"]);
  });
});

describe("operators are obeyed", () => {
  it("failover by hand holds the group on its target against automatic failback, until failback", () => {
    const h = started({ hold: 10_000 });
    const r = h.cmd(1000, { command: "failover" });
    expect(r.switch).toEqual({ from: "a", to: "b", kind: "manual_switch" });
    expect(r.events.map((e) => e.kind)).toEqual(["manual_switch"]); // no failback in the same step
    expect(h.state.pin).toEqual({ member: "b", by: "failover" });
    h.tick(11_000);
    h.health(60_000, {});
    h.tick(600_000);
    expect(h.active).toBe("b");
    expect(h.state.switches).toEqual([]); // the operator's switch is not counted by damping
    const back = h.cmd(600_001, { command: "failback" });
    expect(back.switch).toEqual({ from: "b", to: "a", kind: "manual_switch" });
    expect(h.state.pin).toBeUndefined();
    expect(h.kinds()).toEqual(["1000:manual_switch>b", "600001:unpinned", "600001:manual_switch>a"]);
  });
  it("failover --to M --for D lets automatic failback resume at expiry; unpin releases it at once", () => {
    const h = started({ hold: 10_000 });
    h.cmd(1000, { command: "failover", member: "c", until: 50_000 });
    expect(nextDeadline(h.spec, h.state)).toBe(50_000);
    h.tick(49_999);
    expect(h.active).toBe("c");
    h.tick(50_000);
    expect(h.active).toBe("a");
    expect(h.cmd(60_000, { command: "failover", member: "b", until: 60_000 }).error).toBe(
      "the expiry is in the past",
    );
    h.cmd(60_000, { command: "failover", member: "b" });
    h.cmd(70_000, { command: "unpin" });
    h.tick(70_000);
    expect(h.active).toBe("a"); // a was healthy for the hold all along
  });
  it("only the operator's target turning unhealthy moves the group again", () => {
    const h = started({ hold: 10_000 });
    h.cmd(1000, { command: "failover", member: "b" });
    h.health(2000, { b: "unhealthy" });
    expect(h.active).toBe("a");
    expect(h.kinds().at(-1)).toBe("2000:failover>a");
  });
  it("refuses failover --to an unhealthy or unknown member, and failback when nothing is preferred", () => {
    const h = started();
    h.health(500, { b: "unhealthy", c: "unknown" });
    expect(h.cmd(1000, { command: "failover", member: "b" }).error).toBe(
      "b is unhealthy; refusing to switch to it",
    );
    expect(h.cmd(1000, { command: "failover", member: "c" }).error).toBe(
      "c is unknown; refusing to switch to it",
    );
    expect(h.cmd(1000, { command: "failback" }).error).toBe(
      "no healthy member is preferred over the active a",
    );
    expect(h.active).toBe("a");
  });
  it("pin --force of an unhealthy member is not undone in the same step, nor while its health stays", () => {
    const h = started({ hold: 1000 });
    h.health(500, { b: "unhealthy" });
    const r = h.cmd(1000, { command: "pin", member: "b", force: true });
    expect(r.switch).toEqual({ from: "a", to: "b", kind: "manual_switch" });
    expect(r.events.map((e) => e.kind)).toEqual(["pinned", "manual_switch"]);
    expect(r.events[0]!.reason).toMatch(/although unhealthy \(forced\)/);
    h.health(2000, { b: "unhealthy" });
    h.tick(10_000);
    expect(h.active).toBe("b");
    // b recovers, then fails again: now it is a failure like any other.
    h.health(11_000, {});
    h.health(12_000, { b: "unhealthy" });
    expect(h.active).toBe("a");
  });
  it("a failover by hand after phantom failbacks is not possible: no relapse, no doubled hold, no freeze", () => {
    // The new user's story of issue 6: two failovers by hand, then the primary really fails.
    const h = started({ hold: 10_000, max_switches: 2, within: 600_000 });
    h.cmd(1000, { command: "failover" });
    h.tick(11_000);
    h.cmd(12_000, { command: "failback" });
    h.cmd(13_000, { command: "failover" });
    h.tick(30_000);
    h.cmd(31_000, { command: "failback" });
    expect(h.state.hold).toBe(10_000);
    h.health(35_000, { a: "unhealthy" });
    expect(h.active).toBe("b");
    expect(h.state.frozen).toBeUndefined();
  });
});

describe("failed switches", () => {
  const failed = (h: Harness, now: number, to: string) =>
    (h as unknown as { run(now: number, i: Input): unknown }).run(now, {
      type: "switch_result",
      to,
      ok: false,
      detail: "exit 2",
    });
  it("excludes the failed member for the hold: not a target, not a failback candidate, a deadline", () => {
    const h = started({ hold: 20_000 });
    h.health(1000, { a: "unhealthy" }); // → b
    failed(h, 1100, "b"); // → c
    expect(h.active).toBe("c");
    expect(h.state.excluded).toEqual({ b: 21_100 });
    expect(nextDeadline(h.spec, h.state)).toBe(21_100);
    h.health(2000, { a: "unhealthy", c: "unhealthy" }); // b is healthy but excluded
    expect(h.active).toBe("c");
    expect(h.kinds().at(-1)).toBe("2000:no_healthy_member");
    h.health(3000, { a: "unhealthy" }); // c healthy again; b, preferred, is excluded: no failback to it
    h.tick(21_099);
    expect(h.active).toBe("c");
    h.tick(21_100);
    expect(h.active).toBe("b"); // b healthy since 0, exclusion over: failback
  });
  it("ignores a failed activation of a member that is no longer active", () => {
    const h = started();
    h.health(1000, { a: "unhealthy" }); // → b
    h.health(2000, { a: "unhealthy", b: "unhealthy" }); // → c
    failed(h, 2100, "b");
    expect(h.active).toBe("c");
    expect(h.state.excluded).toEqual({});
    expect(h.kinds().at(-1)).toBe("2000:failover>c");
  });
  it("retries the activation of the active member when no other took over and its exclusion ends", () => {
    const h = new Harness(group({ members: ["a", "b"], hold: 5000 }));
    h.health(0, { a: "healthy", b: "healthy" });
    h.health(1000, { a: "unhealthy" }); // → b
    failed(h, 1100, "b"); // no other member: stays on b, whose actions failed
    expect(h.active).toBe("b");
    const r = step(h.spec, h.state, 6100, { type: "tick" });
    expect(r.switch).toEqual({ from: "b", to: "b", kind: "switch_retry" });
    expect(r.events.map((e) => e.kind)).toEqual(["switch_retry"]);
  });
});

describe("hold growth", () => {
  it("a degraded relapse within the hold doubles it too", () => {
    const h = started({ hold: 10_000, max_hold: 80_000 });
    h.health(1000, { a: "unhealthy" });
    h.health(2000, {});
    h.tick(12_000); // failback
    expect(h.active).toBe("a");
    h.health(13_000, { a: "degraded" });
    expect(h.state.hold).toBe(20_000);
  });
});

describe("commands", () => {
  it("failover by hand goes to the best other member; errors are explained", () => {
    const h = started();
    expect(h.cmd(1000, { command: "failover" }).switch).toEqual({
      from: "a",
      to: "b",
      kind: "manual_switch",
    });
    expect(h.cmd(1000, { command: "failover", member: "b" }).error).toBe("b is already active");
    expect(h.cmd(1000, { command: "unfreeze" }).error).toBe("not frozen");
    expect(h.cmd(1000, { command: "unpin" }).error).toBeUndefined(); // the failover held b as a pin does
    expect(h.cmd(1000, { command: "unpin" }).error).toBe("not pinned");
    h.health(2000, { a: "unhealthy", c: "unhealthy" });
    expect(h.cmd(3000, { command: "failover" }).error).toBe(
      "no healthy or degraded member to fail over to from b",
    );
  });
  it("manual switches do not count towards damping", () => {
    const h = started({ max_switches: 1 });
    h.cmd(1000, { command: "failover" });
    h.cmd(2000, { command: "failback" });
    h.health(3000, { a: "unhealthy" });
    expect(h.active).toBe("b");
  });
});

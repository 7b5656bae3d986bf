/** The watchdog's check of the decision path (liveness.ts), on a fake clock. */
import { describe, expect, it } from "vitest";
import type { ActionSpec } from "../../../src/actions/types.js";
import {
  checkLiveness,
  collectorBoundMs,
  LIVENESS_GRACE_MS,
  type LivenessInput,
  statusLine,
  switchBudgetMs,
} from "../../../src/daemon/liveness.js";
import type { GroupSpec } from "../../../src/groups/types.js";

const T0 = 1_764_100_000_000;
const base: LivenessInput = { now: T0, deadline: undefined, busy: [], collectors: [] };

function group(actions: ActionSpec[][]): GroupSpec {
  return {
    name: "uplink",
    members: actions.map((activate, i) => ({
      name: `m${i}`,
      priority: 100 - i,
      health: [],
      activate,
      deactivate: [],
    })),
    failback: { mode: "auto", hold: 1000, max_hold: 8000 },
    damping: { max_switches: 4, within: 600_000 },
  } as unknown as GroupSpec;
}

describe("checkLiveness", () => {
  it("turns when nothing is due, no switch runs and no collector is polled", () => {
    expect(checkLiveness(base)).toBeUndefined();
  });

  it("the pipeline's timer: a deadline overdue by more than the grace is stuck, within it is not", () => {
    expect(checkLiveness({ ...base, deadline: T0 - LIVENESS_GRACE_MS })).toBeUndefined();
    expect(checkLiveness({ ...base, deadline: T0 + 5000 })).toBeUndefined();
    expect(checkLiveness({ ...base, deadline: T0 - LIVENESS_GRACE_MS - 1 })).toBe(
      "the pipeline's timer is stuck: its deadline passed 20.001s ago",
    );
    expect(checkLiveness({ ...base, deadline: T0 - 2000, graceMs: 1000 })).toMatch(/passed 2s ago/);
  });

  it("a switch queue's job that outlives its budget is stuck", () => {
    const busy = [{ group: "uplink", since: T0 - 30_000, budgetMs: 30_000 }];
    expect(checkLiveness({ ...base, busy })).toBeUndefined();
    expect(checkLiveness({ ...base, now: T0 + 1, busy })).toBe(
      "group uplink's switch queue is stuck: a job has run for 30.001s (its actions may take 30s)",
    );
  });

  it("a collector that has not run within max(interval + jitter, timeout) + grace is stuck", () => {
    const c = { name: "gw-a", interval: 100, timeout: 90, lastRunAt: T0, addedAt: T0 - 60_000 };
    expect(collectorBoundMs(c)).toBe(110);
    const at = (now: number) => checkLiveness({ ...base, now, collectors: [c] });
    expect(at(T0 + 110 + LIVENESS_GRACE_MS)).toBeUndefined();
    expect(at(T0 + 111 + LIVENESS_GRACE_MS)).toBe(
      "the scheduler is stuck: collector gw-a (every 100ms) has not run for 20.111s",
    );
    // A long interval: jitter up to 1 s; a timeout longer than the interval bounds it instead.
    expect(collectorBoundMs({ ...c, interval: 600_000, timeout: 30_000 })).toBe(601_000);
    expect(collectorBoundMs({ ...c, interval: 1000, timeout: 5000 })).toBe(5000);
  });

  it("a collector not yet run is judged from when it was added, within the start spread", () => {
    const c = { name: "disks", interval: 600_000, timeout: 60_000, addedAt: T0 };
    expect(collectorBoundMs(c)).toBe(10_000);
    expect(checkLiveness({ ...base, now: T0 + 30_000, collectors: [c] })).toBeUndefined();
    expect(checkLiveness({ ...base, now: T0 + 30_001, collectors: [c, { ...c, name: "more" }] })).toBe(
      "the scheduler is stuck: collector disks (every 10m) has not run for 30.001s (and 1 more)",
    );
  });

  it("says every reason found", () => {
    const why = checkLiveness({
      ...base,
      deadline: T0 - 60_000,
      busy: [{ group: "g", since: T0 - 100_000, budgetMs: 1000 }],
    });
    expect(why?.split("; ")).toHaveLength(2);
  });
});

describe("switchBudgetMs", () => {
  it("is every action of every member, bounded by its timeout twice, the kill grace and an ip read, plus grace", () => {
    const route: ActionSpec = { route: { to: "default", via: "192.0.2.1", timeout: 5000 } };
    const exec: ActionSpec = { exec: { argv: ["x"], env: {}, shell: false, timeout: 10_000 } };
    // route: 2 × (5 + 1) + 2 = 14 s; exec: 2 × (10 + 1) + 2 = 24 s; grace 20 s.
    expect(switchBudgetMs(group([[route], [route, exec]]))).toBe(14_000 + 14_000 + 24_000 + 20_000);
    expect(switchBudgetMs(undefined)).toBe(LIVENESS_GRACE_MS);
    expect(switchBudgetMs(group([[]]), 0)).toBe(0);
  });
});

describe("statusLine", () => {
  it("names each group's active member", () => {
    const groups = [{ name: "uplink" }, { name: "svc" }] as unknown as GroupSpec[];
    const active = (g: string) => (g === "uplink" ? "isp-b" : undefined);
    expect(statusLine(groups, active, (g) => g === "uplink", false)).toBe(
      "2 group(s): uplink: isp-b (switching), svc: none",
    );
    expect(statusLine([], active, () => false, true)).toBe("0 group(s) (dry run)");
  });
});

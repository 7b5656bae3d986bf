import { describe, expect, it } from "vitest";
import { DEFAULT_FORGET_MS, RuleEngine, type Transition } from "../../../src/engine/engine.js";
import { type RuleInput, rule, sample } from "../../helpers.js";

/** Feeds [ts, value] pairs; returns the transitions as "ts:state". */
function run(r: RuleInput, points: readonly (readonly [number, number])[], labels = {}): string[] {
  const e = new RuleEngine([rule(r)]);
  return feed(e, points, labels).map((t) => `${t.ts}:${t.state}`);
}
function feed(e: RuleEngine, points: readonly (readonly [number, number])[], labels = {}): Transition[] {
  const out: Transition[] = [];
  for (const [ts, v] of points) out.push(...e.ingest(sample(ts, v, labels)));
  return out;
}
const seq = (values: number[], step = 1000, start = 0) =>
  values.map((v, i) => [start + i * step, v] as const);

describe("hysteresis", () => {
  const r: RuleInput = { problem: "last > 150", recovery: "last < 80" };
  it("fires only strictly above the problem threshold", () => {
    expect(run(r, seq([100, 150, 150.0001]))).toEqual(["0:ok", "2000:firing"]);
  });
  it("stays firing inside the band and at the recovery boundary, clears strictly below it", () => {
    expect(run(r, seq([200, 149, 100, 80, 79.99, 120]))).toEqual(["0:firing", "4000:ok"]);
  });
  it("without a recovery condition clears as soon as the problem is false", () => {
    expect(run({ problem: "last >= 10" }, seq([10, 9.99, 10]))).toEqual([
      "0:firing",
      "1000:ok",
      "2000:firing",
    ]);
  });
  it(">= <= == != and in", () => {
    expect(run({ problem: "last <= 3" }, seq([4, 3]))).toEqual(["0:ok", "1000:firing"]);
    expect(run({ problem: "last != 0" }, seq([0, 1]))).toEqual(["0:ok", "1000:firing"]);
    expect(run({ problem: "in [failed, absent]" }, seq([0, 1, 2, 0, 3]))).toEqual([
      "0:ok",
      "2000:firing",
      "3000:ok",
      "4000:firing",
    ]);
    expect(run({ problem: "== warning" }, seq([0, 1]))).toEqual(["0:ok", "1000:firing"]);
  });
});

describe("for / recover_for", () => {
  it("by time: pending, then firing exactly at `for` (sample-driven)", () => {
    expect(run({ problem: "last > 0", for: "5s" }, seq([1, 1, 1, 1, 1, 1, 1]))).toEqual([
      "0:pending",
      "5000:firing",
    ]);
  });
  it("by time: a timer fires at the deadline without a new sample, not 1 ms earlier", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", for: "5s" })]);
    expect(e.ingest(sample(1000, 1)).map((t) => t.state)).toEqual(["pending"]);
    expect(e.nextDeadline()).toBe(6000);
    expect(e.tick(5999)).toEqual([]);
    expect(e.tick(6000).map((t) => t.state)).toEqual(["firing"]);
    expect(e.nextDeadline()).toBe(1000 + DEFAULT_FORGET_MS); // only forgetting is left
  });
  it("by time: the problem going away during `for` returns to ok and restarts the wait", () => {
    expect(run({ problem: "last > 0", for: "3s" }, seq([1, 1, 0, 1, 1, 1, 1]))).toEqual([
      "0:pending",
      "2000:ok",
      "3000:pending",
      "6000:firing",
    ]);
  });
  it("by count: fires on the Nth consecutive problem sample", () => {
    expect(run({ problem: "last > 0", for: "3 samples" }, seq([1, 1, 0, 1, 1, 1]))).toEqual([
      "0:pending",
      "2000:ok",
      "3000:pending",
      "5000:firing",
    ]);
  });
  it("recover_for by count and by time", () => {
    expect(run({ problem: "last > 0", recover_for: "2 samples" }, seq([1, 0, 1, 0, 0]))).toEqual([
      "0:firing",
      "1000:recovering",
      "2000:firing",
      "3000:recovering",
      "4000:ok",
    ]);
    const e = new RuleEngine([rule({ problem: "last > 0", recover_for: "10s" })]);
    feed(e, seq([1, 0]));
    expect(e.nextDeadline()).toBe(11_000);
    expect(e.tick(10_999)).toEqual([]);
    expect(e.tick(11_000).map((t) => `${t.ts}:${t.state}`)).toEqual(["11000:ok"]);
  });
  it("reasons name the rule, the condition and the value", () => {
    const e = new RuleEngine([rule({ name: "gw-a-down", problem: "max over 3 samples == 0" })]);
    const t = feed(e, seq([0, 0, 0]));
    expect(t.at(-1)?.reason).toBe("gw-a-down firing: max over 3 samples == 0 (value 0)");
    expect(t.at(-1)?.value).toBe(0);
  });
});

describe("windows", () => {
  it("a count window needs all N samples before it judges", () => {
    expect(run({ problem: "max over 3 samples == 0" }, seq([0, 0, 0, 1, 0, 0, 0]))).toEqual([
      "2000:firing",
      "3000:ok",
      "6000:firing",
    ]);
  });
  it("a count window slides: only the last N samples count", () => {
    expect(run({ problem: "avg over 2 samples > 5" }, seq([10, 0, 10, 10, 0, 0]))).toEqual([
      "1000:ok",
      "3000:firing",
      "4000:ok",
    ]);
  });
  it("a time window holds the samples of (now - W, now]", () => {
    // avg over 3s at t=3000 covers t=1000,2000,3000 (t=0 has left the window).
    // At t=3000 the window is (0, 3000]: t=0 (100) has left it, so avg = 50, not > 50.
    expect(run({ problem: "avg over 3s > 50" }, seq([100, 0, 0, 150, 150, 0]))).toEqual([
      "0:firing",
      "1000:ok",
      "4000:firing",
    ]);
  });
  it("a loss ratio is 1 - avg of probe.success over a time window", () => {
    // 10 probes/s; loss over 1s > 0.3 means avg < 0.7
    const pts = [...Array(30)].map((_, i) => [i * 100, i >= 10 && i % 2 === 0 ? 0 : 1] as const);
    const out = run({ problem: "avg over 1s < 0.7", recovery: "avg over 1s > 0.9" }, pts);
    expect(out[0]).toBe("0:ok");
    expect(out[1]).toMatch(/:firing$/);
    const firedAt = Number(out[1]!.split(":")[0]);
    expect(firedAt).toBeGreaterThan(1000);
    expect(firedAt).toBeLessThan(2000);
  });
});

describe("forget_after", () => {
  const labelsOf = (e: RuleEngine) => [...e.instancesOf("r")].map((i) => i.labels.dev);
  it("removes an instance silent for forget_after, says so, and keeps the others", () => {
    const e = new RuleEngine([rule({ problem: "last == 0", stale_after: "5s", forget_after: "1m" })]);
    e.ingest(sample(0, 1, { dev: "veth1" }));
    for (let t = 0; t <= 120_000; t += 1000) e.ingest(sample(t, 1, { dev: "eth0" }));
    expect(labelsOf(e)).toEqual(["veth1", "eth0"]);
    // No tick ran since 0 s: the first check, at 120 s, finds veth1 past forget_after and says so.
    const out = e.tick(120_000);
    expect(out).toEqual([
      {
        ts: 120_000,
        rule: "r",
        labels: { dev: "veth1" },
        state: "forgotten",
        prev: "ok",
        reason: "r forgotten: no sample for 2m (forget_after 1m); instance removed",
      },
    ]);
    expect(labelsOf(e)).toEqual(["eth0"]);
    expect(e.instanceCount).toBe(1);
  });
  it("retire(): removes the instances of the series it names at once, with the reason given, and keeps the others", () => {
    const e = new RuleEngine([rule({ problem: "last == 0", stale_after: "5s" })]);
    e.ingest(sample(0, 0, { dev: "old" }));
    e.ingest(sample(0, 1, { dev: "new" }));
    expect(e.retire((l) => l.dev === "old", 1000, "the probe's target changed")).toEqual([
      {
        ts: 1000,
        rule: "r",
        labels: { dev: "old" },
        state: "forgotten",
        prev: "firing",
        reason: "r forgotten: the probe's target changed; instance removed",
      },
    ]);
    expect(labelsOf(e)).toEqual(["new"]);
    expect(e.retire((l) => l.dev === "old", 2000, "again")).toEqual([]);
    // Nothing of it left to go stale later.
    expect(e.tick(10_000).map((t) => `${t.labels.dev}:${t.state}`)).toEqual(["new:unknown"]);
  });
  it("fires the forget timer at its own time and comes back as a fresh instance", () => {
    const e = new RuleEngine([rule({ problem: "last == 0", forget_after: "30s" })]);
    e.ingest(sample(0, 0, { dev: "a" }));
    expect(e.nextDeadline()).toBe(30_000);
    expect(e.tick(29_999)).toEqual([]);
    expect(e.tick(30_000).map((t) => `${t.state}<${t.prev}`)).toEqual(["forgotten<firing"]);
    expect(e.instanceCount).toBe(0);
    expect(e.nextDeadline()).toBeUndefined();
    // The same label object again: a new instance, judged afresh.
    expect(e.ingest(sample(40_000, 1, { dev: "a" })).map((t) => `${t.state}<${t.prev}`)).toEqual([
      "ok<unknown",
    ]);
    expect(e.instanceCount).toBe(1);
  });
  it("label churn does not grow the engine: forgotten series and unmatched label sets are dropped", () => {
    const e = new RuleEngine([rule({ problem: "last == 0", labels: { dev: "eth*" }, forget_after: "10s" })]);
    for (let i = 0; i < 20_000; i++) {
      e.ingest(sample(i * 10, 1, { dev: `eth${i}` }));
      e.ingest(sample(i * 10, 1, { dev: `veth${i}` })); // selected by no rule
      if (i % 1000 === 0) e.tick(i * 10);
    }
    e.tick(200_000);
    expect(e.instanceCount).toBeLessThanOrEqual(1001);
    const internals = e as unknown as {
      canonicalSeries: Map<string, unknown>;
      fastSeries: Map<string, Map<string, unknown>>;
      unmatched: Map<string, Set<string>>;
    };
    expect(internals.canonicalSeries.size).toBe(e.instanceCount);
    expect(internals.fastSeries.get("m")!.size).toBe(e.instanceCount);
    expect(internals.unmatched.get("m")!.size).toBeLessThanOrEqual(4096);
  });
  it("a rule left with no instance makes its member unknown, in the pipeline", async () => {
    const { Pipeline } = await import("../../../src/pipeline.js");
    const { group } = await import("../../helpers.js");
    const g = group({ members: ["a", "b"] });
    const spec = {
      ...g,
      members: g.members.map((m) => ({ ...m, health: [{ rule: m.name === "a" ? "r" : "rb" }] })),
    };
    const p = new Pipeline(
      [
        rule({ name: "r", problem: "last == 0", forget_after: "1m", stale_after: "5s" }),
        rule({ name: "rb", metric: "mb", problem: "last == 0" }),
      ],
      [spec],
      0,
    );
    p.initialize(0);
    p.ingest(sample(0, 1, { dev: "x" }));
    const out = p.tick(60_000);
    expect(out.events.map((ev) => `${ev.kind}:${"state" in ev ? ev.state : ""}`)).toContain("rule:forgotten");
    expect(p.groupState(spec.name)!.health.a).toMatchObject({ health: "unknown" });
  });
});

describe("missing data", () => {
  const unknownReading = (ts: number) => ({ ...sample(ts, -1), state: "unknown" });
  it("an unknown reading (a sensor without one, a BMC gone) makes the rule unknown at once, not after stale_after", () => {
    const e = new RuleEngine([rule({ problem: "in [failed, absent]", stale_after: "1h" })]);
    expect(feed(e, seq([0])).map((x) => x.state)).toEqual(["ok"]);
    const t = e.ingest(unknownReading(1000));
    expect(t.map((x) => x.state)).toEqual(["unknown"]);
    expect(t[0]?.reason).toBe("r unknown: the device reports no reading (state unknown)");
    expect([...e.instancesOf("r")][0]?.health).toBe("unknown");
    expect(e.ingest(unknownReading(2000))).toEqual([]);
    // The value −1 never entered the window: a min over the window sees only real readings.
    expect(e.ingest(sample(3000, 2)).map((x) => x.state)).toEqual(["firing"]);
  });
  it("a firing rule that gets an unknown reading is unknown, and firing again when the failed reading returns", () => {
    const e = new RuleEngine([rule({ problem: "in [failed, absent]" })]);
    feed(e, seq([2]));
    expect(e.ingest(unknownReading(1000)).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.ingest(sample(2000, 2)).map((x) => x.state)).toEqual(["firing"]);
  });
  it("a rule that names unknown judges the unknown reading as a value", () => {
    const e = new RuleEngine([rule({ problem: "in [failed, unknown]" })]);
    feed(e, seq([0]));
    expect(e.ingest(unknownReading(1000)).map((x) => x.state)).toEqual(["firing"]);
  });
  it("unknown readings are a sign of life: the series is kept while they come, forgotten when they stop", () => {
    const e = new RuleEngine([rule({ problem: "last == 2", forget_after: "1m" })]);
    feed(e, seq([0]));
    for (let t = 30_000; t <= 120_000; t += 30_000) e.ingest(unknownReading(t));
    expect(e.tick(120_000).map((x) => x.state)).toEqual([]);
    expect([...e.instancesOf("r")][0]?.health).toBe("unknown");
    expect(e.tick(180_000).map((x) => x.state)).toEqual(["forgotten"]);
  });
  it("a series that has only ever said unknown (a disabled sensor) is not judged: no instance, no churn", () => {
    const e = new RuleEngine([rule({ problem: "in [failed, absent]" })]);
    for (let t = 0; t <= 30 * 60_000; t += 10_000) {
      expect(e.ingest(unknownReading(t))).toEqual([]);
      expect(e.tick(t)).toEqual([]);
    }
    expect([...e.instancesOf("r")]).toEqual([]);
    // Its first real reading creates the instance as any new series does.
    expect(e.ingest(sample(30 * 60_000 + 1, 0)).map((x) => x.state)).toEqual(["ok"]);
  });
  it("a rule that names unknown judges a series that has only ever said unknown", () => {
    const e = new RuleEngine([rule({ problem: "in [failed, unknown]" })]);
    expect(e.ingest(unknownReading(0)).map((x) => x.state)).toEqual(["firing"]);
  });
  it("goes unknown exactly stale_after after the last sample, and back with data", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", stale_after: "30s" })]);
    feed(e, seq([0]));
    expect(e.nextDeadline()).toBe(30_000);
    expect(e.tick(29_999)).toEqual([]);
    const t = e.tick(30_000);
    expect(t.map((x) => x.state)).toEqual(["unknown"]);
    expect(t[0]?.reason).toBe("r unknown: no sample for 30s (stale_after 30s)");
    expect([...e.instancesOf("r")][0]?.health).toBe("unknown");
    expect(e.ingest(sample(40_000, 0)).map((x) => x.state)).toEqual(["ok"]);
  });
  it("a firing rule that goes stale stays firing underneath, and fires again when data resumes bad", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", for: "10s", stale_after: "5s" })]);
    feed(e, seq([1, 1], 10_000));
    expect(e.tick(15_000).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.ingest(sample(20_000, 1)).map((x) => x.state)).toEqual(["firing"]);
  });
  it("a pending `for` does not complete while data is missing", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", for: "10s", stale_after: "2s" })]);
    feed(e, seq([1]));
    expect(e.tick(2000).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.tick(10_000)).toEqual([]);
    expect(e.nextDeadline()).toBe(DEFAULT_FORGET_MS);
  });
  it("goes unknown again at every silence, however often data came back (all instances stale at once)", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", stale_after: "1s" })]);
    feed(e, seq([0, 0, 0, 0], 1000)); // 0..3 s
    expect(e.tick(4000).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.nextDeadline()).toBe(3000 + DEFAULT_FORGET_MS);
    expect(e.ingest(sample(10_000, 0)).map((x) => x.state)).toEqual(["ok"]);
    expect(e.nextDeadline()).toBe(11_000);
    expect(e.tick(11_000).map((x) => x.state)).toEqual(["unknown"]);
    for (let round = 0; round < 3; round++) {
      const t0 = 20_000 + round * 10_000;
      expect(e.ingest(sample(t0, 0)).map((x) => x.state)).toEqual(["ok"]);
      expect(e.tick(t0 + 1000).map((x) => x.state)).toEqual(["unknown"]);
    }
  });
  it("a streak does not span a data gap: `for` starts over when data resumes", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", for: "10s", stale_after: "2s" })]);
    feed(e, seq([0, 1])); // ok, then pending at 1 s
    expect(e.tick(3000).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.tick(11_000)).toEqual([]);
    // Back at 12 s, still bad: pending again, firing only 10 s of observed problem later.
    expect(e.ingest(sample(12_000, 1)).map((x) => x.state)).toEqual(["pending"]);
    expect(e.nextDeadline()).toBe(14_000);
    expect(e.ingest(sample(13_000, 1)).map((x) => x.state)).toEqual([]);
  });
  it("recover_for starts over after a gap too", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", recover_for: "5s", stale_after: "3s" })]);
    feed(e, seq([1, 0])); // firing, then recovering at 1 s
    expect(e.tick(4000).map((x) => x.state)).toEqual(["unknown"]);
    expect(e.ingest(sample(7000, 0)).map((x) => x.state)).toEqual(["recovering"]);
    expect(e.ingest(sample(9000, 0)).map((x) => x.state)).toEqual([]);
    expect(e.ingest(sample(12_000, 0)).map((x) => x.state)).toEqual(["ok"]);
  });
  it("an instance that never had enough data is unknown, not healthy", () => {
    const e = new RuleEngine([rule({ problem: "max over 3 samples == 0" })]);
    feed(e, seq([1, 1]));
    expect([...e.instancesOf("r")][0]?.health).toBe("unknown");
    feed(e, seq([1], 1000, 2000));
    expect([...e.instancesOf("r")][0]?.health).toBe("healthy");
  });
  it("pending from a fresh start counts as unknown, pending after ok as healthy", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", for: "2 samples" })]);
    feed(e, seq([1]));
    expect([...e.instancesOf("r")][0]?.health).toBe("unknown");
    const e2 = new RuleEngine([rule({ problem: "last > 0", for: "2 samples" })]);
    feed(e2, seq([0, 1]));
    expect([...e2.instancesOf("r")][0]?.state).toBe("pending");
    expect([...e2.instancesOf("r")][0]?.health).toBe("healthy");
  });
});

describe("flap detection", () => {
  const flap = { history: 21, low: 5, high: 20 };
  it("enters flapping when the verdict changes too often, and leaves when it settles", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", flap })]);
    const states: string[] = [];
    // Alternate 1,0 until flapping, then hold 0 until it stops.
    let ts = 0;
    for (let i = 0; i < 10; i++)
      for (const t of e.ingest(sample((ts += 1000), i % 2 === 0 ? 1 : 0))) states.push(t.state);
    expect(states).toContain("flapping");
    const inst = () => [...e.instancesOf("r")][0]!;
    expect(inst().health).toBe("unhealthy");
    const after: string[] = [];
    for (let i = 0; i < 25; i++) for (const t of e.ingest(sample((ts += 1000), 0))) after.push(`${t.state}`);
    expect(after).toEqual(["ok"]);
    expect(inst().health).toBe("healthy");
  });
  it("enters when the weighted percent state change reaches `high`", () => {
    // 4 changes among the most recent transitions of 21: ~20% with weights near 1.2 → flapping.
    const e = new RuleEngine([rule({ problem: "last > 0", flap })]);
    const vals = [...Array(16).fill(0), 1, 0, 1, 0];
    const out = feed(e, seq(vals));
    expect(out.map((t) => t.state)).toEqual(["ok", "firing", "ok", "firing", "flapping"]);
    expect(out.at(-1)?.reason).toMatch(
      /^r flapping: \d+\.\d% state change over the last 20 evaluations \(high 20%\)$/,
    );
  });
  it("enters at exactly `high` (the boundary is inclusive, as Nagios's)", () => {
    const n = 21;
    // One change, the newest pair: weight 1.2 over history − 1 pairs, computed as the engine does.
    const pct = ((0.8 + (0.4 * (n - 2)) / (n - 2)) * 100) / (n - 1);
    const e = new RuleEngine([rule({ problem: "last > 0", flap: { history: n, low: 1, high: pct } })]);
    const out = feed(e, seq([...Array(20).fill(0), 1]));
    expect(out.map((t) => t.state)).toEqual(["ok", "flapping"]);
    const f = new RuleEngine([rule({ problem: "last > 0", flap: { history: n, low: 1, high: pct + 1e-9 } })]);
    expect(feed(f, seq([...Array(20).fill(0), 1])).map((t) => t.state)).toEqual(["ok", "firing"]);
  });
  it("a rare change does not flap", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", flap })]);
    const vals = [...Array(10).fill(0), 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1];
    expect(feed(e, seq(vals)).map((t) => t.state)).not.toContain("flapping");
  });
  it("a warning rule that flaps makes the member degraded, not unhealthy", () => {
    const e = new RuleEngine([rule({ problem: "last > 0", flap, severity: "warning" })]);
    feed(e, seq([1, 0, 1, 0, 1, 0, 1, 0]));
    const inst = [...e.instancesOf("r")][0]!;
    expect(inst.state).toBe("flapping");
    expect(inst.health).toBe("degraded");
  });
});

describe("instances and indexing", () => {
  it("one instance per label set the rule matches, with * globs", () => {
    const e = new RuleEngine([
      rule({ metric: "ipmi.psu", labels: { component: "PSU*" }, problem: "in [failed, absent]" }),
    ]);
    e.ingest({ ts: 0, metric: "ipmi.psu", labels: { component: "PSU1", host: "h" }, value: 0 });
    e.ingest({ ts: 0, metric: "ipmi.psu", labels: { host: "h", component: "PSU2" }, value: 2 });
    e.ingest({ ts: 0, metric: "ipmi.psu", labels: { component: "FAN1", host: "h" }, value: 2 });
    e.ingest({ ts: 1, metric: "ipmi.psu", labels: { host: "h", component: "PSU1" }, value: 0 }); // same set, other order
    const insts = [...e.instancesOf("r")].map((i) => `${i.labels.component}:${i.state}`).sort();
    expect(insts).toEqual(["PSU1:ok", "PSU2:firing"]);
    expect(e.instanceCount).toBe(2);
  });
  it("a sample re-evaluates only the rules on its metric", () => {
    const e = new RuleEngine([
      rule({ name: "a", metric: "x", problem: "last > 0" }),
      rule({ name: "b", metric: "y", problem: "last > 0" }),
    ]);
    const out = e.ingest(sample(0, 1, {}, "x"));
    expect(out.map((t) => t.rule)).toEqual(["a"]);
    expect([...e.instancesOf("b")]).toEqual([]);
    expect(e.ingest(sample(0, 1, {}, "unrelated"))).toEqual([]);
  });
  it("drops a sample older than the series' last one and counts it", () => {
    const e = new RuleEngine([rule({ problem: "last > 0" })]);
    e.ingest(sample(1000, 0));
    expect(e.ingest(sample(500, 1))).toEqual([]);
    expect(e.outOfOrder).toBe(1);
  });
  it("rules sharing a series keep their own windows", () => {
    const e = new RuleEngine([
      rule({ name: "short", problem: "max over 2 samples == 0" }),
      rule({ name: "long", problem: "max over 4 samples == 0" }),
    ]);
    const out = feed(e, seq([1, 1, 1, 1, 0, 0, 0, 0]));
    expect(out.map((t) => `${t.rule}@${t.ts}:${t.state}`)).toEqual([
      "short@1000:ok",
      "long@3000:ok",
      "short@5000:firing",
      "long@7000:firing",
    ]);
  });
});

describe("reload", () => {
  it("carries windows and rule state over by name and labels", () => {
    const r = rule({
      name: "down",
      problem: "max over 3 samples == 0",
      recovery: "min over 3 samples == 1",
      for: "10s",
    });
    const old = new RuleEngine([r]);
    feed(old, seq([1, 1, 1, 0, 0, 0], 1000), { collector: "gw-a" });
    feed(old, seq([0, 0, 0], 1000, 20_000), { collector: "gw-a" });
    expect([...old.instancesOf("down")][0]?.state).toBe("firing");
    // The new config changed the recovery condition; the firing state and the window survive.
    const next = new RuleEngine([{ ...r, recovery: rule({ problem: "min over 2 samples == 1" }).problem }]);
    next.carryOver(old);
    const inst = [...next.instancesOf("down")][0]!;
    expect(inst.state).toBe("firing");
    expect(inst.labels).toEqual({ collector: "gw-a" });
    expect(
      feed(next, seq([1, 1], 1000, 23_000), { collector: "gw-a" }).map((t) => `${t.ts}:${t.state}`),
    ).toEqual(["24000:ok"]);
  });
  it("a reload that turns flap detection off ends flapping", () => {
    const r = rule({ problem: "last > 0", flap: { history: 21, low: 5, high: 20 } });
    const old = new RuleEngine([r]);
    feed(old, seq([1, 0, 1, 0, 1, 0, 1, 0]));
    expect([...old.instancesOf("r")][0]!.state).toBe("flapping");
    const next = new RuleEngine([{ ...r, flap: false }]);
    next.carryOver(old);
    const inst = [...next.instancesOf("r")][0]!;
    expect(inst.health).toBe("healthy"); // last verdict ok, no longer flapping
    expect(next.ingest(sample(9000, 1)).map((t) => t.state)).toEqual(["firing"]);
  });
  it("keeps a pending timer running across the reload", () => {
    const r = rule({ problem: "last > 0", for: "10s" });
    const old = new RuleEngine([r]);
    feed(old, seq([0, 1]));
    const next = new RuleEngine([r]);
    next.carryOver(old);
    expect(next.nextDeadline()).toBe(11_000);
    expect(next.tick(11_000).map((t) => t.state)).toEqual(["firing"]);
  });
});

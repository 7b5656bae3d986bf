import { describe, expect, it } from "vitest";
import type { StandbyEvent } from "../../src/groups/events.js";
import type { GroupSpec } from "../../src/groups/types.js";
import { parseTraceLine, Simulator } from "../../src/simulate.js";
import { field, rule } from "../helpers.js";

const T0 = 1_764_100_000_000;

const rules = ["a", "b"].map((m) =>
  rule({
    name: `gw-${m}-down`,
    metric: "probe.success",
    labels: { collector: `gw-${m}` },
    problem: "max over 3 samples == 0",
    recovery: "min over 10 samples == 1",
    stale_after: "1s",
  }),
);
const uplink: GroupSpec = {
  name: "uplink",
  members: ["a", "b"].map((m, i) => ({
    name: `isp-${m}`,
    priority: 100 - 50 * i,
    health: [{ rule: `gw-${m}-down` }],
    activate: [],
    deactivate: [],
  })),
  failback: { mode: "auto", hold: 30_000, max_hold: 240_000 },
  damping: { max_switches: 4, within: 600_000 },
};

/** 100 ms probes of both gateways; `aDown(ms)` says when gw-a loses its probes. */
function trace(
  seconds: number,
  aDown: (ms: number) => boolean,
  bGapFrom = Number.POSITIVE_INFINITY,
): string[] {
  const lines: string[] = [];
  for (let ms = 0; ms <= seconds * 1000; ms += 100) {
    lines.push(
      JSON.stringify({
        ts: T0 + ms,
        metric: "probe.success",
        labels: { collector: "gw-a" },
        value: aDown(ms) ? 0 : 1,
      }),
    );
    if (ms < bGapFrom)
      lines.push(
        JSON.stringify({ ts: T0 + ms + 3, metric: "probe.success", labels: { collector: "gw-b" }, value: 1 }),
      );
  }
  return lines;
}

function simulate(lines: string[], until?: number): StandbyEvent[] {
  const events: StandbyEvent[] = [];
  const sim = new Simulator(rules, [uplink], (e) => events.push(e));
  for (const l of lines) sim.feed(parseTraceLine(l));
  sim.finish(until);
  return events;
}

const switches = (ev: StandbyEvent[]) =>
  ev
    .filter((e) => ["failover", "failback", "manual_switch"].includes(e.kind))
    .map((e) => `${e.ts - T0}:${e.kind}>${field(e, "to")}`);

describe("simulate", () => {
  it("fails over on the third lost probe and back exactly `hold` after recovery", () => {
    const ev = simulate(trace(60, (ms) => ms >= 10_000 && ms < 20_000));
    // Lost at 10.0, 10.1, 10.2 s → firing at 10.2 s. Answered from 20.0 s; ten in a row at 20.9 s → ok.
    expect(switches(ev)).toEqual(["10200:failover>isp-b", "50900:failback>isp-a"]);
    const fo = ev.find((e) => e.kind === "failover")!;
    expect(fo).toMatchObject({ group: "uplink", from: "isp-a", to: "isp-b", rule: "gw-a-down", value: 0 });
    expect(fo.reason).toContain("gw-a-down firing: max over 3 samples == 0 (value 0)");
  });
  it("a relapse during the hold restarts it", () => {
    const ev = simulate(trace(90, (ms) => (ms >= 10_000 && ms < 20_000) || (ms >= 35_000 && ms < 35_300)));
    // Recovered at 20.9 s, relapsed at 35.2 s, recovered at 36.2 s: failback at 66.2 s.
    expect(switches(ev)).toEqual(["10200:failover>isp-b", "66200:failback>isp-a"]);
  });
  it("missing data makes a member unknown, never a failover target", () => {
    const ev = simulate(trace(20, (ms) => ms >= 10_000, 5000));
    expect(ev.some((e) => e.kind === "health" && e.member === "isp-b" && e.state === "unknown")).toBe(true);
    expect(switches(ev)).toEqual([]);
    expect(ev.find((e) => e.kind === "no_healthy_member")?.ts).toBe(T0 + 10_200);
  });
  it("runs timers past the last sample with `until`", () => {
    const lines = trace(21, (ms) => ms >= 10_000 && ms < 20_000);
    expect(switches(simulate(lines))).toEqual(["10200:failover>isp-b"]);
    // With `until`, the data goes stale (1 s) before the hold ends: no failback onto unknown health.
    const ev = simulate(lines, T0 + 60_000);
    expect(switches(ev)).toEqual(["10200:failover>isp-b"]);
    expect(ev.filter((e) => e.kind === "rule" && e.state === "unknown").map((e) => e.ts - T0)).toEqual([
      22_000, 22_003,
    ]);
  });
  it("missing data ends as unknown every time (samples 0–3.5 s, a gap, samples, silence; until 60 s)", () => {
    const one = [rule({ name: "r", metric: "m", problem: "last > 0", stale_after: "1s" })];
    const events: StandbyEvent[] = [];
    const sim = new Simulator(one, [], (e) => events.push(e));
    const at = (ms: number) =>
      sim.feed(parseTraceLine(JSON.stringify({ ts: T0 + ms, metric: "m", value: 0 })));
    for (let ms = 0; ms <= 3500; ms += 500) at(ms);
    for (let ms = 10_000; ms <= 12_000; ms += 500) at(ms);
    sim.finish(T0 + 60_000);
    expect(events.map((e) => `${e.ts - T0}:${field(e, "state")}`)).toEqual([
      "0:ok",
      "4500:unknown",
      "10000:ok",
      "13000:unknown",
    ]);
  });
  it("takes operator commands from the trace", () => {
    const lines = trace(5, () => false);
    lines.push(JSON.stringify({ ts: T0 + 6000, command: "pin", group: "uplink", member: "isp-b" }));
    const ev = simulate(lines);
    expect(switches(ev)).toEqual(["6000:manual_switch>isp-b"]);
    expect(ev.find((e) => e.kind === "pinned")?.reason).toBe("pinned to isp-b by trace");
  });
  it("honours a pin's `for` from the trace: the pin expires and failback resumes", () => {
    const lines = trace(100, () => false);
    const pin = { ts: T0 + 6000, command: "pin", group: "uplink", member: "isp-b", for: "20s" };
    lines.splice(120, 0, JSON.stringify(pin)); // in time order, at 6 s
    const ev = simulate(lines);
    // The pin ends at 26 s; isp-a, healthy since 0.2 s, completes its 30 s hold at 30.2 s.
    expect(switches(ev)).toEqual(["6000:manual_switch>isp-b", "30200:failback>isp-a"]);
    expect(ev.find((e) => e.kind === "unpinned")).toMatchObject({
      ts: T0 + 26_000,
      reason: "pin to isp-b expired",
    });
  });
  it("refuses a trace that goes back in time", () => {
    const sim = new Simulator(rules, [uplink], () => {});
    sim.feed(parseTraceLine(`{"ts": ${T0 + 10}, "metric": "x", "value": 1}`));
    expect(() => sim.feed(parseTraceLine(`{"ts": ${T0}, "metric": "x", "value": 1}`))).toThrow(
      /not in time order/,
    );
  });
});

describe("trace lines", () => {
  it("accept a state word for the value", () => {
    expect(
      parseTraceLine('{"ts": 1, "metric": "ipmi.psu", "labels": {"component": "PSU1"}, "state": "failed"}'),
    ).toEqual({
      type: "sample",
      sample: { ts: 1, metric: "ipmi.psu", labels: { component: "PSU1" }, value: 2, state: "failed" },
    });
  });
  it.each([
    ["{", /^not valid JSON/],
    ["[1]", /^expected a JSON object$/],
    ['{"metric": "m", "value": 1}', /^expected "ts"/],
    ['{"ts": 1, "value": 1}', /^expected "metric"/],
    ['{"ts": 1, "metric": "m"}', /^expected "value"/],
    ['{"ts": 1, "metric": "m", "value": "1"}', /^expected "value"/],
    ['{"ts": 1, "metric": "m", "value": 1, "labels": {"a": 1}}', /^"labels" must be an object of strings/],
    ['{"ts": 1, "command": "explode", "group": "g"}', /^"command" must be one of/],
    ['{"ts": 1, "command": "pin", "group": "g"}', /^"pin" needs "member"/],
    [
      '{"ts": 1, "metric": "m", "value": 1, "lables": {}}',
      /^unknown key "lables" in a sample; expected ts, metric/,
    ],
    [
      '{"ts": 1, "command": "pin", "group": "g", "member": "b", "fro": "1m"}',
      /^unknown key "fro" in a command/,
    ],
    ['{"ts": 1, "command": "pin", "group": "g", "member": "b", "for": "soon"}', /^"for" must be a duration/],
    ['{"ts": 1, "command": "unpin", "group": "g", "for": "1m"}', /^"for"\/"until" apply to pin and failover/],
  ])("reject %s", (line, msg) => {
    expect(() => parseTraceLine(line)).toThrow(msg);
  });
});

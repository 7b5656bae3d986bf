import { describe, expect, it } from "vitest";
import type { CollectorSpec } from "../../../src/config/schema.js";
import { withDefaultStaleness } from "../../../src/config/staleness.js";
import { rule } from "../../helpers.js";

const collectors = [
  { name: "gw-a", type: "probe", interval: 100, timeout: 90, probe: { kind: "icmp", target: "10.0.0.1" } },
  { name: "local", type: "os", interval: 5000, timeout: 5000 },
] as unknown as CollectorSpec[];

describe("default stale_after", () => {
  it("is three intervals of the named collector, at least 2 s; else three of the longest; own values stay", () => {
    const rules = withDefaultStaleness(
      [
        rule({ name: "probe", labels: { collector: "gw-a" }, problem: "last == 0" }),
        rule({ name: "os", labels: { collector: "local" }, problem: "last == 0" }),
        rule({ name: "any", labels: { device: "eth0" }, problem: "last == 0" }),
        rule({ name: "glob", labels: { collector: "gw-*" }, problem: "last == 0" }),
        rule({ name: "own", labels: { collector: "local" }, problem: "last == 0", stale_after: "1m" }),
      ],
      collectors,
    );
    expect(rules.map((r) => [r.name, r.stale_after])).toEqual([
      ["probe", 2000],
      ["os", 15_000],
      ["any", 15_000],
      ["glob", 15_000],
      ["own", 60_000],
    ]);
  });
  it("changes nothing without collectors", () => {
    const r = rule({ problem: "last == 0" });
    expect(withDefaultStaleness([r], [])).toEqual([r]);
  });
});

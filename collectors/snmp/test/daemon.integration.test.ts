/**
 * The acceptance path end to end: a daemon whose snmp collector polls a real snmpd every 500 ms, a group of two
 * uplinks judged on `snmp.if.oper_status` of ifIndex 1 and 2 (exec actions append to a file), and a PSU group.
 * Interface 1 down at runtime → failover to isp-b; up again → failback after `hold` (2 s); PSU 2 critical → the
 * rule fires and redundancy_lost; the agent stopped → members unknown, no switch.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigText } from "../../../src/config/load.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import type { EventOf, StandbyEvent } from "../../../src/groups/events.js";
import { field, quietLog } from "../../../test/helpers.js";
import { failInCiWhenMissing } from "../../../test/peers/ci.js";
import { until } from "../../../test/peers/common.js";
import { COMMUNITY, Snmpd, snmpdMissing } from "../../../test/peers/snmpd.js";

const missing = snmpdMissing();
failInCiWhenMissing("daemon with an snmp collector against snmpd", missing);

const agent = new Snmpd();
const dir = mkdtempSync(join(tmpdir(), "sb-snmp-d-"));

describe.skipIf(missing !== undefined)("daemon with an snmp collector against snmpd", () => {
  beforeAll(() => agent.start(), 20_000);
  afterAll(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uplink down → failover, up → failback after hold; PSU critical → rule fires; agent gone → unknown", async () => {
    const log = join(dir, "actions.log");
    writeFileSync(log, "");
    const exec = (what: string) => `[{exec: {argv: [sh, -c, "echo ${what} >> ${log}"]}}]`;
    const yaml = `host: h
state_dir: ${join(dir, "state")}
rules: [rules.yaml]
collectors:
  - name: router
    type: snmp
    interval: 500ms
    target: {host: 127.0.0.1, port: ${agent.port}, community: ${COMMUNITY}, timeout: 200ms, retries: 0}
    profiles: [if, cisco-envmon]
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [{rule: uplink-down, labels: {ifIndex: "1"}}], activate: ${exec("isp-a")}}
      - {name: isp-b, priority: 50, health: [{rule: uplink-down, labels: {ifIndex: "2"}}], activate: ${exec("isp-b")}}
    failback: {mode: auto, hold: 2s}
  - name: power
    members:
      - {name: psu1, priority: 100, health: [{rule: psu-failed, labels: {index: "1"}}]}
      - {name: psu2, priority: 50, health: [{rule: psu-failed, labels: {index: "2"}}]}
    min_healthy: 2
`;
    writeFileSync(join(dir, "standby.yaml"), yaml);
    writeFileSync(
      join(dir, "rules.yaml"),
      `rules:
  - {name: uplink-down, metric: snmp.if.oper_status, labels: {collector: router}, problem: "in [failed, absent]"}
  - {name: psu-failed, metric: snmp.psu, labels: {collector: router}, problem: "in [failed, absent]"}
`,
    );
    const r = await loadConfigText(yaml, join(dir, "standby.yaml"), { asRoot: false });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.warnings ?? []).toEqual([]);
    const events: StandbyEvent[] = [];
    const d = new Daemon({
      config: r.config,
      log: quietLog,
      onEvent: (e) => events.push(e),
      reassertEvery: 0,
    });
    await d.start();
    const ruleState = (rule: string, labels: Record<string, string>) =>
      events
        .filter((e): e is EventOf<"rule"> => e.kind === "rule" && e.rule === rule)
        .filter((e) => Object.entries(labels).every(([k, v]) => e.labels?.[k] === v))
        .at(-1)?.state;
    const health = (member: string) =>
      events.filter((e): e is EventOf<"health"> => e.kind === "health" && e.member === member).at(-1)?.state;
    const active = (g: string) => d.status().groups.find((x) => x.name === g)?.active;
    const after = (kind: string, mark: number) => events.slice(mark).find((e) => e.kind === kind);
    try {
      await until(
        () =>
          ruleState("uplink-down", { ifIndex: "2" }) === "ok" &&
          ruleState("psu-failed", { index: "2" }) === "ok",
        10_000,
        "the first poll",
      );
      expect(active("uplink")).toBe("isp-a");

      // Interface 1 goes down: failover to isp-b within about a poll.
      let mark = events.length;
      agent.update((s) => {
        s.if[0]!.oper = 2;
      });
      const tookDown = await until(() => after("failover", mark) !== undefined, 5000, "failover");
      expect(tookDown).toBeLessThan(2000);
      expect(after("failover", mark)).toMatchObject({ group: "uplink", from: "isp-a", to: "isp-b" });
      await until(() => readFileSync(log, "utf8").includes("isp-b"), 5000, "isp-b's action");

      // Back up: failback only after the 2 s hold.
      mark = events.length;
      const t0 = Date.now();
      agent.update((s) => {
        s.if[0]!.oper = 1;
      });
      await until(() => after("failback", mark) !== undefined, 8000, "failback");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
      expect(after("failback", mark)).toMatchObject({ group: "uplink", from: "isp-b", to: "isp-a" });
      await until(
        () => readFileSync(log, "utf8").trim().split("\n").at(-1) === "isp-a",
        5000,
        "isp-a's action",
      );

      // PSU 2 critical: the rule fires, redundancy is lost.
      mark = events.length;
      agent.update((s) => {
        s.psu![1]!.state = 3;
      });
      await until(() => after("redundancy_lost", mark) !== undefined, 5000, "redundancy_lost");
      expect(ruleState("psu-failed", { index: "2" })).toBe("firing");
      expect(ruleState("psu-failed", { index: "1" })).toBe("ok");
      agent.update((s) => {
        s.psu![1]!.state = 1;
      });
      await until(() => ruleState("psu-failed", { index: "2" }) === "ok", 5000, "PSU 2 ok");

      // The agent goes away: every member unknown within about a poll, and no switch from stale data.
      mark = events.length;
      await agent.stop();
      await until(
        () => ["isp-a", "isp-b", "psu1", "psu2"].every((m) => health(m) === "unknown"),
        5000,
        "members unknown",
      );
      const failing = events.slice(mark).find((e) => e.kind === "collector");
      expect(failing).toMatchObject({
        collector: "router",
        target: `127.0.0.1:${agent.port}`,
        state: "failing",
      });
      expect(JSON.stringify(failing)).toContain("no answer");
      expect(JSON.stringify(failing)).not.toContain(COMMUNITY);
      await new Promise((res) => setTimeout(res, 1500));
      expect(events.slice(mark).some((e) => e.kind === "failover" || e.kind === "failback")).toBe(false);
      expect(active("uplink")).toBe("isp-a");

      // Back: healthy again.
      await agent.start();
      await until(
        () => health("isp-a") === "healthy" && health("isp-b") === "healthy",
        5000,
        "healthy again",
      );
      await until(() => events.filter((e) => e.kind === "collector").length === 2, 5000, "collector ok");
      expect(events.filter((e) => e.kind === "collector").map((e) => field(e, "state"))).toEqual([
        "failing",
        "ok",
      ]);
    } finally {
      await d.stop();
    }
  }, 60_000);
});

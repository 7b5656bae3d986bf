/**
 * Acceptance: a trap fails the group over before the next poll would have. A daemon polls a real snmpd every
 * 30 s (`snmp`, profile `if`) and receives its traps (`snmp_trap`); the uplink group's members are judged on
 * `snmp.if.oper_status` of ifIndex 1 and 2. A `snmptrap` linkDown for ifIndex 1 → the rule fires on the trap's
 * sample (the poll's own series) → failover, within a second; the next poll confirms. linkUp → failback after
 * hold. The agent stopped → no switch caused by stale data.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigText } from "../../src/config/load.js";
import { Daemon } from "../../src/daemon/daemon.js";
import type { EventOf, StandbyEvent } from "../../src/groups/events.js";
import { quietLog } from "../helpers.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { until } from "../peers/common.js";
import { COMMUNITY, freeUdpPort, Snmpd, sendTrapV2c, snmpdMissing } from "../peers/snmpd.js";

const missing = snmpdMissing();
failInCiWhenMissing("a trap fails over before the next poll", missing);

const agent = new Snmpd();
const dir = mkdtempSync(join(tmpdir(), "sb-snmp-trap-"));
const LINK_DOWN = "1.3.6.1.6.3.1.1.5.3";
const LINK_UP = "1.3.6.1.6.3.1.1.5.4";
const ifVarbinds = (index: number, oper: number) => [
  `1.3.6.1.2.1.2.2.1.1.${index}`,
  "i",
  String(index),
  `1.3.6.1.2.1.2.2.1.8.${index}`,
  "i",
  String(oper),
];

describe.skipIf(missing !== undefined)("a trap fails over before the next poll", () => {
  beforeAll(() => agent.start(), 20_000);
  afterAll(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("linkDown → failover at once (poll interval 30 s); linkUp → failback after hold; agent gone → no switch", async () => {
    const trapPort = await freeUdpPort();
    const exec = (what: string) =>
      `[{exec: {argv: [sh, -c, "echo ${what} >> ${join(dir, "actions.log")}"]}}]`;
    const text = `host: h
state_dir: ${join(dir, "state")}
rules: [rules.yaml]
collectors:
  - name: router
    type: snmp
    interval: 30s
    target: {host: 127.0.0.1, port: ${agent.port}, community: ${COMMUNITY}, timeout: 300ms, retries: 0}
    profiles: [if]
  - {name: traps, type: snmp_trap, listen: "udp:127.0.0.1:${trapPort}", community: ${COMMUNITY}}
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [isp-a-down], activate: ${exec("a")}}
      - {name: isp-b, priority: 50, health: [isp-b-down], activate: ${exec("b")}}
    failback: {mode: auto, hold: 1s}
`;
    writeFileSync(
      join(dir, "rules.yaml"),
      `rules:
  - {name: isp-a-down, metric: snmp.if.oper_status, labels: {collector: router, ifIndex: "1"}, problem: "== failed", stale_after: 2m}
  - {name: isp-b-down, metric: snmp.if.oper_status, labels: {collector: router, ifIndex: "2"}, problem: "== failed", stale_after: 2m}
`,
    );
    const r = await loadConfigText(text, join(dir, "standby.yaml"), { asRoot: false });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const events: StandbyEvent[] = [];
    const d = new Daemon({
      config: r.config,
      log: quietLog,
      onEvent: (e) => events.push(e),
      reassertEvery: 0,
    });
    await d.start();
    const rules = (name: string) =>
      events.filter((e): e is EventOf<"rule"> => e.kind === "rule" && e.rule === name);
    try {
      // The first poll (spread over the first 10 s of the 30 s interval) settles both members.
      await until(
        () => rules("isp-a-down").length > 0 && rules("isp-b-down").length > 0,
        15_000,
        "the first poll",
      );
      expect(rules("isp-a-down").at(-1)?.state).toBe("ok");
      const mark = events.length;

      // Interface 1 goes down on the agent, and the agent says so with a trap.
      agent.update((s) => {
        s.if[0]!.oper = 2;
      });
      const sent = performance.now();
      sendTrapV2c(`127.0.0.1:${trapPort}`, COMMUNITY, LINK_DOWN, ifVarbinds(1, 2));
      const took = await until(() => events.slice(mark).some((e) => e.kind === "failover"), 5000, "failover");
      const trapToSwitchMs = performance.now() - sent;
      console.log(`trap → failover event: ${trapToSwitchMs.toFixed(1)} ms (poll interval 30 s)`);
      expect(took).toBeLessThan(2000);
      const after = events.slice(mark).map((e) => (e.kind === "rule" ? `rule:${e.rule}:${e.state}` : e.kind));
      expect(after.slice(0, 3)).toEqual(["rule:isp-a-down:firing", "health", "failover"]);
      const failover = events.slice(mark).find((e): e is EventOf<"failover"> => e.kind === "failover")!;
      expect(failover).toMatchObject({ group: "uplink", from: "isp-a", to: "isp-b" });
      expect(failover.reason).toContain("isp-a-down");

      // linkUp: the rule clears on the trap, and the group fails back after the 1 s hold.
      const up = events.length;
      agent.update((s) => {
        s.if[0]!.oper = 1;
      });
      sendTrapV2c(`127.0.0.1:${trapPort}`, COMMUNITY, LINK_UP, ifVarbinds(1, 1));
      const back = await until(() => events.slice(up).some((e) => e.kind === "failback"), 5000, "failback");
      expect(back).toBeGreaterThanOrEqual(900);
      expect(d.status().groups.find((g) => g.name === "uplink")?.active).toBe("isp-a");

      // The agent goes away: no trap, no poll answer; nothing switches on stale data.
      const gone = events.length;
      await agent.stop();
      await new Promise((res) => setTimeout(res, 1500));
      expect(events.slice(gone).some((e) => ["failover", "failback", "manual_switch"].includes(e.kind))).toBe(
        false,
      );
    } finally {
      await d.stop();
      await agent.start();
    }
  }, 60_000);
});

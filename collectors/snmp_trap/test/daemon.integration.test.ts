/**
 * A trap through the whole daemon: a receiver in standby.yaml, an agent "polled" at 127.0.0.1 (a fake polling
 * collector registered in src/snmp/registry.ts, as the snmp collector does), a rule per uplink interface. A
 * linkDown for the active uplink fires its rule and fails the group over at once; linkUp brings it back after
 * `hold`. (The acceptance test with a real snmpd and the snmp collector polling it belongs with that collector.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatStatus } from "../../../src/cli/commands/control.js";
import { labelsOf } from "../../../src/collector.js";
import { loadConfigText } from "../../../src/config/load.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import type { Labels } from "../../../src/engine/types.js";
import type { EventOf, StandbyEvent } from "../../../src/groups/events.js";
import { registerAgent } from "../../../src/snmp/registry.js";
import { quietLog } from "../../../test/helpers.js";
import { freeUdpPort } from "../../../test/peers/snmpd.js";
import { ifIndex, LINK_DOWN, LINK_UP, trapToolsMissing, trapV2c } from "./senders.js";

const missing = trapToolsMissing();
const dir = mkdtempSync(join(tmpdir(), "sb-trap-d-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(missing !== undefined)("daemon with an snmp_trap receiver", () => {
  it("linkDown of the active uplink fails over at once; linkUp fails back after hold", async () => {
    const port = await freeUdpPort();
    const base = labelsOf({ host: "h", collector: "core-router", target: "127.0.0.1:16161" });
    const series: Record<string, Labels> = {
      "1": labelsOf(base, { ifIndex: "1", ifName: "Gi0/1", ifDescr: "GigabitEthernet0/1" }),
      "2": labelsOf(base, { ifIndex: "2", ifName: "Gi0/2", ifDescr: "GigabitEthernet0/2" }),
    };
    const unregister = registerAgent("127.0.0.1", {
      collector: "core-router",
      target: "127.0.0.1:16161",
      labels: (metric, index) => (metric === "snmp.if.oper_status" ? series[index] : undefined),
    });
    writeFileSync(
      join(dir, "standby.yaml"),
      `host: h
state_dir: ${join(dir, "state")}
rules: [rules.yaml]
collectors:
  - {name: traps, type: snmp_trap, listen: "udp:127.0.0.1:${port}", community: trapsecret}
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [{rule: uplink-down, labels: {ifName: Gi0/1}}]}
      - {name: isp-b, priority: 50, health: [{rule: uplink-down, labels: {ifName: Gi0/2}}]}
    failback: {mode: auto, hold: 300ms}
`,
    );
    writeFileSync(
      join(dir, "rules.yaml"),
      `rules:
  - {name: uplink-down, metric: snmp.if.oper_status, problem: "in [failed, absent]"}
`,
    );
    const loaded = await loadConfigText(
      readFileSync(join(dir, "standby.yaml"), "utf8"),
      join(dir, "standby.yaml"),
      { asRoot: false },
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const events: StandbyEvent[] = [];
    const d = new Daemon({
      config: loaded.config,
      log: quietLog,
      onEvent: (e) => events.push(e),
      reassertEvery: 0,
    });
    await d.start();
    const health = (m: string) =>
      events.filter((e): e is EventOf<"health"> => e.kind === "health" && e.member === m).at(-1)?.state;
    const to = `127.0.0.1:${port}`;
    try {
      // What a first poll would have said: both uplinks up.
      const send = async (trap: string, i: number) => trapV2c(to, "trapsecret", trap, ifIndex(i));
      // (again until they count: the receiver binds its port asynchronously after the daemon started)
      const healthy = () => health("isp-a") === "healthy" && health("isp-b") === "healthy";
      for (let i = 0; i < 20 && !healthy(); i++) {
        await send(LINK_UP, 1);
        await send(LINK_UP, 2);
        await new Promise((res) => setTimeout(res, 100));
      }
      await until(healthy, 1000, "both uplinks healthy");
      const mark = events.length;
      await send(LINK_DOWN, 1);
      await until(() => events.slice(mark).some((e) => e.kind === "failover"), 2000, "failover");
      const after = events.slice(mark).map((e) => e.kind);
      expect(after.indexOf("rule")).toBeLessThan(after.indexOf("health"));
      expect(after.indexOf("health")).toBeLessThan(after.indexOf("failover"));
      expect(events.slice(mark).find((e) => e.kind === "failover")).toMatchObject({
        from: "isp-a",
        to: "isp-b",
      });

      const back = events.length;
      await send(LINK_UP, 1);
      await until(() => events.slice(back).some((e) => e.kind === "failback"), 3000, "failback after hold");
      expect(d.status().groups.find((g) => g.name === "uplink")?.active).toBe("isp-a");
      // The receiver's counters are in `standby status`.
      const traps = d.status().collectors.find((c) => c.kind === "stream" && c.counters);
      expect(traps?.counters).toMatchObject({ accepted: expect.any(Number), malformed: 0 });
      expect(traps!.counters!.accepted).toBeGreaterThanOrEqual(2);
      expect(formatStatus(d.status()).join("\n")).toMatch(/^collector \S+: received \d+, accepted \d+,/m);
    } finally {
      await d.stop();
      unregister();
    }
  }, 20_000);
});

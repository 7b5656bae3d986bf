/**
 * The acceptance path end to end: a daemon whose ipmi collector polls a real BMC (ipmi_sim over lanplus), rules
 * on its PSUs, and a group of the two supplies with min_healthy 2. PSU 2 fails at runtime → the psu and redundancy
 * rules fire and `redundancy_lost` is raised; restored → they recover; the BMC stops → both members unknown.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigText } from "../../../src/config/load.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import type { EventOf, StandbyEvent } from "../../../src/groups/events.js";
import { quietLog } from "../../../test/helpers.js";
import { failInCiWhenMissing } from "../../../test/peers/ci.js";
import { until } from "../../../test/peers/common.js";
import { IpmiSim, PASSWORD, simMissing, USER } from "./sim.js";

const missing = simMissing();
failInCiWhenMissing("daemon with an ipmi collector against ipmi_sim", missing);

const sim = new IpmiSim();
const dir = mkdtempSync(join(tmpdir(), "sb-ipmi-d-"));

describe.skipIf(missing !== undefined)("daemon with an ipmi collector against ipmi_sim", () => {
  beforeAll(() => sim.start(), 20_000);
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("PSU 2 fails: rules fire, redundancy_lost; restored: recovery; BMC stopped: members unknown", async () => {
    writeFileSync(join(dir, "bmc.pass"), `${PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, "standby.yaml"),
      `host: h
state_dir: ${join(dir, "state")}
rules: [rules.yaml]
collectors:
  - name: bmc
    type: ipmi
    interval: 1s
    timeout: 2500ms
    target: {host: 127.0.0.1, port: ${sim.port}, user: ${USER}, password: {file: bmc.pass}, cipher_suite: 3}
groups:
  - name: power
    members:
      - {name: psu1, priority: 100, health: [{rule: psu-failed, labels: {sensor: PSU1 Status}}]}
      - {name: psu2, priority: 50, health: [{rule: psu-failed, labels: {sensor: PSU2 Status}}]}
    min_healthy: 2
`,
    );
    writeFileSync(
      join(dir, "rules.yaml"),
      `rules:
  - {name: psu-failed, metric: ipmi.sensor, labels: {kind: psu}, problem: "in [failed, absent]"}
  - {name: psu-redundancy-lost, metric: ipmi.sensor, labels: {kind: redundancy}, problem: "in [failed, warning]"}
  - {name: temperature-critical, metric: ipmi.sensor, labels: {kind: temperature}, problem: "== failed"}
`,
    );
    const r = await loadConfigText(
      readFileSync(join(dir, "standby.yaml"), "utf8"),
      join(dir, "standby.yaml"),
      {
        asRoot: false,
      },
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const events: StandbyEvent[] = [];
    const d = new Daemon({
      config: r.config,
      log: quietLog,
      onEvent: (e) => events.push(e),
      reassertEvery: 0,
    });
    await d.start();
    const ruleState = (rule: string, sensor?: string) =>
      events
        .filter((e): e is EventOf<"rule"> => e.kind === "rule")
        .filter((e) => e.rule === rule && (sensor === undefined || e.labels?.sensor === sensor))
        .at(-1)?.state;
    const health = (member: string) =>
      events
        .filter((e): e is EventOf<"health"> => e.kind === "health")
        .filter((e) => e.member === member)
        .at(-1)?.state;
    const has = (kind: string, after = 0) => events.slice(after).some((e) => e.kind === kind);
    try {
      await until(
        () => ruleState("psu-failed", "PSU2 Status") === "ok" && ruleState("psu-redundancy-lost") === "ok",
        10_000,
        "the first poll",
      );
      const mark = events.length;
      await sim.failPsu2();
      await until(() => has("redundancy_lost", mark), 5000, "redundancy_lost");
      expect(ruleState("psu-failed", "PSU2 Status")).toBe("firing");
      expect(ruleState("psu-redundancy-lost")).toBe("firing");
      expect(ruleState("psu-failed", "PSU1 Status")).toBe("ok");
      const lost = events.slice(mark).find((e) => e.kind === "redundancy_lost")!;
      expect(lost).toMatchObject({ group: "power" });
      expect(JSON.stringify(lost)).toContain("psu2");

      const back = events.length;
      await sim.restorePsu2();
      await until(() => has("redundancy_restored", back), 5000, "redundancy_restored");
      expect(ruleState("psu-failed", "PSU2 Status")).toBe("ok");
      expect(ruleState("psu-redundancy-lost")).toBe("ok");

      // The BMC goes away: within one poll's timeout (plus the poll that was running) both members are unknown.
      await sim.stop();
      const took = await until(
        () => health("psu1") === "unknown" && health("psu2") === "unknown",
        10_000,
        "both members unknown",
      );
      expect(took).toBeLessThan(1000 + 2500 + 1000);
      // The sim's disabled sensors (Inlet Temp "Disabled", Exhaust Temp "No Reading") only ever say unknown: they
      // are not judged at all — no instance, no unknown health, no churn of forgotten instances.
      const temps = events.filter(
        (e): e is EventOf<"rule"> => e.kind === "rule" && e.rule === "temperature-critical",
      );
      expect(temps.map((e) => e.labels?.sensor)).not.toContain("Inlet Temp");
      expect(temps.map((e) => e.labels?.sensor)).toContain("CPU Temp");
      expect(events.some((e) => e.kind === "rule" && e.state === "forgotten")).toBe(false);
      expect(d.status().groups.find((g) => g.name === "power")?.active).toBe("psu1");
      // The BMC's outage is an event of its own, naming the BMC, once.
      await until(() => events.some((e) => e.kind === "collector"), 5000, "a collector event");
      const outage = events.filter((e): e is EventOf<"collector"> => e.kind === "collector");
      expect(outage).toHaveLength(1);
      expect(outage[0]).toMatchObject({
        collector: "bmc",
        target: `127.0.0.1:${sim.port}`,
        state: "failing",
      });
      expect(outage[0]!.reason).toMatch(new RegExp(`^bmc: 127\\.0\\.0\\.1:${sim.port}: .*sdr`));
      expect(JSON.stringify(outage)).not.toContain(PASSWORD);
    } finally {
      await d.stop();
      await sim.start();
    }
  }, 40_000);
});

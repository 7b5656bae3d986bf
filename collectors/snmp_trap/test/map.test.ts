import { describe, expect, it } from "vitest";
import { labelsOf } from "../../../src/collector.js";
import type { Labels } from "../../../src/engine/types.js";
import type { PolledAgent } from "../../../src/snmp/registry.js";
import { ENVMON_STATES, IF_OPER_STATES, OID, readTrap, samplesOf, trapOf, v1TrapOid } from "../map.js";

const vb = (oid: string, value: unknown) => ({ oid, value });
const linkDown = (...varbinds: { oid: string; value: unknown }[]) => ({ trapOid: OID.linkDown, varbinds });

describe("v1 traps in v2 terms (RFC 3584)", () => {
  it("generic 0-5 are snmpTraps.(generic+1); 6 is enterprise.0.specific", () => {
    expect(v1TrapOid("1.3.6.1.4.1.8072", 2, 0)).toBe(OID.linkDown);
    expect(v1TrapOid("1.3.6.1.4.1.8072", 3, 0)).toBe(OID.linkUp);
    expect(v1TrapOid("1.3.6.1.4.1.9.9.13.3", 6, 5)).toBe("1.3.6.1.4.1.9.9.13.3.0.5");
  });

  it("a v2 PDU's trap OID is its snmpTrapOID varbind; sysUpTime and snmpTrapOID are not data", () => {
    const t = trapOf({
      varbinds: [vb(OID.sysUpTime, 100), vb(OID.snmpTrapOID, OID.linkUp), vb(`${OID.ifIndex}.2`, 2)],
    });
    expect(t).toEqual({ trapOid: OID.linkUp, varbinds: [vb(`${OID.ifIndex}.2`, 2)] });
    expect(
      trapOf({ enterprise: "1.3.6.1.4.1.9.9.13.3", generic: 6, specific: 4, varbinds: [] }).trapOid,
    ).toBe("1.3.6.1.4.1.9.9.13.3.0.4");
    expect(trapOf({}).trapOid).toBe("");
  });
});

describe("readTrap", () => {
  it("linkDown/linkUp say failed/ok for their ifIndex; an ifOperStatus varbind says better", () => {
    expect(readTrap(linkDown(vb(`${OID.ifIndex}.2`, 2)))).toEqual([
      { metric: "snmp.if.oper_status", index: "2", state: "failed" },
    ]);
    expect(readTrap({ trapOid: OID.linkUp, varbinds: [vb(`${OID.ifIndex}.7`, 7)] })).toEqual([
      { metric: "snmp.if.oper_status", index: "7", state: "ok" },
    ]);
    expect(
      readTrap(
        linkDown(vb(`${OID.ifIndex}.2`, 2), vb(`${OID.ifOperStatus}.2`, 7), vb(`${OID.ifAdminStatus}.2`, 2)),
      ),
    ).toEqual([
      { metric: "snmp.if.oper_status", index: "2", state: "failed" },
      { metric: "snmp.if.admin_status", index: "2", value: 2 },
    ]);
    expect(readTrap(linkDown(vb(`${OID.ifIndex}.2`, 2), vb(`${OID.ifOperStatus}.2`, 5)))).toEqual([
      { metric: "snmp.if.oper_status", index: "2", state: "warning" },
    ]);
  });

  it("an ifIndex varbind without an instance names the interface by its value", () => {
    expect(readTrap(linkDown(vb(OID.ifIndex, 4)))).toEqual([
      { metric: "snmp.if.oper_status", index: "4", state: "failed" },
    ]);
  });

  it("maps every IF-MIB and CISCO-ENVMON state as the contract says", () => {
    expect(IF_OPER_STATES).toEqual({
      1: "ok",
      2: "failed",
      3: "warning",
      4: "unknown",
      5: "warning",
      6: "absent",
      7: "failed",
    });
    expect(ENVMON_STATES).toEqual({
      1: "ok",
      2: "warning",
      3: "failed",
      4: "failed",
      5: "absent",
      6: "failed",
    });
    const state = (oid: string, n: number) =>
      (readTrap({ trapOid: "1.2.3", varbinds: [vb(oid, n)] })[0] as { state: string }).state;
    expect(state(`${OID.ifOperStatus}.1`, 99)).toBe("unknown");
    expect(state(`${OID.supplyState}.1`, 3)).toBe("failed");
    expect(state(`${OID.supplyState}.1`, 5)).toBe("absent");
    expect(state(`${OID.fanState}.2`, 2)).toBe("warning");
    // ENTITY-SENSOR-MIB entPhySensorOperStatus: ok, unavailable, nonoperational (entSensorThresholdNotification).
    expect(
      readTrap({ trapOid: "1.3.6.1.2.1.99.2.0.1", varbinds: [vb(`${OID.sensorStatus}.1001`, 3)] }),
    ).toEqual([{ metric: "snmp.sensor.status", index: "1001", state: "failed" }]);
    expect(state(`${OID.sensorStatus}.7`, 2)).toBe("unknown");
    expect(state(`${OID.sensorStatus}.7`, 1)).toBe("ok");
  });

  it("reads a varbind whatever trap carries it; ignores what is not an INTEGER or not a row", () => {
    const r = readTrap({
      trapOid: "1.3.6.1.4.1.9.9.13.3.0.6", // ciscoEnvMonRedundantSupplyNotification
      varbinds: [
        vb("1.3.6.1.4.1.9.9.13.1.5.1.2.1", Buffer.from("Power Supply 1")),
        vb(`${OID.supplyState}.1`, 4),
        vb(`${OID.supplyState}.2`, Buffer.from("x")),
        vb(`${OID.supplyState}.2.9`, 1),
        vb(OID.supplyState, 1),
      ],
    });
    expect(r).toEqual([{ metric: "snmp.psu", index: "1", state: "failed" }]);
  });

  it("says nothing for traps it does not map (coldStart) and for a linkUp with no ifIndex", () => {
    expect(readTrap({ trapOid: "1.3.6.1.6.3.1.1.5.1", varbinds: [] })).toEqual([]);
    expect(
      readTrap({ trapOid: OID.linkUp, varbinds: [vb("1.3.6.1.2.1.2.2.1.2.2", Buffer.from("eth0"))] }),
    ).toEqual([]);
  });

  it("one reading per row: the last varbind wins", () => {
    expect(readTrap(linkDown(vb(`${OID.ifOperStatus}.2`, 2), vb(`${OID.ifOperStatus}.2`, 1)))).toEqual([
      { metric: "snmp.if.oper_status", index: "2", state: "ok" },
    ]);
  });
});

describe("samplesOf", () => {
  const base = labelsOf({ host: "h", collector: "r1", target: "192.0.2.1:161" });
  const if2 = labelsOf(base, { ifIndex: "2", ifName: "Gi0/2", ifDescr: "GigabitEthernet0/2" });
  const agent = (collector: string, series: Record<string, Labels>): PolledAgent => ({
    collector,
    target: "192.0.2.1:161",
    labels: (m, i) => series[`${m} ${i}`],
  });

  it("uses the agent's own label objects and the receipt time", () => {
    const { samples, missing } = samplesOf(
      [
        { metric: "snmp.if.oper_status", index: "2", state: "failed" },
        { metric: "snmp.if.admin_status", index: "2", value: 1 },
      ],
      [agent("r1", { "snmp.if.oper_status 2": if2, "snmp.if.admin_status 2": if2 })],
      42,
    );
    expect(missing).toBe(0);
    expect(samples).toEqual([
      { metric: "snmp.if.oper_status", labels: if2, value: 2, state: "failed", ts: 42 },
      { metric: "snmp.if.admin_status", labels: if2, value: 1, ts: 42 },
    ]);
    expect(samples[0]!.labels).toBe(if2);
  });

  it("one sample per agent polling the source; a reading no agent reports is missing", () => {
    const other = labelsOf({
      host: "h",
      collector: "r1-env",
      target: "192.0.2.1:161",
      index: "1",
      descr: "PS1",
    });
    const { samples, missing } = samplesOf(
      [
        { metric: "snmp.if.oper_status", index: "2", state: "ok" },
        { metric: "snmp.psu", index: "1", state: "absent" },
        { metric: "snmp.fan", index: "1", state: "ok" },
      ],
      [agent("r1", { "snmp.if.oper_status 2": if2 }), agent("r1-env", { "snmp.psu 1": other })],
      7,
    );
    expect(samples.map((s) => [s.metric, s.labels])).toEqual([
      ["snmp.if.oper_status", if2],
      ["snmp.psu", other],
    ]);
    expect(missing).toBe(1);
  });
});

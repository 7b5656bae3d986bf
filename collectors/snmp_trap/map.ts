/**
 * What a trap says, in the poll's terms (pure): a decoded trap (v1 normalised to its v2 trap OID, RFC 3584) →
 * readings of `snmp.if.oper_status`, `snmp.if.admin_status`, `snmp.psu`, `snmp.fan`, `snmp.sensor.status` by table
 * index; and
 * readings → samples with the label objects of the agents that poll the trap's source.
 *
 * A varbind is the value of an object instance when the trap was sent, so it is read whatever the trap is
 * (ifOperStatus.N in a vendor's own link trap counts too); linkDown/linkUp without an ifOperStatus varbind say
 * down/up for the ifIndex they carry.
 */
import { stateSample } from "../../src/collector.js";
import type { Sample } from "../../src/engine/types.js";
import type { PolledAgent } from "../../src/snmp/registry.js";
import type { ComponentState } from "../../src/states.js";
import { SENSOR_STATES } from "../snmp/profiles/entity-sensor.js";

export const OID = {
  sysUpTime: "1.3.6.1.2.1.1.3.0",
  snmpTrapOID: "1.3.6.1.6.3.1.1.4.1.0",
  /** snmpTraps: coldStart .1 … linkDown .3, linkUp .4 … (v1 generic-trap + 1). */
  snmpTraps: "1.3.6.1.6.3.1.1.5",
  linkDown: "1.3.6.1.6.3.1.1.5.3",
  linkUp: "1.3.6.1.6.3.1.1.5.4",
  ifIndex: "1.3.6.1.2.1.2.2.1.1",
  ifAdminStatus: "1.3.6.1.2.1.2.2.1.7",
  ifOperStatus: "1.3.6.1.2.1.2.2.1.8",
  /** CISCO-ENVMON-MIB ciscoEnvMonSupplyState / ciscoEnvMonFanState (notifications .3.0.5 / .3.0.4). */
  supplyState: "1.3.6.1.4.1.9.9.13.1.5.1.3",
  fanState: "1.3.6.1.4.1.9.9.13.1.4.1.3",
  /** ENTITY-SENSOR-MIB entPhySensorOperStatus (in entSensorThresholdNotification and vendors' sensor traps). */
  sensorStatus: "1.3.6.1.2.1.99.1.1.1.5",
} as const;

/** IF-MIB ifOperStatus → the contract's words. */
export const IF_OPER_STATES: Readonly<Record<number, ComponentState>> = {
  1: "ok", // up
  2: "failed", // down
  3: "warning", // testing
  4: "unknown", // unknown
  5: "warning", // dormant
  6: "absent", // notPresent
  7: "failed", // lowerLayerDown
};

/** CISCO-ENVMON-MIB CiscoEnvMonState → the contract's words. */
export const ENVMON_STATES: Readonly<Record<number, ComponentState>> = {
  1: "ok", // normal
  2: "warning", // warning
  3: "failed", // critical
  4: "failed", // shutdown
  5: "absent", // notPresent
  6: "failed", // notFunctioning
};

export interface TrapVarbind {
  readonly oid: string;
  readonly value: unknown;
}

/** A trap or inform as the receiver accepted it. */
export interface Trap {
  /** snmpTrapOID (v1: RFC 3584's translation of generic/specific). */
  readonly trapOid: string;
  /** The varbinds after sysUpTime and snmpTrapOID. */
  readonly varbinds: readonly TrapVarbind[];
}

/** A v1 trap's v2 trap OID: generic 0–5 are snmpTraps.(generic+1); 6 is enterprise.0.specific. */
export function v1TrapOid(enterprise: string, generic: number, specific: number): string {
  return generic === 6 ? `${enterprise}.0.${specific}` : `${OID.snmpTraps}.${generic + 1}`;
}

/** A trap from a decoded PDU's fields (v1: enterprise/generic/specific; v2c/v3: the snmpTrapOID varbind). */
export function trapOf(pdu: {
  enterprise?: string;
  generic?: number;
  specific?: number;
  varbinds?: readonly TrapVarbind[];
}): Trap {
  const vbs = pdu.varbinds ?? [];
  if (pdu.generic !== undefined)
    return { trapOid: v1TrapOid(pdu.enterprise ?? "", pdu.generic, pdu.specific ?? 0), varbinds: vbs };
  const oidVb = vbs.find((v) => v.oid === OID.snmpTrapOID);
  return {
    trapOid: typeof oidVb?.value === "string" ? oidVb.value : "",
    varbinds: vbs.filter((v) => v.oid !== OID.snmpTrapOID && v.oid !== OID.sysUpTime),
  };
}

/** One thing a trap says about one table row. */
export type Reading =
  | {
      readonly metric: "snmp.if.oper_status" | "snmp.psu" | "snmp.fan" | "snmp.sensor.status";
      readonly index: string;
      readonly state: ComponentState;
    }
  | { readonly metric: "snmp.if.admin_status"; readonly index: string; readonly value: number };

/** The instance (row index) of `oid` in column `column`: `1.3.6.1.2.1.2.2.1.8.2` in ifOperStatus → "2". */
function instanceOf(oid: string, column: string): string | undefined {
  if (!oid.startsWith(`${column}.`)) return undefined;
  const rest = oid.slice(column.length + 1);
  return /^\d+$/.test(rest) ? rest : undefined;
}

const intOf = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isInteger(v) ? v : undefined;

/** What a trap says, one reading per (metric, index): the last varbind wins. */
export function readTrap(trap: Trap): Reading[] {
  const out = new Map<string, Reading>();
  const put = (r: Reading) => out.set(`${r.metric} ${r.index}`, r);
  const linkState: ComponentState | undefined =
    trap.trapOid === OID.linkDown ? "failed" : trap.trapOid === OID.linkUp ? "ok" : undefined;
  for (const vb of trap.varbinds) {
    const n = intOf(vb.value);
    if (n === undefined) continue; // not an INTEGER: not one of ours, or garbage
    let i: string | undefined;
    if ((i = instanceOf(vb.oid, OID.ifOperStatus)) !== undefined) {
      put({ metric: "snmp.if.oper_status", index: i, state: IF_OPER_STATES[n] ?? "unknown" });
    } else if ((i = instanceOf(vb.oid, OID.ifAdminStatus)) !== undefined) {
      put({ metric: "snmp.if.admin_status", index: i, value: n });
    } else if ((i = instanceOf(vb.oid, OID.supplyState)) !== undefined) {
      put({ metric: "snmp.psu", index: i, state: ENVMON_STATES[n] ?? "unknown" });
    } else if ((i = instanceOf(vb.oid, OID.fanState)) !== undefined) {
      put({ metric: "snmp.fan", index: i, state: ENVMON_STATES[n] ?? "unknown" });
    } else if ((i = instanceOf(vb.oid, OID.sensorStatus)) !== undefined) {
      put({ metric: "snmp.sensor.status", index: i, state: SENSOR_STATES[n] ?? "unknown" });
    }
  }
  if (linkState) {
    // linkDown/linkUp name their interface by an ifIndex varbind (the instance; the value if it has none).
    for (const vb of trap.varbinds) {
      const i =
        instanceOf(vb.oid, OID.ifIndex) ??
        (vb.oid === OID.ifIndex && intOf(vb.value) !== undefined ? String(vb.value) : undefined);
      if (i !== undefined && !out.has(`snmp.if.oper_status ${i}`))
        put({ metric: "snmp.if.oper_status", index: i, state: linkState });
    }
  }
  return [...out.values()];
}

/**
 * Samples of the readings for each agent that polls the trap's source, with the label object the agent gives
 * (the poll's own). `missing` counts readings no agent has a series for (its collector does not report that
 * metric).
 */
export function samplesOf(
  readings: readonly Reading[],
  agents: readonly PolledAgent[],
  ts: number,
): { samples: Sample[]; missing: number } {
  const samples: Sample[] = [];
  let missing = 0;
  for (const r of readings) {
    let found = false;
    for (const agent of agents) {
      const labels = agent.labels(r.metric, r.index);
      if (!labels) continue;
      found = true;
      samples.push(
        "state" in r
          ? stateSample(r.metric, labels, r.state, ts)
          : { metric: r.metric, labels, value: r.value, ts },
      );
    }
    if (!found) missing++;
  }
  return { samples, missing };
}

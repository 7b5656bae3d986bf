/**
 * Profile `if`: IF-MIB's ifTable and ifXTable — each interface's operational state as a component state, its
 * admin state, octet / error / discard counters (64-bit HC octets when the agent has ifXTable) and its speed.
 */
import type { ComponentState } from "../../../src/states.js";
import { num, type Out, type Profile, type Reader, stateOf, text } from "./types.js";

export const IF_ENTRY = "1.3.6.1.2.1.2.2.1";
export const IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1";

/** ifOperStatus → state: up ok; down, lowerLayerDown failed; testing, dormant warning; notPresent absent. */
export const OPER_STATES: Readonly<Record<number, ComponentState>> = {
  1: "ok",
  2: "failed",
  3: "warning",
  4: "unknown",
  5: "warning",
  6: "absent",
  7: "failed",
};

/** ifTable columns read: descr, speed, admin, oper, in octets, in discards, in errors, out octets, out discards, out errors. */
const IF_COLS = [2, 5, 7, 8, 10, 13, 14, 16, 19, 20] as const;
/** ifXTable columns read: name, HC in octets, HC out octets, high speed, alias. */
const IFX_COLS = [1, 6, 10, 15, 18] as const;

/** Mbit/s: ifHighSpeed, unless it is 0 and ifSpeed says more (a link under 1 Mbit/s); else ifSpeed / 1e6. */
export function speedMbps(ifSpeed: number | undefined, ifHighSpeed: number | undefined): number | undefined {
  if (ifHighSpeed !== undefined && (ifHighSpeed > 0 || !ifSpeed)) return ifHighSpeed;
  return ifSpeed !== undefined ? ifSpeed / 1e6 : undefined;
}

const COUNTERS: readonly (readonly [string, number, number | undefined])[] = [
  ["snmp.if.in_octets", 10, 6],
  ["snmp.if.out_octets", 16, 10],
  ["snmp.if.in_errors", 14, undefined],
  ["snmp.if.out_errors", 20, undefined],
  ["snmp.if.in_discards", 13, undefined],
  ["snmp.if.out_discards", 19, undefined],
];

export const ifProfile: Profile = {
  name: "if",
  indexed: { "snmp.if.oper_status": "ifIndex", "snmp.if.admin_status": "ifIndex" },
  async poll(r: Reader, out: Out): Promise<void> {
    // One GETBULK for both tables' 15 columns (the rows they had, +1): one request a poll on a small switch.
    const [t, x] = await r.tables([
      [IF_ENTRY, IF_COLS],
      [IFX_ENTRY, IFX_COLS],
    ]);
    for (const [index, row] of t) {
      const xrow = x.get(index);
      const descr = text(row, 2) ?? "";
      const alias = text(xrow, 18);
      const labels = out.labels(`if\0${index}`, {
        ifIndex: index,
        ifName: text(xrow, 1) || descr,
        ifDescr: descr,
        ...(alias ? { ifAlias: alias } : {}),
      });
      const oper = num(row, 8);
      if (oper !== undefined) out.state("snmp.if.oper_status", index, labels, stateOf(OPER_STATES, oper));
      const admin = num(row, 7);
      if (admin !== undefined) out.number("snmp.if.admin_status", labels, admin, index);
      for (const [metric, col, hc] of COUNTERS) {
        const v = (hc !== undefined ? num(xrow, hc) : undefined) ?? num(row, col);
        if (v !== undefined) out.number(metric, labels, v);
      }
      const speed = speedMbps(num(row, 5), num(xrow, 15));
      if (speed !== undefined) out.number("snmp.if.speed_mbps", labels, speed);
    }
  },
};

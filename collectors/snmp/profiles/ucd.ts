/**
 * Profile `ucd`: UCD-SNMP-MIB (net-snmp's own agent and many appliances built on it) — the load averages
 * (laLoad, text such as "0.42") and dskTable's percent used of each disk the agent's `disk` lines name.
 */
import { snmp, textOf } from "../../../src/snmp/session.js";
import { num, type Out, type Profile, type Reader, text } from "./types.js";

export const LA_LOAD = "1.3.6.1.4.1.2021.10.1.3";
export const DSK_ENTRY = "1.3.6.1.4.1.2021.9.1";

/** laLoad's text as a number ("0.42"), or undefined. */
export function loadOf(s: string | undefined): number | undefined {
  if (s === undefined || !/^\s*-?\d+(\.\d+)?\s*$/.test(s)) return undefined;
  return Number(s);
}

export const ucdProfile: Profile = {
  name: "ucd",
  indexed: {},
  async poll(r: Reader, out: Out): Promise<void> {
    const [load, dsk] = await Promise.all([
      r.get([`${LA_LOAD}.1`, `${LA_LOAD}.2`, `${LA_LOAD}.3`]),
      r.table(DSK_ENTRY, [2, 9]),
    ]);
    const base = out.labels("ucd", {});
    for (const [i, metric] of ["snmp.load.1", "snmp.load.5", "snmp.load.15"].entries()) {
      const vb = load[i];
      if (!vb || snmp.isVarbindError(vb)) continue;
      const v = loadOf(textOf(vb));
      if (v !== undefined) out.number(metric, base, v);
    }
    for (const [index, row] of dsk) {
      const path = text(row, 2);
      const pct = num(row, 9);
      if (path === undefined || pct === undefined) continue;
      out.number("snmp.disk.used_percent", out.labels(`dsk\0${index}`, { path }), pct);
    }
  },
};

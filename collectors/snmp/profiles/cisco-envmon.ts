/**
 * Profile `cisco-envmon`: CISCO-ENVMON-MIB's supply, fan and temperature status tables — `snmp.psu`, `snmp.fan`
 * and `snmp.temperature` as component states, `snmp.temperature_c` and its threshold as numbers.
 */
import type { ComponentState } from "../../../src/states.js";
import { num, type Out, type Profile, type Reader, stateOf, text } from "./types.js";

export const ENVMON = "1.3.6.1.4.1.9.9.13.1";
export const SUPPLY_ENTRY = `${ENVMON}.5.1`;
export const FAN_ENTRY = `${ENVMON}.4.1`;
export const TEMP_ENTRY = `${ENVMON}.3.1`;

/** CiscoEnvMonState → state: normal ok; warning; critical, shutdown, notFunctioning failed; notPresent absent. */
export const ENVMON_STATES: Readonly<Record<number, ComponentState>> = {
  1: "ok",
  2: "warning",
  3: "failed",
  4: "failed",
  5: "absent",
  6: "failed",
};

export const ciscoEnvmonProfile: Profile = {
  name: "cisco-envmon",
  indexed: { "snmp.psu": "index", "snmp.fan": "index", "snmp.temperature": "index" },
  async poll(r: Reader, out: Out): Promise<void> {
    const [psu, fan, temp] = await r.tables([
      [SUPPLY_ENTRY, [2, 3]],
      [FAN_ENTRY, [2, 3]],
      [TEMP_ENTRY, [2, 3, 4, 6]],
    ]);
    for (const [metric, table, stateCol] of [
      ["snmp.psu", psu, 3],
      ["snmp.fan", fan, 3],
      ["snmp.temperature", temp, 6],
    ] as const) {
      for (const [index, row] of table) {
        const labels = out.labels(`${metric}\0${index}`, { index, descr: text(row, 2) ?? "" });
        const v = num(row, stateCol);
        if (v !== undefined) out.state(metric, index, labels, stateOf(ENVMON_STATES, v));
        if (metric !== "snmp.temperature") continue;
        const c = num(row, 3);
        if (c !== undefined) out.number("snmp.temperature_c", labels, c);
        const th = num(row, 4);
        if (th !== undefined) out.number("snmp.temperature_threshold_c", labels, th);
      }
    }
  },
};

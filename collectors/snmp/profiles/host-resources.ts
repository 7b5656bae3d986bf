/**
 * Profile `host-resources`: HOST-RESOURCES-MIB's hrDeviceTable (each device's status as a component state) and
 * hrStorageTable (used percent and bytes of each storage area: file systems, memory, swap).
 */
import type { ComponentState } from "../../../src/states.js";
import { num, type Out, type Profile, type Reader, stateOf, text } from "./types.js";

export const DEVICE_ENTRY = "1.3.6.1.2.1.25.3.2.1";
export const STORAGE_ENTRY = "1.3.6.1.2.1.25.2.3.1";
const DEVICE_TYPES = "1.3.6.1.2.1.25.3.1.";

/** hrDeviceStatus: unknown(1), running(2) ok, warning(3), testing(4) warning, down(5) failed. */
export const DEVICE_STATES: Readonly<Record<number, ComponentState>> = {
  1: "unknown",
  2: "ok",
  3: "warning",
  4: "warning",
  5: "failed",
};

/** hrDeviceType (an OID under hrDeviceTypes) → a word. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  "1": "other",
  "2": "unknown",
  "3": "processor",
  "4": "network",
  "5": "printer",
  "6": "diskStorage",
  "10": "video",
  "11": "audio",
  "12": "coprocessor",
  "13": "keyboard",
  "14": "modem",
  "15": "parallelPort",
  "16": "pointing",
  "17": "serialPort",
  "18": "tape",
  "19": "clock",
  "20": "volatileMemory",
  "21": "nonVolatileMemory",
};

export function deviceType(oid: string | undefined): string {
  if (oid === undefined) return "unknown";
  const o = oid.replace(/^\./, "");
  return o.startsWith(DEVICE_TYPES) ? (TYPE_NAMES[o.slice(DEVICE_TYPES.length)] ?? "other") : "other";
}

export const hostResourcesProfile: Profile = {
  name: "host-resources",
  indexed: { "snmp.device": "index" },
  async poll(r: Reader, out: Out): Promise<void> {
    const [dev, sto] = await r.tables([
      [DEVICE_ENTRY, [2, 3, 5]],
      [STORAGE_ENTRY, [3, 4, 5, 6]],
    ]);
    for (const [index, row] of dev) {
      const status = num(row, 5);
      if (status === undefined) continue;
      const type = row.get(2)?.value;
      const labels = out.labels(`dev\0${index}`, {
        index,
        descr: text(row, 3) ?? "",
        type: deviceType(typeof type === "string" ? type : undefined),
      });
      out.state("snmp.device", index, labels, stateOf(DEVICE_STATES, status));
    }
    for (const [index, row] of sto) {
      const units = num(row, 4);
      const size = num(row, 5);
      const used = num(row, 6);
      if (units === undefined || size === undefined || used === undefined) continue;
      const labels = out.labels(`sto\0${index}`, { index, descr: text(row, 3) ?? "" });
      out.number("snmp.storage.size_bytes", labels, size * units);
      out.number("snmp.storage.used_bytes", labels, used * units);
      if (size > 0) out.number("snmp.storage.used_percent", labels, (used / size) * 100);
    }
  },
};

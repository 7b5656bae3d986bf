/**
 * Profile `entity-sensor`: ENTITY-SENSOR-MIB's entPhySensorTable (RFC 3433) — every sensor's value scaled to
 * units of its type (volts, amperes, watts, celsius, rpm ...) and its operational status as a component state;
 * names from ENTITY-MIB's entPhysicalName (entPhysicalDescr when the name is empty).
 */
import type { ComponentState } from "../../../src/states.js";
import { num, type Out, type Profile, type Reader, stateOf, text } from "./types.js";

export const SENSOR_ENTRY = "1.3.6.1.2.1.99.1.1.1";
export const PHYSICAL_ENTRY = "1.3.6.1.2.1.47.1.1.1.1";

/** EntitySensorDataType. */
export const SENSOR_TYPES: Readonly<Record<number, string>> = {
  1: "other",
  2: "unknown",
  3: "voltsAC",
  4: "voltsDC",
  5: "amperes",
  6: "watts",
  7: "hertz",
  8: "celsius",
  9: "percentRH",
  10: "rpm",
  11: "cmm",
  12: "truthvalue",
  13: "specialEnum",
  14: "dBm",
};

/** EntitySensorDataScale → power of ten (as RFC 3433 numbers them: exa(14) is 10^18, peta(15) 10^15). */
export const SCALE_EXPONENT: Readonly<Record<number, number>> = {
  1: -24,
  2: -21,
  3: -18,
  4: -15,
  5: -12,
  6: -9,
  7: -6,
  8: -3,
  9: 0,
  10: 3,
  11: 6,
  12: 9,
  13: 12,
  14: 18,
  15: 15,
  16: 21,
  17: 24,
};

/** EntitySensorStatus: ok(1) ok, unavailable(2) unknown, nonoperational(3) failed. */
export const SENSOR_STATES: Readonly<Record<number, ComponentState>> = { 1: "ok", 2: "unknown", 3: "failed" };

/** value × 10^scale ÷ 10^precision, in the sensor type's units (precision 1 and value 245: 24.5). */
export function scaleSensor(value: number, scale: number | undefined, precision: number | undefined): number {
  const exp = (SCALE_EXPONENT[scale ?? 9] ?? 0) - (precision !== undefined && precision > 0 ? precision : 0);
  // Divide by a power of ten rather than multiply by its inverse: 245 / 10 is 24.5, 245 * 0.1 is 24.500000000000004.
  return exp >= 0 ? value * 10 ** exp : value / 10 ** -exp;
}

export const entitySensorProfile: Profile = {
  name: "entity-sensor",
  indexed: { "snmp.sensor.status": "index" },
  async poll(r: Reader, out: Out): Promise<void> {
    const [sensors, phys] = await r.tables([
      [SENSOR_ENTRY, [1, 2, 3, 4, 5]],
      [PHYSICAL_ENTRY, [2, 7]],
    ]);
    for (const [index, row] of sensors) {
      const p = phys.get(index);
      const type = num(row, 1);
      const labels = out.labels(`sensor\0${index}`, {
        index,
        name: text(p, 7) || text(p, 2) || index,
        type: (type !== undefined ? SENSOR_TYPES[type] : undefined) ?? String(type ?? "unknown"),
      });
      const status = num(row, 5);
      if (status !== undefined)
        out.state("snmp.sensor.status", index, labels, stateOf(SENSOR_STATES, status));
      const v = num(row, 4);
      // An unavailable sensor's value means nothing: only its status is reported.
      if (v !== undefined && status !== 2)
        out.number("snmp.sensor", labels, scaleSensor(v, num(row, 2), num(row, 3)));
    }
  },
};

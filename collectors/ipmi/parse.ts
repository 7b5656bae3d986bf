/**
 * What `ipmitool` prints about sensors, read into one shape whatever the form: `sdr elist` (5 columns), `sdr` /
 * `sdr list` (3 columns) and `sensor` / `sensor list` (10 columns), recognised line by line by their columns.
 * Pure: no I/O. A line it cannot read is returned in `skipped`, never thrown.
 *
 * The trap this exists for: ipmitool prints `ok` in the status column of a discrete sensor whatever state it
 * asserts — a PSU that says "Presence detected, Failure detected" is `ok` there. So the state of PSU and
 * redundancy sensors comes from their text (sdr elist) or their state bits (sdr, sensor), never from that column.
 */
import type { ComponentState } from "../../src/states.js";

export const KINDS = [
  "psu",
  "redundancy",
  "fan",
  "temperature",
  "voltage",
  "current",
  "power",
  "other",
] as const;
export type SensorKind = (typeof KINDS)[number];

export type IpmiForm = "sdr-elist" | "sdr" | "sensor";

export interface IpmiSensor {
  readonly name: string;
  readonly kind: SensorKind;
  readonly state: ComponentState;
  /** The number of an analog reading; undefined for discrete sensors and when there is no reading. */
  readonly reading?: number;
  /** The reading's unit as ipmitool prints it: `degrees C`, `RPM`, `Volts`, `Amps`, `Watts`, `percent`. */
  readonly unit?: string;
  /** The SDR record id (`sdr elist`'s second column, e.g. `05h`). */
  readonly id?: string;
  /** The entity instance (`sdr elist`'s fourth column, e.g. `10.1`: PSU 1). */
  readonly entity?: string;
  /**
   * PSU sensors only: true when it asserts "Presence detected", false when it asserts nothing at all. A supply
   * that asserted presence before and now asserts nothing was pulled — the collector, which remembers, reports
   * it absent; a sensor that never asserts presence (Huawei keeps presence in a separate sensor) stays `ok`.
   */
  readonly presence?: boolean;
  readonly form: IpmiForm;
}

export interface IpmiParse {
  readonly sensors: IpmiSensor[];
  /** Lines that were not empty and could not be read. */
  readonly skipped: string[];
}

/** Readings that say there is none. */
const NO_READING = /^(no reading|disabled|not readable|na|n\/a|unavailable|not available)$/i;
/** An analog reading: a number, then the unit (sdr elist, sdr). */
const ANALOG = /^(-?\d+(?:\.\d+)?)\s*(.*)$/;
const HEX = /^0x[0-9a-f]+$/i;

const UNIT_KINDS: Readonly<Record<string, SensorKind>> = {
  "degrees c": "temperature",
  "degrees f": "temperature",
  "degrees k": "temperature",
  rpm: "fan",
  volts: "voltage",
  amps: "current",
  watts: "power",
};

/** IPMI entity ids (the part before the dot of `sdr elist`'s entity column) that name a component. */
const ENTITY_KINDS: Readonly<Record<number, SensorKind>> = { 10: "psu", 29: "fan" };

const REDUNDANCY_NAME = /redund/i;
/** HPE iLO's aggregate sensors, whose reading is a redundancy text. */
const AGGREGATE_NAME = /^(power supplies|fans)$/i;
/**
 * A PSU's own status sensor: `PS1 Status`, `PSU2`, `Power Supply 1`, `PSU 1 AC Status`, `PS2 Presence`. Not a
 * PSU's parts (`PS1 PG FAIL`, `PS 1 Fan Fault`, `PS1 Fan Status`), which are other sensors.
 */
const PSU_NAME =
  /^(?:ps|psu|pws|pwr ?supply|power ?supply)[ _-]?\d*(?:[ _-]+(?:status|presence|present|state|ac status|health))?$/i;

const REDUNDANCY_TEXT = /redundan/i;

/** PSU state texts (ipmitool's and FreeIPMI's words), worst first; matched anywhere in the text. */
const PSU_TEXTS: readonly (readonly [RegExp, ComponentState])[] = [
  [/failure detected|ac lost|input lost|out-of-range|out of range|power supply.*\bfail/i, "failed"],
  [/\babsent\b|not present/i, "absent"],
  [/predictive fail|config(uration)? error/i, "warning"],
  [/presence detected|device present|\bpresent\b|\bok\b/i, "ok"],
];

/** Redundancy texts, worst first ("Redundancy Degraded from Fully Redundant" is degraded, not fully redundant). */
const REDUNDANCY_TEXTS: readonly (readonly [RegExp, ComponentState])[] = [
  [/redundancy lost|non-redundant|not redundant|insufficient/i, "failed"],
  [/degraded/i, "warning"],
  [/fully redundant|redundancy regained|^redundant$/i, "ok"],
];

/** The state of each PSU (sensor type 0x08) offset. Offset 0 is presence. */
const PSU_OFFSETS: readonly ComponentState[] = [
  "ok",
  "failed",
  "warning",
  "failed",
  "failed",
  "failed",
  "warning",
];
/** The state of each redundancy (reading type 0x0b) offset. */
const REDUNDANCY_OFFSETS: readonly ComponentState[] = [
  "ok",
  "failed",
  "warning",
  "failed",
  "failed",
  "failed",
  "warning",
  "warning",
];

const SEVERITY: Readonly<Record<ComponentState, number>> = {
  ok: 0,
  unknown: 1,
  warning: 2,
  absent: 3,
  failed: 4,
};

function worst(a: ComponentState, b: ComponentState): ComponentState {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/** A threshold sensor's status column: `cr lcr ucr nr lnr unr` failed, `nc lnc unc` warning, `ok` ok. */
export function thresholdState(status: string): ComponentState {
  const s = status.toLowerCase();
  if (s === "ok") return "ok";
  if (/^[lu]?(cr|nr)$/.test(s)) return "failed";
  if (/^[lu]?nc$/.test(s)) return "warning";
  return "unknown";
}

function textState(
  text: string,
  table: readonly (readonly [RegExp, ComponentState])[],
): ComponentState | undefined {
  for (const [re, state] of table) if (re.test(text)) return state;
  return undefined;
}

/** The asserted offsets (0–14) of a discrete state: `0xAABB` (sensor) or `0xAA` (sdr); bit 7 of BB is masked. */
export function offsetsOf(hex: string): number[] | undefined {
  if (!HEX.test(hex)) return undefined;
  const digits = hex.slice(2);
  const n = Number.parseInt(digits, 16);
  if (!Number.isFinite(n)) return undefined;
  const low = digits.length > 2 ? (n >> 8) & 0xff : n & 0xff;
  const high = digits.length > 2 ? n & 0x7f : 0;
  const out: number[] = [];
  for (let i = 0; i < 8; i++) if (low & (1 << i)) out.push(i);
  for (let i = 0; i < 7; i++) if (high & (1 << i)) out.push(8 + i);
  return out;
}

function offsetState(kind: SensorKind, offsets: readonly number[], status: ComponentState): ComponentState {
  const table = kind === "psu" ? PSU_OFFSETS : REDUNDANCY_OFFSETS;
  let s: ComponentState | undefined;
  for (const o of offsets) {
    if (kind === "psu" && o === 0) continue; // presence: see `presence`
    const state = table[o];
    if (state) s = s === undefined ? state : worst(s, state);
  }
  return s ?? status;
}

/** What kind of component a sensor watches, from its name, unit, entity and text. */
export function kindOf(
  name: string,
  unit: string | undefined,
  entity: number | undefined,
  text = "",
): SensorKind {
  if (REDUNDANCY_NAME.test(name)) return "redundancy";
  if (AGGREGATE_NAME.test(name) && (unit === undefined || REDUNDANCY_TEXT.test(text))) return "redundancy";
  if (unit !== undefined) {
    const byUnit = UNIT_KINDS[unit.toLowerCase()];
    if (byUnit) return byUnit;
  }
  if (unit === undefined && REDUNDANCY_TEXT.test(text) && !/present/i.test(text)) return "redundancy";
  if (unit === undefined && /fault|fail/i.test(name)) return "other"; // a part's fault line (`PS1 12V OV Fault`)
  if (/fan/i.test(name)) return "fan"; // before the PSU entity: `PS1 Fan Status` is the PSU's fan
  if (/\b\d+(\.\d+)?V\b/i.test(name)) return "voltage"; // "PS 12V": a PSU's rail, not the PSU
  if (unit === undefined && (PSU_NAME.test(name) || (entity !== undefined && ENTITY_KINDS[entity] === "psu")))
    return "psu";
  if (/temp/i.test(name)) return "temperature";
  if (/volt|^vcc|vbat|vcore|^p?\d+(\.\d+)?v\b|_v\d|\bv\d/i.test(name)) return "voltage";
  if (/current|\bamps?\b/i.test(name)) return "current";
  if (/watt|power consumption|pwr consumption|power meter/i.test(name)) return "power";
  if (unit === undefined && entity !== undefined && ENTITY_KINDS[entity] === "fan") return "fan";
  return "other";
}

/** A discrete sensor's state from its text (sdr elist), for the kinds whose text matters. */
function discreteTextState(kind: SensorKind, text: string, status: string): ComponentState {
  if (status === "ns" || NO_READING.test(text)) return "unknown";
  if (kind === "psu") return textState(text, PSU_TEXTS) ?? thresholdState(status);
  if (kind === "redundancy") return textState(text, REDUNDANCY_TEXTS) ?? thresholdState(status);
  return thresholdState(status);
}

/** Whether a PSU sensor's text asserts presence (true) or nothing at all (false). */
function presenceOf(kind: SensorKind, text: string): { presence?: boolean } {
  if (kind !== "psu") return {};
  if (/presence detected|device present/i.test(text)) return { presence: true };
  return text.trim() === "" ? { presence: false } : {};
}

function analog(
  name: string,
  value: number,
  unit: string,
  status: string,
  extra: { entity?: number; id?: string; entityText?: string },
  form: IpmiForm,
): IpmiSensor {
  const u = unit.trim() || undefined;
  return {
    name,
    kind: kindOf(name, u, extra.entity),
    state: thresholdState(status),
    reading: value,
    ...(u !== undefined ? { unit: u } : {}),
    ...(extra.id !== undefined ? { id: extra.id } : {}),
    ...(extra.entityText !== undefined ? { entity: extra.entityText } : {}),
    form,
  };
}

/**
 * `name | 05h | ok | 10.2 | Presence detected, Failure detected`, `name | 01h | ok | 3.1 | 45 degrees C`, and both
 * at once: `Power Supply 1 | 06h | ok | 10.1 | 0 Watts, Presence detected, Failure detected` (HPE).
 */
function parseElist(f: readonly string[]): IpmiSensor | undefined {
  const [name, id, status, entityText, text] = f as [string, string, string, string, string];
  if (!name || !/^[0-9a-f]{1,4}h$/i.test(id) || !/^[a-z]{1,3}$/i.test(status)) return undefined;
  if (!/^\d+\.\d+$/.test(entityText)) return undefined;
  const entity = Number(entityText.split(".")[0]);
  const extra = { entity, id, entityText };
  const comma = text.indexOf(",");
  const head = comma < 0 ? text : text.slice(0, comma);
  const m = HEX.test(head) ? null : ANALOG.exec(head.trim());
  const isReading = m !== null && m[2] !== undefined && m[2] !== "" && /^[a-z %/]+$/i.test(m[2]);
  if (isReading && comma < 0) return analog(name, Number(m[1]), m[2]!, status, extra, "sdr-elist");
  const states = isReading ? text.slice(comma + 1).trim() : text;
  const kind = kindOf(name, undefined, entity, states);
  return {
    name,
    kind,
    state: discreteTextState(kind, states, status.toLowerCase()),
    ...(isReading ? { reading: Number(m[1]), unit: m[2]!.trim() } : {}),
    id,
    entity: entityText,
    ...presenceOf(kind, states),
    form: "sdr-elist",
  };
}

/** `name | 45 degrees C | ok`, `name | 0x03 | ok`, `name | no reading | ns` */
function parseSdr(f: readonly string[]): IpmiSensor | undefined {
  const [name, reading, status] = f as [string, string, string];
  if (!name || !/^[a-z]{1,3}$/i.test(status)) return undefined;
  const s = status.toLowerCase();
  if (NO_READING.test(reading)) {
    return { name, kind: kindOf(name, undefined, undefined), state: "unknown", form: "sdr" };
  }
  // The 3-column form prints a discrete sensor's reading byte, not its state bits (a BMC with Redundancy Lost
  // asserted prints `0x00 | ok`: ipmitool issue #176): only the status column can be read. The collector polls
  // with `sdr elist`, whose text carries the states.
  if (HEX.test(reading))
    return { name, kind: kindOf(name, undefined, undefined), state: thresholdState(s), form: "sdr" };
  const m = ANALOG.exec(reading);
  if (m && m[2] !== undefined && /^[a-z %]*$/i.test(m[2]))
    return analog(name, Number(m[1]), m[2], status, {}, "sdr");
  // A discrete text some BMCs print in this form: read it as sdr elist's.
  const kind = kindOf(name, undefined, undefined, reading);
  return {
    name,
    kind,
    state: discreteTextState(kind, reading, s),
    ...presenceOf(kind, reading),
    form: "sdr",
  };
}

/** `sensor`'s discrete line: the state bits `0xAABB` in the status column. */
function discreteHex(name: string, hex: string, status: string): IpmiSensor {
  const kind = kindOf(name, undefined, undefined);
  if (status === "ns" || status === "na") return { name, kind, state: "unknown", form: "sensor" };
  if (kind !== "psu" && kind !== "redundancy")
    return { name, kind, state: thresholdState(status), form: "sensor" };
  const offsets = offsetsOf(hex);
  if (!offsets) return { name, kind, state: "unknown", form: "sensor" };
  const presence =
    kind === "psu" ? { presence: offsets.includes(0) || (offsets.length === 0 ? false : undefined) } : {};
  return {
    name,
    kind,
    state: offsetState(kind, offsets, thresholdState(status)),
    ...(presence.presence !== undefined ? { presence: presence.presence } : {}),
    form: "sensor",
  };
}

/** `name | 45.000 | degrees C | ok | na | ... ` and `name | 0x3 | discrete | 0x0300| na | ...` */
function parseSensor(f: readonly string[]): IpmiSensor | undefined {
  const [name, reading, units, status] = f as [string, string, string, string];
  if (!name) return undefined;
  if (units.toLowerCase() === "discrete") {
    if (HEX.test(status)) return discreteHex(name, status, "ok");
    return discreteHex(name, "0x0", status.toLowerCase());
  }
  if (NO_READING.test(reading) || reading === "") {
    const u = units || undefined;
    return {
      name,
      kind: kindOf(name, u, undefined),
      state: "unknown",
      ...(u ? { unit: u } : {}),
      form: "sensor",
    };
  }
  const value = Number(reading);
  if (!Number.isFinite(value) || !/^-?\d/.test(reading)) return undefined;
  return analog(name, value, units, status, {}, "sensor");
}

/** Reads ipmitool's output in any of its three sensor forms (they may even be mixed). */
export function parseIpmitool(text: string): IpmiParse {
  const sensors: IpmiSensor[] = [];
  const skipped: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const f = line.split("|").map((c) => c.trim());
    if (f.length > 3 && f.at(-1) === "" && f.length !== 5) f.pop(); // a trailing `|`
    let s: IpmiSensor | undefined;
    try {
      if (f.length === 5) s = parseElist(f);
      else if (f.length === 3) s = parseSdr(f);
      else if (f.length === 10) s = parseSensor(f);
    } catch {
      s = undefined;
    }
    if (s) sensors.push(s);
    else skipped.push(line);
  }
  return { sensors, skipped };
}

/**
 * Pure parsing of what `smartctl -j` prints: `smartctl --scan -j` (the devices to read) and `smartctl -j -a DEV`
 * (one device's health), plus the decoding of smartctl's exit status bits. Nothing here runs a command or throws:
 * any text, however broken, gives a result that says what it is.
 */
import { labelsOf, stateSample } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import type { ComponentState } from "../../src/states.js";

/** smartctl's exit status bits (man smartctl, "EXIT STATUS"), bit 0 first. */
export const EXIT_BITS = [
  "command line did not parse",
  "device open failed, or the device is in a low-power mode",
  "a SMART or other command to the disk failed, or a SMART data checksum error",
  "SMART status: disk failing",
  "prefail attributes at or below threshold",
  "attributes were at or below threshold in the past",
  "the device error log has errors",
  "the self-test log has errors",
] as const;

/** Bits 0 and 1: smartctl has no data for the device. */
export const NO_DATA_BITS = 0b11;
export const DISK_FAILING_BIT = 1 << 3;
export const PREFAIL_NOW_BIT = 1 << 4;

/** The bits set in an exit status (0–7). */
export function exitBits(status: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 8; b++) if (status & (1 << b)) out.push(b);
  return out;
}

/** `exit 216: disk failing (bit 3), ...` — for log lines. */
export function describeExitStatus(status: number): string {
  const bits = exitBits(status);
  if (bits.length === 0) return `exit ${status}`;
  return `exit ${status}: ${bits.map((b) => `${EXIT_BITS[b]} (bit ${b})`).join(", ")}`;
}

// ---------------------------------------------------------------------------------------------------------
// JSON helpers: smartctl's JSON is read defensively, field by field.

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** A count: a finite number ≥ 0. */
function count(v: unknown): number | undefined {
  const n = num(v);
  return n !== undefined && n >= 0 ? n : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function parseObject(text: string): Json | undefined {
  try {
    return obj(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The `string`s of `smartctl.messages`. */
function messagesOf(smartctl: Json | undefined): string[] {
  const list = smartctl?.messages;
  if (!Array.isArray(list)) return [];
  return list.map((m) => str(obj(m)?.string)).filter((m): m is string => m !== undefined);
}

// ---------------------------------------------------------------------------------------------------------
// smartctl --scan -j

export interface ScanDevice {
  /** `/dev/sda`, `/dev/nvme0`, `/dev/bus/0` */
  readonly name: string;
  /** What `-d` takes: `sat`, `nvme`, `scsi`, `megaraid,0` */
  readonly type?: string;
  /** `ATA`, `NVMe`, `SCSI` */
  readonly protocol?: string;
}

export type ScanResult =
  | { readonly ok: true; readonly devices: ScanDevice[] }
  | { readonly ok: false; readonly error: string };

/**
 * The devices of `smartctl --scan -j`. No `devices` key (a host without disks smartctl knows, as a VM with
 * virtio disks) is an empty list. Entries without a name, or whose name or type starts with `-` (it would
 * be read as an option), are skipped; duplicates are dropped.
 */
export function parseScan(text: string): ScanResult {
  const root = parseObject(text);
  if (!root) return { ok: false, error: "not a JSON object (expected the output of smartctl --scan -j)" };
  const list = root.devices;
  if (list === undefined) return { ok: true, devices: [] };
  if (!Array.isArray(list)) return { ok: false, error: '"devices" is not a list' };
  const seen = new Set<string>();
  const devices: ScanDevice[] = [];
  for (const entry of list) {
    const e = obj(entry);
    const name = str(e?.name);
    const type = str(e?.type);
    const protocol = str(e?.protocol);
    if (!name || name.startsWith("-") || type?.startsWith("-")) continue;
    const key = `${name}\u0000${type ?? ""}`;
    if (seen.has(key)) continue;
    seen.add(key);
    devices.push({ name, ...(type ? { type } : {}), ...(protocol ? { protocol } : {}) });
  }
  return { ok: true, devices };
}

// ---------------------------------------------------------------------------------------------------------
// smartctl -j -a DEV

/** What one device reports; each reading only where the drive reports it. */
export interface Readings {
  readonly health: ComponentState;
  readonly temperature_c?: number;
  readonly reallocated_sectors?: number;
  readonly pending_sectors?: number;
  readonly media_errors?: number;
  readonly percentage_used?: number;
}

/** The device as smartctl names it (`device` in the JSON). */
export interface DeviceInfo {
  readonly name?: string;
  readonly type?: string;
  readonly protocol?: string;
}

export type SmartReport =
  /** smartctl read the device (its exit status may still have bits 2–7 set). */
  | {
      readonly kind: "data";
      readonly exitStatus: number;
      readonly device: DeviceInfo;
      readonly readings: Readings;
      readonly messages: string[];
    }
  /** `-n standby`: the disk sleeps and was not woken; nothing was read. */
  | { readonly kind: "standby"; readonly exitStatus: number; readonly messages: string[] }
  /** Bits 0–1: the command line did not parse, or the device could not be opened. */
  | { readonly kind: "no-data"; readonly exitStatus: number; readonly reason: string }
  /** Not smartctl's JSON (empty, truncated, garbage). */
  | { readonly kind: "invalid"; readonly reason: string };

const STANDBY_RE = /Device is in \S.* mode, exit\(\d+\)/;

/**
 * One device's `smartctl -j -a` output. `exitCode` is the process's exit status (the JSON's
 * `smartctl.exit_status` is used when there is none). smartctl prints JSON whatever its exit status: it is
 * parsed whenever it is there, and bit 3 (disk failing) makes the health `failed` even when the JSON has no
 * `smart_status`.
 */
export function parseSmartctl(text: string, exitCode?: number): SmartReport {
  const root = parseObject(text);
  const smartctl = obj(root?.smartctl);
  const status = exitCode ?? count(smartctl?.exit_status);
  const messages = messagesOf(smartctl);
  if (!root || (!smartctl && !obj(root.device))) {
    if (status !== undefined && status & NO_DATA_BITS) {
      return { kind: "no-data", exitStatus: status, reason: describeExitStatus(status & NO_DATA_BITS) };
    }
    return {
      kind: "invalid",
      reason: root
        ? "JSON without `smartctl` or `device` (not smartctl -j output)"
        : text.trim() === ""
          ? "no output"
          : "not a JSON object (truncated or not smartctl -j output)",
    };
  }
  const exitStatus = status ?? 0;
  if (exitStatus & NO_DATA_BITS) {
    if (exitStatus & 0b10 && messages.some((m) => STANDBY_RE.test(m))) {
      return { kind: "standby", exitStatus, messages };
    }
    const reason = messages[0] ?? describeExitStatus(exitStatus & NO_DATA_BITS);
    return { kind: "no-data", exitStatus, reason };
  }
  const dev = obj(root.device);
  const device: DeviceInfo = {
    ...(str(dev?.name) ? { name: str(dev?.name) } : {}),
    ...(str(dev?.type) ? { type: str(dev?.type) } : {}),
    ...(str(dev?.protocol) ? { protocol: str(dev?.protocol) } : {}),
  };
  return { kind: "data", exitStatus, device, readings: readingsOf(root, exitStatus), messages };
}

/**
 * The health verdict: `failed` when smartctl says the disk is failing (exit bit 3) or the drive's SMART status
 * did not pass; `warning` when it passed but a prefail attribute is at or below its threshold now (bit 4);
 * `ok` when it passed; `unknown` when the drive gives no verdict (no `smart_status`: `-A` only, a bridge that
 * passes no SMART status) — never `ok` for a drive that did not say so.
 */
function healthOf(root: Json, exitStatus: number): ComponentState {
  const passed = obj(root.smart_status)?.passed;
  if (exitStatus & DISK_FAILING_BIT || passed === false) return "failed";
  if (passed === true) return exitStatus & PREFAIL_NOW_BIT ? "warning" : "ok";
  return "unknown";
}

function readingsOf(root: Json, exitStatus: number): Readings {
  const out: { -readonly [K in keyof Readings]: Readings[K] } = { health: healthOf(root, exitStatus) };
  const temperature = num(obj(root.temperature)?.current);
  if (temperature !== undefined) out.temperature_c = temperature;

  // ATA
  const attrs = obj(root.ata_smart_attributes)?.table;
  if (Array.isArray(attrs)) {
    const byId = new Map<number, Json>();
    for (const a of attrs) {
      const id = num(obj(a)?.id);
      if (id !== undefined && !byId.has(id)) byId.set(id, obj(a)!);
    }
    const realloc = rawCount(byId.get(5));
    if (realloc !== undefined) out.reallocated_sectors = realloc;
    const pending = rawCount(byId.get(197));
    if (pending !== undefined) out.pending_sectors = pending;
  }

  // SCSI
  const grown = count(root.scsi_grown_defect_list);
  if (grown !== undefined && out.reallocated_sectors === undefined) out.reallocated_sectors = grown;
  const log = obj(root.scsi_error_counter_log);
  if (log) {
    const parts = ["read", "write", "verify"]
      .map((k) => count(obj(log[k])?.total_uncorrected_errors))
      .filter((n): n is number => n !== undefined);
    if (parts.length > 0) out.media_errors = parts.reduce((a, b) => a + b, 0);
  }

  // NVMe
  const nvme = obj(root.nvme_smart_health_information_log);
  if (nvme) {
    const media = count(nvme.media_errors);
    if (media !== undefined) out.media_errors = media;
    const used = count(nvme.percentage_used);
    if (used !== undefined) out.percentage_used = used;
  }
  return out;
}

/**
 * An ATA attribute's raw count. `raw.value` is the whole 48-bit raw field; `raw.string` is smartctl's rendering
 * of it by the drive database's format for that model. They agree for a plain counter (`"1975"`). Where a vendor
 * packs more than the count into the 48 bits (the count in the low word, other fields above), smartctl's string
 * shows the count first and the rest in parentheses (`"2725 (151 234 0)"`): the leading number is then the count,
 * not `raw.value`. A hex rendering (`0x…`) is compared as a number.
 */
export function rawCount(attr: Json | undefined): number | undefined {
  const raw = obj(attr?.raw);
  if (!raw) return undefined;
  const value = count(raw.value);
  const lead = /^\s*(0x[0-9a-f]+|\d+)/i.exec(typeof raw.string === "string" ? raw.string : "");
  const shown = lead ? Number(lead[1]) : undefined;
  if (value !== undefined && (shown === undefined || shown === value)) return value;
  return shown !== undefined && Number.isFinite(shown) ? shown : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Samples

/** The metric of each reading, in the order samples are emitted. */
export const READING_METRICS = [
  ["temperature_c", "smart.temperature_c"],
  ["reallocated_sectors", "smart.reallocated_sectors"],
  ["pending_sectors", "smart.pending_sectors"],
  ["media_errors", "smart.media_errors"],
  ["percentage_used", "smart.percentage_used"],
] as const satisfies readonly (readonly [keyof Readings, string])[];

/** The samples of one device's readings: `smart.health` first, then each reading the drive reported. */
export function samplesOf(readings: Readings, labels: Labels, ts: number): Sample[] {
  const out: Sample[] = [stateSample("smart.health", labels, readings.health, ts)];
  for (const [key, metric] of READING_METRICS) {
    const v = readings[key];
    if (v !== undefined) out.push({ metric, labels, value: v, ts });
  }
  return out;
}

/** What a device is polled as: its path, and `-d TYPE` when known (from the config or the scan). */
export interface Target {
  readonly device: string;
  readonly type?: string;
  /** From the scan, used when the device's own output names none. */
  readonly protocol?: string;
}

/**
 * A device's identity labels: `device` the path polled, `type` the `-d` type asked for (the config's or the
 * scan's; else the one smartctl detected), `protocol` smartctl's (`ATA`, `NVMe`, `SCSI`; the scan's, else
 * `unknown`). MegaRAID disks share a path and differ by type (`megaraid,0`, `megaraid,1`).
 */
export function identityOf(target: Target, device: DeviceInfo): Labels {
  return labelsOf({
    device: target.device,
    type: target.type ?? device.type ?? "auto",
    protocol: device.protocol ?? target.protocol ?? "unknown",
  });
}

/**
 * The smart collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import type { MetricInfo } from "../../src/collector.js";
import { describeValue, nonEmpty, polling, typeError } from "../../src/config/fields.js";

export const type = "smart";

/**
 * The default bound of one smartctl call. Larger than the 10 s of other collectors: a disk retrying a bad sector
 * answers a SMART command only when the kernel's own command timeout (30 s by default) expires, and that disk is
 * the one whose report matters.
 */
export const DEFAULT_DEVICE_TIMEOUT_MS = 30_000;

/** A device path or a `-d` type: never starting with `-`, which smartctl would read as an option. */
const notOption = (what: string) =>
  nonEmpty.refine((s) => !s.startsWith("-"), {
    error: (iss) => `${describeValue(iss.input)} is not a ${what}: it must not start with "-"`,
  });

/** `/dev/sda`, or `{device: /dev/bus/0, type: "megaraid,0"}` (a path alone is `{device: PATH}`). */
const device = z.preprocess(
  (v) => (typeof v === "string" ? { device: v } : v),
  z.strictObject(
    {
      device: notOption("device path"),
      type: notOption("smartctl device type (-d)")
        .optional()
        .meta({ description: "smartctl's -d TYPE: sat, nvme, scsi, megaraid,N, cciss,N, ..." }),
    },
    {
      error: typeError(
        (v) =>
          `found ${describeValue(v)}; expected a device path (/dev/sda) or {device: /dev/bus/0, type: "megaraid,0"}`,
      ),
    },
  ),
);

export const schema = z
  .strictObject({
    ...polling("10m"),
    type: z.literal(type),
    smartctl: nonEmpty.default("smartctl").meta({
      description:
        "The smartctl program: a name looked up in PATH, or a path (relative to the config file); default smartctl",
    }),
    devices: z
      .array(device)
      .min(1, { error: "an empty list; leave `devices` out to discover disks" })
      .optional()
      .meta({
        description: "The devices to read (default: those `smartctl --scan -j` finds, rescanned every hour)",
      }),
    wake: z.boolean().default(false).meta({
      description:
        "Read disks in standby too, spinning them up (default false: `-n standby`, a sleeping disk is skipped)",
    }),
  })
  .transform((c) => ({ ...c, timeout: c.timeout ?? Math.min(c.interval, DEFAULT_DEVICE_TIMEOUT_MS) }));

export type SmartCollectorSpec = z.output<typeof schema>;

/** `smartctl` is relative to the config file when it is a path (has a `/`); a bare name is looked up in PATH. */
export function resolvePaths(spec: SmartCollectorSpec, base: string): SmartCollectorSpec {
  const p = spec.smartctl;
  return p.includes("/") && !isAbsolute(p) ? { ...spec, smartctl: resolve(base, p) } : spec;
}

const IDENTITY = ["device", "type", "protocol"];

export const metrics: readonly MetricInfo[] = [
  {
    name: "smart.health",
    labels: IDENTITY,
    help: "component state: ok (SMART passed), warning (prefail attribute at threshold), failed, unknown (no verdict)",
  },
  { name: "smart.temperature_c", labels: IDENTITY, help: "°C, the drive's current temperature" },
  {
    name: "smart.reallocated_sectors",
    labels: IDENTITY,
    help: "count: ATA attribute 5 (Reallocated_Sector_Ct) raw; SCSI grown defect list",
  },
  {
    name: "smart.pending_sectors",
    labels: IDENTITY,
    help: "count: ATA attribute 197 (Current_Pending_Sector) raw",
  },
  {
    name: "smart.media_errors",
    labels: IDENTITY,
    help: "counter: NVMe media and data integrity errors; SCSI uncorrected read + write + verify errors",
  },
  { name: "smart.percentage_used", labels: IDENTITY, help: "%, NVMe endurance used (may exceed 100)" },
];

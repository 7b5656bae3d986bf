/**
 * The ipmi collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { sharedField } from "../../src/cluster/config.js";
import type { MetricInfo } from "../../src/collector.js";
import {
  describeValue,
  nonEmpty,
  polling,
  port,
  secretSchema,
  withTimeout,
} from "../../src/config/fields.js";

export const type = "ipmi";

const target = z
  .strictObject({
    host: nonEmpty
      .refine((h) => !h.startsWith("-") && !/\s/.test(h), {
        error: (iss) => `${describeValue(iss.input)} is not a host name or address`,
      })
      .meta({ description: "The BMC's address or name" }),
    port: port.optional().meta({ description: "UDP port (default 623)" }),
    user: nonEmpty.refine((u) => !u.startsWith("-"), { error: "a user name cannot start with -" }),
    password: secretSchema.meta({
      description: "Reaches ipmitool through its environment (IPMI_PASSWORD with -E), never its command line",
    }),
    interface: z.enum(["lanplus", "lan"]).default("lanplus").meta({
      description: "lanplus (IPMI 2.0, default) or lan (IPMI 1.5, unencrypted: avoid)",
    }),
    cipher_suite: z.int().min(0).max(17).optional().meta({
      description:
        "ipmitool's -C (lanplus): 17 on many current BMCs, 3 on older ones and OpenIPMI's ipmi_sim",
    }),
    privilege: z.enum(["user", "operator", "administrator"]).optional().meta({
      description:
        "ipmitool's -L: the session's privilege level (default administrator; user suffices to read)",
    }),
  })
  .meta({ description: "A remote BMC over the network; omit for the local BMC (/dev/ipmi0)" });

export const schema = z
  .strictObject({
    ...polling("30s"),
    type: z.literal(type),
    target: target.optional(),
    ipmitool: nonEmpty.default("ipmitool").meta({
      description: "The ipmitool program: a name looked up in PATH, or a path (relative to the config file)",
    }),
    sdr_cache: z.boolean().default(true).meta({
      description:
        "Read the BMC's sensor records once (`sdr dump`) and poll with `-S`, refreshed hourly and after an outage",
    }),
    shared: sharedField,
  })
  .transform(withTimeout);

export type IpmiCollectorSpec = z.output<typeof schema>;

/** `ipmitool: ./fake-ipmitool` is relative to the config file; a bare name is looked up in PATH. */
export function resolvePaths(spec: IpmiCollectorSpec, base: string): IpmiCollectorSpec {
  if (isAbsolute(spec.ipmitool) || !spec.ipmitool.includes("/")) return spec;
  return { ...spec, ipmitool: resolve(base, spec.ipmitool) };
}

/** The `bmc` label: the target's host (`host:port` when the port is not 623), or `local`. */
export function bmcLabel(spec: IpmiCollectorSpec): string {
  const t = spec.target;
  if (!t) return "local";
  return t.port !== undefined && t.port !== 623 ? `${t.host}:${t.port}` : t.host;
}

export const metrics: readonly MetricInfo[] = [
  {
    name: "ipmi.sensor",
    labels: ["bmc", "sensor", "kind", "id", "entity"],
    help: "component state of every sensor: ok warning failed absent unknown",
  },
  {
    name: "ipmi.reading",
    labels: ["bmc", "sensor", "kind", "unit", "id", "entity"],
    help: "the number of every analog reading, in `unit`",
  },
  { name: "ipmi.up", labels: ["bmc"], help: "1 the BMC answered the last poll, 0 it did not" },
];

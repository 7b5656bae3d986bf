/**
 * The snmp collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 * One block is one agent: 1,000 switches are 1,000 blocks, each with its own session and in-flight limit.
 */
import { z } from "zod";
import { sharedField } from "../../src/cluster/config.js";
import type { MetricInfo } from "../../src/collector.js";
import {
  describeValue,
  metricName,
  OID_RE,
  polling,
  typeError,
  withTimeout,
} from "../../src/config/fields.js";
import { snmpTargetSchema } from "../../src/snmp/target.js";
import { COMPONENT_STATES, type ComponentState } from "../../src/states.js";

export const type = "snmp";

export const PROFILES = ["if", "entity-sensor", "host-resources", "ucd", "cisco-envmon"] as const;
export type ProfileName = (typeof PROFILES)[number];

/** Labels a custom OID may not set: every sample has them already. */
const RESERVED_LABELS = ["host", "collector", "target", "index"];
const LABEL_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STATE_WORDS = Object.keys(COMPONENT_STATES) as [ComponentState, ...ComponentState[]];

/** An OID: dotted numbers (a YAML number such as `1.3` is refused: it would lose trailing zeros). */
const oid = z
  .string({
    error: typeError((v) => `${describeValue(v)} is not an OID; write it as text, e.g. "1.3.6.1.2.1.1.3.0"`),
  })
  .refine((s) => OID_RE.test(s), {
    error: (iss) =>
      `${describeValue(iss.input)} is not an OID; expected dotted numbers, e.g. 1.3.6.1.2.1.1.3.0`,
  })
  .transform((s) => s.replace(/^\./, ""));

/** A record whose invalid keys say why (zod's own message is only "invalid key"). */
function keyError(why: (key: unknown) => string) {
  return (iss: { code?: string; input?: unknown; key?: unknown }) =>
    iss.code === "invalid_key" ? why(iss.key ?? iss.input) : undefined;
}

const column = z.int({ error: "expected a column number (the table entry's sub-identifier), e.g. 5" }).min(1);

const labelName = z
  .string()
  .regex(LABEL_RE, { error: (iss) => `${describeValue(iss.input)} is not a label name; expected e.g. descr` })
  .refine((l) => !RESERVED_LABELS.includes(l), {
    error: (iss) => `${describeValue(iss.input)} is a label every sample has already; choose another name`,
  });

const states = z
  .record(
    z.string().regex(/^-?\d+$/, {
      error: (iss) => `${describeValue(iss.input)} is not an integer value; expected e.g. 3: ok`,
    }),
    z.enum(STATE_WORDS, {
      error: (iss) =>
        `${describeValue(iss.input)} is not a state; expected one of: ${STATE_WORDS.join(", ")}`,
    }),
    {
      error: keyError((k) => `${describeValue(k)} is not an integer value; expected e.g. {3: ok, 5: failed}`),
    },
  )
  .meta({ description: "Integer value → state word (ok warning failed absent unknown): a component state" });

const customOid = z
  .strictObject({
    metric: metricName.meta({ description: "The metric's name, e.g. snmp.psu or snmp.ups.battery_minutes" }),
    oid: oid.optional().meta({ description: "A scalar's full OID (with its .0): one sample" }),
    table: oid.optional().meta({ description: "A table entry's OID: one sample per row, labelled `index`" }),
    value: column.optional().meta({ description: "The table column that holds the value" }),
    label_columns: z
      .record(labelName, column, {
        error: keyError(
          (k) =>
            `${describeValue(k)} cannot be a label: use letters, digits and _, and none of ${RESERVED_LABELS.join(", ")}`,
        ),
      })
      .optional()
      .meta({ description: "label → the column whose text it takes, e.g. {descr: 8}" }),
    labels: z
      .record(labelName, z.string(), {
        error: keyError(
          (k) =>
            `${describeValue(k)} cannot be a label: use letters, digits and _, and none of ${RESERVED_LABELS.join(", ")}`,
        ),
      })
      .optional()
      .meta({ description: "Fixed labels added to every sample, e.g. {kind: psu}" }),
    states: states.optional(),
  })
  .superRefine((o, ctx) => {
    if ((o.oid === undefined) === (o.table === undefined))
      ctx.addIssue({
        code: "custom",
        message: "give either `oid` (a scalar) or `table` with `value` (a column), not both or neither",
      });
    if (o.table !== undefined && o.oid === undefined && o.value === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["value"],
        message: "a table needs `value`: the column that holds the number or state, e.g. value: 5",
      });
    if (o.oid !== undefined && (o.value !== undefined || o.label_columns !== undefined))
      ctx.addIssue({
        code: "custom",
        path: [o.value !== undefined ? "value" : "label_columns"],
        message: "`value` and `label_columns` are for a `table`; a scalar `oid` is one value",
      });
  })
  .meta({ description: "A user-defined OID (scalar) or table mapped to a metric" });

export type CustomOid = z.output<typeof customOid>;

export const schema = z
  .strictObject({
    ...polling("10s"),
    type: z.literal(type),
    target: snmpTargetSchema,
    profiles: z
      .array(
        z.enum(PROFILES, {
          error: (iss) =>
            `${describeValue(iss.input)} is not a profile; expected one of: ${PROFILES.join(", ")}`,
        }),
      )
      .default([])
      .refine((p) => new Set(p).size === p.length, { error: "a profile is listed twice" })
      .meta({ description: `Named OID sets: ${PROFILES.join(", ")}` }),
    oids: z.array(customOid).default([]).meta({ description: "User-defined OIDs and tables" }),
    max_inflight: z.int().min(1).max(200).default(10).meta({
      description:
        "Requests outstanding to this agent at once (default 10; snmpd drops datagrams above ~250)",
    }),
    max_repetitions: z.int().min(1).max(100).default(25).meta({
      description: "Rows per GETBULK (default 25)",
    }),
    shared: sharedField,
  })
  .transform(withTimeout);

export type SnmpCollectorSpec = z.output<typeof schema>;

const IF = ["target", "ifIndex", "ifName", "ifDescr", "ifAlias"];
const ENV = ["target", "index", "descr"];
const SENSOR = ["target", "index", "name", "type"];
const if_ = (name: string, help: string): MetricInfo => ({ name, labels: IF, help });

export const metrics: readonly MetricInfo[] = [
  { name: "snmp.up", labels: ["target"], help: "1 the agent answered the last poll, 0 it did not" },
  {
    name: "snmp.invalid_replies",
    labels: ["target"],
    help: "datagrams from the agent that were not valid SNMP, since start (counter; only once there was one)",
  },
  if_("snmp.if.oper_status", "component state of ifOperStatus: up ok, down failed, dormant warning ..."),
  if_("snmp.if.admin_status", "ifAdminStatus: 1 up, 2 down, 3 testing"),
  if_("snmp.if.in_octets", "octets received (counter; ifHCInOctets when the agent has it)"),
  if_("snmp.if.out_octets", "octets sent (counter; ifHCOutOctets when the agent has it)"),
  if_("snmp.if.in_errors", "inbound packets with errors (counter)"),
  if_("snmp.if.out_errors", "outbound packets with errors (counter)"),
  if_("snmp.if.in_discards", "inbound packets discarded (counter)"),
  if_("snmp.if.out_discards", "outbound packets discarded (counter)"),
  if_("snmp.if.speed_mbps", "the interface's speed in Mbit/s (ifHighSpeed, else ifSpeed / 1e6)"),
  { name: "snmp.psu", labels: ENV, help: "component state of a power supply (CISCO-ENVMON)" },
  { name: "snmp.fan", labels: ENV, help: "component state of a fan (CISCO-ENVMON)" },
  { name: "snmp.temperature", labels: ENV, help: "component state of a temperature sensor (CISCO-ENVMON)" },
  { name: "snmp.temperature_c", labels: ENV, help: "a temperature in °C (CISCO-ENVMON)" },
  { name: "snmp.temperature_threshold_c", labels: ENV, help: "its shutdown threshold in °C" },
  { name: "snmp.sensor", labels: SENSOR, help: "an ENTITY-SENSOR reading, scaled to units of `type`" },
  { name: "snmp.sensor.status", labels: SENSOR, help: "component state of an ENTITY-SENSOR sensor" },
  {
    name: "snmp.device",
    labels: ["target", "index", "descr", "type"],
    help: "component state of a HOST-RESOURCES device (hrDeviceStatus)",
  },
  { name: "snmp.storage.used_percent", labels: ENV, help: "hrStorage used, percent of its size" },
  { name: "snmp.storage.size_bytes", labels: ENV, help: "hrStorage size in bytes" },
  { name: "snmp.storage.used_bytes", labels: ENV, help: "hrStorage used in bytes" },
  { name: "snmp.load.1", labels: ["target"], help: "UCD load average over 1 minute" },
  { name: "snmp.load.5", labels: ["target"], help: "UCD load average over 5 minutes" },
  { name: "snmp.load.15", labels: ["target"], help: "UCD load average over 15 minutes" },
  { name: "snmp.disk.used_percent", labels: ["target", "path"], help: "UCD dskTable: percent used" },
];

/** The metrics a block's `oids:` adds to the catalogue (with their labels), for `standby check`'s warnings. */
export function metricsOf(spec: SnmpCollectorSpec): MetricInfo[] {
  return spec.oids.map((o) => ({
    name: o.metric,
    labels: [
      "target",
      ...(o.table !== undefined ? ["index"] : []),
      ...Object.keys(o.label_columns ?? {}),
      ...Object.keys(o.labels ?? {}),
    ],
    help: o.states ? "component state (user-defined oids)" : "a number (user-defined oids)",
  }));
}

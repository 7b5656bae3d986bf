/**
 * The `snmp_set` action's config block: an SNMP target (`src/snmp/target.ts`), one varbind (`oid`, `type`,
 * `value`) or several set in one request (`set: [{oid, type, value}, ...]`), `verify` (read back, default true)
 * and `timeout`. Every OID is numeric and every value is checked against its type here, so a typo is an error
 * of `standby check` with its position, not a failed switch at 3 a.m.
 */
import { isIPv4 } from "node:net";
import { z } from "zod";
import { describeValue, duration, OID_RE, unionError } from "../../config/fields.js";
import { snmpTargetSchema } from "../../snmp/target.js";
import { SNMP_VALUE_TYPES, type SnmpValueType, type SnmpVarbindSpec } from "../types.js";

const INT32 = [-2147483648, 2147483647] as const;
const UINT32 = [0, 4294967295] as const;
/** An OCTET STRING is at most 65535 bytes (SMIv2). */
const MAX_OCTETS = 65535;

/** The value `value` takes as an SNMP `type`, normalized, or why it cannot. */
export function checkSnmpValue(
  type: SnmpValueType,
  value: unknown,
): { ok: true; value: number | string } | { ok: false; message: string } {
  const found = describeValue(value);
  const fail = (message: string) => ({ ok: false as const, message });
  switch (type) {
    case "integer":
    case "unsigned":
    case "gauge":
    case "counter":
    case "timeticks": {
      const [lo, hi] = type === "integer" ? INT32 : UINT32;
      const n = typeof value === "string" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n) || n < lo || n > hi)
        return fail(`found ${found}; ${type} takes a whole number from ${lo} to ${hi}`);
      return { ok: true, value: n };
    }
    case "ipaddress":
      if (typeof value !== "string" || !isIPv4(value))
        return fail(`found ${found}; ipaddress takes an IPv4 address, e.g. 192.0.2.1`);
      return { ok: true, value };
    case "oid":
      if (typeof value !== "string" || !OID_RE.test(value))
        return fail(`found ${found}; oid takes a numeric OID, e.g. 1.3.6.1.2.1.2.2.1.7.2`);
      return { ok: true, value: value.replace(/^\./, "") };
    case "string": {
      const text = typeof value === "number" ? String(value) : value;
      if (typeof text !== "string") return fail(`found ${found}; string takes text`);
      if (Buffer.byteLength(text) > MAX_OCTETS) return fail(`string is longer than ${MAX_OCTETS} bytes`);
      return { ok: true, value: text };
    }
    case "hex": {
      const digits = typeof value === "string" ? value.replace(/[\s:]/g, "").replace(/^0x/i, "") : "";
      if (typeof value !== "string" || !/^([0-9a-fA-F]{2})*$/.test(digits))
        return fail(`found ${found}; hex takes bytes as pairs of hex digits, e.g. "00 1a 2b" or "001a2b"`);
      if (digits.length / 2 > MAX_OCTETS) return fail(`hex is longer than ${MAX_OCTETS} bytes`);
      return { ok: true, value: digits.toLowerCase() };
    }
  }
}

const oid = z
  .string({
    error: (iss) =>
      iss.input === undefined ? undefined : `found ${describeValue(iss.input)}; expected a numeric OID`,
  })
  .regex(OID_RE, {
    error: (iss) =>
      `${describeValue(iss.input)} is not a numeric OID; expected e.g. 1.3.6.1.2.1.2.2.1.7.2 (names like ifAdminStatus.2 are not resolved)`,
  })
  .meta({ description: "A numeric OID, e.g. 1.3.6.1.2.1.2.2.1.7.2 (ifAdminStatus of ifIndex 2)" });

const valueType = z.enum(SNMP_VALUE_TYPES).meta({
  description: "integer, unsigned, gauge, counter, timeticks, ipaddress, oid, string, or hex (bytes)",
});

const value = z
  .union([z.number(), z.string()], {
    error: unionError((v) => `found ${describeValue(v)}; expected a number or a string`),
  })
  .meta({ description: "The value, as its type takes it: 2, 192.0.2.1, 1.3.6.1..., text, or hex bytes" });

/** Checks `v.value` against `v.type`, reporting at `path` + value. */
function refineValue(
  v: { type?: SnmpValueType; value?: unknown },
  ctx: z.RefinementCtx,
  path: (string | number)[],
) {
  if (v.type === undefined || v.value === undefined) return;
  const r = checkSnmpValue(v.type, v.value);
  if (!r.ok) ctx.addIssue({ code: "custom", path: [...path, "value"], message: r.message });
}

function normalize(v: { oid: string; type: SnmpValueType; value: number | string }): SnmpVarbindSpec {
  const r = checkSnmpValue(v.type, v.value);
  return { oid: v.oid.replace(/^\./, ""), type: v.type, value: r.ok ? r.value : v.value };
}

const varbind = z
  .strictObject({ oid, type: valueType, value })
  .superRefine((v, ctx) => refineValue(v, ctx, []));

export const snmpSetAction = z
  .strictObject({
    target: snmpTargetSchema,
    oid: oid.optional(),
    type: valueType.optional(),
    value: value.optional(),
    set: z
      .array(varbind)
      .min(1, { error: "list at least one {oid, type, value}" })
      .optional()
      .meta({ description: "Several varbinds set in one request (instead of oid/type/value)" }),
    verify: z
      .boolean()
      .default(true)
      .meta({ description: "Read the values back and compare (default true)" }),
    timeout: duration({ positive: true }).prefault("5s"),
  })
  .superRefine((a, ctx) => {
    const single = a.oid !== undefined || a.type !== undefined || a.value !== undefined;
    if (single && a.set !== undefined) {
      ctx.addIssue({ code: "custom", path: ["set"], message: "give either oid/type/value or set, not both" });
      return;
    }
    if (!single && a.set === undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          "needs oid, type and value, e.g. {oid: 1.3.6.1.2.1.2.2.1.7.2, type: integer, value: 2}, or set: [...]",
      });
      return;
    }
    if (single) {
      for (const k of ["oid", "type", "value"] as const)
        if (a[k] === undefined) ctx.addIssue({ code: "custom", message: `missing required key "${k}"` });
      refineValue(a, ctx, []);
      return;
    }
    const seen = new Set<string>();
    a.set!.forEach((v, i) => {
      const o = v.oid.replace(/^\./, "");
      if (seen.has(o))
        ctx.addIssue({
          code: "custom",
          path: ["set", i, "oid"],
          message: `${o} is set twice in one request`,
        });
      seen.add(o);
    });
  })
  .transform((a) => ({
    target: a.target,
    set:
      a.set !== undefined
        ? a.set.map(normalize)
        : [normalize({ oid: a.oid!, type: a.type!, value: a.value! })],
    verify: a.verify,
    timeout: a.timeout,
  }))
  .meta({ description: "SET one or more OIDs on an SNMP agent, then read them back" });

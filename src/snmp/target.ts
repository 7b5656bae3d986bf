/**
 * An SNMP agent as standby.yaml names it — for the `snmp` collector and the `snmp_set` action alike:
 * `{host, port?, version: 2c | 3 | 1, community}` or `{version: 3, user, auth: {protocol, key}, priv: {protocol,
 * key}}`, secrets from env/file, a timeout and retries per request.
 */
import { z } from "zod";
import { describeValue, duration, nonEmpty, port, secretSchema } from "../config/fields.js";

export const AUTH_PROTOCOLS = ["md5", "sha", "sha224", "sha256", "sha384", "sha512"] as const;
export const PRIV_PROTOCOLS = ["des", "aes", "aes256b", "aes256r"] as const;

const host = nonEmpty.refine((h) => !h.startsWith("-") && !/\s/.test(h), {
  error: (iss) => `${describeValue(iss.input)} is not a host name or address`,
});

export const snmpTargetSchema = z
  .strictObject({
    host: host.meta({ description: "The agent's address or name" }),
    port: port.default(161),
    version: z
      .union([z.literal("1"), z.literal("2c"), z.literal("3"), z.literal(1), z.literal(2), z.literal(3)])
      .transform((v): "1" | "2c" | "3" => (v === 2 || v === "2c" ? "2c" : (String(v) as "1" | "3")))
      .default("2c")
      .meta({ description: "2c (default), 3, or 1" }),
    community: secretSchema.optional().meta({ description: "v1/v2c: the community (a secret)" }),
    user: nonEmpty.optional().meta({ description: "v3: the USM user" }),
    auth: z
      .strictObject({ protocol: z.enum(AUTH_PROTOCOLS).default("sha"), key: secretSchema })
      .optional()
      .meta({ description: "v3: authentication (authNoPriv, or authPriv with priv)" }),
    priv: z
      .strictObject({ protocol: z.enum(PRIV_PROTOCOLS).default("aes"), key: secretSchema })
      .optional()
      .meta({ description: "v3: privacy (encryption); needs auth" }),
    timeout: duration({ positive: true }).optional().meta({ description: "Per request (default 1s)" }),
    retries: z.int().min(0).max(5).default(1).meta({ description: "Retries of a request (default 1)" }),
  })
  .superRefine((t, ctx) => {
    if (t.version !== "3" && t.community === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["community"],
        message: `SNMP v${t.version} needs a community, e.g. community: {env: SNMP_COMMUNITY}`,
      });
    if (t.version === "3" && t.user === undefined)
      ctx.addIssue({ code: "custom", path: ["user"], message: "SNMPv3 needs a user" });
    if (t.version !== "3" && (t.user !== undefined || t.auth !== undefined || t.priv !== undefined))
      ctx.addIssue({
        code: "custom",
        path: ["version"],
        message: "user, auth and priv are SNMPv3's: set version: 3, or use a community",
      });
    if (t.version === "3" && t.community !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["community"],
        message: "SNMPv3 has no community: use user/auth/priv",
      });
    if (t.priv !== undefined && t.auth === undefined)
      ctx.addIssue({ code: "custom", path: ["priv"], message: "priv needs auth (SNMPv3 has no noAuthPriv)" });
  })
  .meta({ description: "An SNMP agent: v2c with a community, or v3 with a user" });

export type SnmpTarget = z.output<typeof snmpTargetSchema>;

/** `host:port` ([v6]:port): the `target` label and how messages name the agent. */
export function targetLabel(t: Pick<SnmpTarget, "host" | "port">): string {
  return t.host.includes(":") ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/**
 * The snmp_trap receiver's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 *
 * The receiver emits the `snmp` collector's own series (the same metric, the same label object): its catalogue
 * lists them with the labels the poll gives them.
 */
import { isIP } from "node:net";
import { z } from "zod";
import type { MetricInfo } from "../../src/collector.js";
import { describeValue, name, nonEmpty, secretSchema } from "../../src/config/fields.js";
import { AUTH_PROTOCOLS, PRIV_PROTOCOLS } from "../../src/snmp/target.js";

export const type = "snmp_trap";

/** Where traps are received by default: the port devices send to unless told otherwise. */
export const DEFAULT_LISTEN = "udp:0.0.0.0:162";

const LISTEN_RE = /^udp:(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** `udp:HOST:PORT` (`udp:[::]:162`) → the socket to bind. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly transport: "udp4" | "udp6";
}

export function parseListen(text: string): ListenAddress | undefined {
  const m = LISTEN_RE.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const bracketed = m[1]!.startsWith("[");
  const host = bracketed ? m[1]!.slice(1, -1) : m[1]!;
  if (bracketed && isIP(host) !== 6) return undefined;
  return { host, port, transport: bracketed ? "udp6" : "udp4" };
}

/** One entry of `allow`: an address or a CIDR block. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

export function parseCidr(text: string): Cidr | undefined {
  const [address = "", bits, ...rest] = text.trim().split("/");
  const v = isIP(address);
  if (v === 0 || rest.length > 0) return undefined;
  const max = v === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? "ipv4" : "ipv6" };
}

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, {
  error: (iss) =>
    `${describeValue(iss.input)} is not an address or CIDR block; expected e.g. 192.0.2.1, 10.0.0.0/8 or 2001:db8::/32`,
});

const user = z
  .strictObject({
    user: nonEmpty.meta({ description: "The USM user name the devices send with" }),
    auth: z
      .strictObject({ protocol: z.enum(AUTH_PROTOCOLS).default("sha"), key: secretSchema })
      .meta({ description: "Authentication (required: a trap without it proves nothing)" }),
    priv: z
      .strictObject({ protocol: z.enum(PRIV_PROTOCOLS).default("aes"), key: secretSchema })
      .optional()
      .meta({ description: "Privacy (encryption): traps from this user must then be encrypted" }),
  })
  .meta({ description: "An SNMPv3 user whose traps and informs are accepted (authNoPriv or authPriv)" });

export const schema = z
  .strictObject({
    name,
    type: z.literal(type),
    listen: z
      .string()
      .refine((s) => parseListen(s) !== undefined, {
        error: (iss) =>
          `${describeValue(iss.input)} is not udp:HOST:PORT; expected e.g. udp:0.0.0.0:162 or udp:[::]:162`,
      })
      .default(DEFAULT_LISTEN)
      .meta({ description: "udp:HOST:PORT to receive on (default udp:0.0.0.0:162)" }),
    community: z
      .union([secretSchema.transform((s) => [s]), z.array(secretSchema).min(1)])
      .optional()
      .meta({ description: "v1/v2c: the accepted community, or a list of them (secrets)" }),
    users: z.array(user).min(1).optional().meta({ description: "v3: the accepted users" }),
    engine_id: z
      .string()
      .regex(/^(0x)?([0-9A-Fa-f]{2}){5,32}$/, {
        error: (iss) =>
          `${describeValue(iss.input)} is not an engine ID; expected 5 to 32 bytes in hex, e.g. 80001f8880a1b2c3d4`,
      })
      .optional()
      .meta({ description: "v3: this receiver's engine ID, in hex (informs' senders discover it)" }),
    allow: z.array(cidr).min(1).optional().meta({
      description:
        "Addresses or CIDR blocks traps are accepted from (default: only the agents the snmp collectors poll)",
    }),
  })
  .superRefine((s, ctx) => {
    if (s.community === undefined && s.users === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["community"],
        message:
          "a trap receiver needs a community (v1/v2c) or users (v3), e.g. community: {env: TRAP_COMMUNITY}",
      });
    const names = s.users?.map((u) => u.user) ?? [];
    for (const [i, n] of names.entries())
      if (names.indexOf(n) !== i)
        ctx.addIssue({ code: "custom", path: ["users", i, "user"], message: `user "${n}" is listed twice` });
  });

export type SnmpTrapCollectorSpec = z.output<typeof schema>;

export const metrics: readonly MetricInfo[] = [
  {
    name: "snmp.if.oper_status",
    labels: ["target", "ifIndex", "ifName", "ifDescr", "ifAlias"],
    help: "linkDown/linkUp (and an ifOperStatus varbind) as the poll's interface state: ok warning failed absent unknown",
  },
  {
    name: "snmp.if.admin_status",
    labels: ["target", "ifIndex", "ifName", "ifDescr", "ifAlias"],
    help: "an ifAdminStatus varbind of a trap: 1 up, 2 down, 3 testing",
  },
  {
    name: "snmp.psu",
    labels: ["target", "index", "descr"],
    help: "CISCO-ENVMON supply state of a trap: ok warning failed absent",
  },
  {
    name: "snmp.fan",
    labels: ["target", "index", "descr"],
    help: "CISCO-ENVMON fan state of a trap: ok warning failed absent",
  },
  {
    name: "snmp.sensor.status",
    labels: ["target", "index", "name", "type"],
    help: "an entPhySensorOperStatus varbind of a trap (ENTITY-SENSOR): ok unknown failed",
  },
];

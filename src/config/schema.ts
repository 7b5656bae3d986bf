/**
 * The one schema of standby's configuration: `standby.yaml` and rule files (`rules: [...]`).
 *
 * Input side: what users write (strings like `5s`, `3 samples`, `max over 3 samples == 0`); it is exported as
 * JSON Schema for editors. Output side: the types the engine, the controllers and the runners consume
 * (milliseconds, spans, parsed conditions, secrets). Objects are strict: an unknown key is an error.
 *
 * Paths (file secrets, os `root`, `state_dir`, rule globs) are left as written; the loader resolves them
 * against the config file's directory.
 */
import { isIP } from "node:net";
import { hostname } from "node:os";
import { z } from "zod";
import type { ActionSpec } from "../actions/types.js";
import { parseCondition } from "../engine/condition.js";
import { DEFAULT_FLAP } from "../engine/engine.js";
import type { Condition, RuleSpec } from "../engine/types.js";
import type { GroupSpec, HealthRef, MemberSpec } from "../groups/types.js";
import { formatDuration, parseDuration, parseSpan, type Span } from "../util/duration.js";
import type { Secret } from "./secret.js";

// ---------------------------------------------------------------------------------------------------------
// Messages

/** A short, safe description of a value a user wrote, for messages: `"abc"`, `5`, `a list`, `a map`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return "a list";
  if (ArrayBuffer.isView(v)) return "binary data";
  if (typeof v === "object") return "a map";
  return `a ${typeof v}`;
}

const DURATION_HINT = "expected e.g. 250ms, 3s, 5m, 1h";
const SPAN_HINT = "expected a duration (e.g. 5s, 2m) or a count (e.g. 3 samples)";
const SECRET_HINT = "expected a secret: {env: NAME}, {file: PATH} or a string";

/** A schema-level error function: only the type error (a value of the wrong type that is present). */
function typeError(message: (input: unknown) => string) {
  return (iss: { code?: string; input?: unknown }) =>
    iss.code === "invalid_type" && iss.input !== undefined ? message(iss.input) : undefined;
}

/** A schema-level error function for unions: the message when no alternative fits. */
function unionError(message: (input: unknown) => string) {
  return (iss: { code?: string; input?: unknown }) =>
    iss.code === "invalid_union" ? message(iss.input) : undefined;
}

/** The message for a union of single-key maps (`{route: {...}}`, `{exec: {...}}`) that none fits. */
function oneKeyMessage(what: string, kinds: readonly string[], example: string) {
  return (input: unknown): string => {
    if (input !== null && typeof input === "object" && !Array.isArray(input)) {
      const keys = Object.keys(input);
      if (keys.length === 1) return `unknown ${what} "${keys[0]}"; expected one of: ${kinds.join(", ")}`;
      if (keys.length === 0) return `empty ${what}; expected one of: ${kinds.join(", ")}, e.g. ${example}`;
      return `${/^[aeiou]/.test(what) ? "an" : "a"} ${what} has exactly one key, found ${keys.join(", ")}; expected one of: ${kinds.join(", ")}`;
    }
    return `found ${describeValue(input)}; expected a ${what} (${kinds.join(", ")}), e.g. ${example}`;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Scalars

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const METRIC_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OID_RE = /^\.?\d+(\.\d+)+$/;
/** What parseDuration / parseSpan accept, for editors (JSON Schema `pattern`); the transforms decide. */
const DURATION_PATTERN = /^\s*(0|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/;
const SPAN_PATTERN = /^\s*(\d+\s*samples?|0|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/;

/** Names of rules, groups, members, collectors: they appear in commands, events and metric labels. */
const name = z
  .string({ error: typeError((v) => `found ${describeValue(v)}; expected a name`) })
  .regex(NAME_RE, {
    error: (iss) => `${describeValue(iss.input)} is not a valid name; use letters, digits and . _ : -`,
  });

const metricName = z.string().regex(METRIC_RE, {
  error: (iss) => `${describeValue(iss.input)} is not a metric name; expected e.g. probe.rtt_ms`,
});

const nonEmpty = z.string().min(1, { error: "must not be empty" });

function duration(opts: { positive?: boolean } = {}) {
  return z
    .string({ error: typeError((v) => `${describeValue(v)} is not a duration; ${DURATION_HINT}`) })
    .regex(DURATION_PATTERN, {
      error: (iss) => `${describeValue(iss.input)} is not a duration; ${DURATION_HINT}`,
    })
    .transform((text, ctx): number => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `${describeValue(text)} is not a duration; ${DURATION_HINT}`,
        });
        return z.NEVER;
      }
      if (opts.positive && ms <= 0) {
        ctx.addIssue({ code: "custom", message: `must be longer than 0; ${DURATION_HINT}` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: "A duration: 250ms, 3s, 5m, 1h, 1d or combined (1m30s)" });
}

const span = z
  .string({
    error: typeError((v) => `${describeValue(v)} is not a duration or a sample count; ${SPAN_HINT}`),
  })
  .regex(SPAN_PATTERN, {
    error: (iss) => `${describeValue(iss.input)} is not a duration or a sample count; ${SPAN_HINT}`,
  })
  .transform((text, ctx): Span => {
    const s = parseSpan(text);
    if (!s) {
      ctx.addIssue({
        code: "custom",
        message: `${describeValue(text)} is not a duration or a sample count; ${SPAN_HINT}`,
      });
      return z.NEVER;
    }
    return s;
  })
  .meta({ description: "A duration (5s, 2m) or a count of consecutive samples (3 samples)" });

/**
 * A condition `[FN over WINDOW] OP VALUE`. A parse error is a custom issue whose `params.offset` is the
 * character offset in the condition text; the loader turns it into a column inside the YAML string.
 */
const condition = z
  .string({
    error: typeError(
      (v) => `found ${describeValue(v)}; expected a condition, e.g. "max over 3 samples == 0"`,
    ),
  })
  .transform((text, ctx): Condition => {
    // Trailing whitespace (a block scalar's final newline) changes no offset and is not an error.
    const r = parseCondition(text.trimEnd());
    if (!r.ok) {
      ctx.addIssue({ code: "custom", message: r.error.message, params: { offset: r.error.offset } });
      return z.NEVER;
    }
    return r.condition;
  })
  .meta({
    description:
      "[FN over WINDOW] OP VALUE, e.g. `max over 3 samples == 0`, `p95 over 10s > 150`, `in [failed, absent]`",
  });

const labelValue = z.union([z.string(), z.number().transform((n) => String(n))], {
  error: unionError((v) => `found ${describeValue(v)}; expected a string`),
});
const labels = z.record(z.string(), labelValue);

const httpUrl = z.url({
  protocol: /^https?$/,
  error: (iss) =>
    iss.input === undefined
      ? undefined
      : `${describeValue(iss.input)} is not an http(s) URL; expected e.g. http://127.0.0.1:9000/hook`,
});

const port = z.int().min(1).max(65535);

const LISTEN_RE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/;
const listenAddr = z.string().regex(LISTEN_RE, {
  error: (iss) => `${describeValue(iss.input)} is not HOST:PORT; expected e.g. 127.0.0.1:9477`,
});

// ---------------------------------------------------------------------------------------------------------
// Secrets

const envSecret = z
  .strictObject({
    env: z.string().regex(ENV_RE, {
      error: (iss) =>
        `${describeValue(iss.input)} is not an environment variable name; expected e.g. SNMP_COMMUNITY`,
    }),
  })
  .transform((s): Secret => ({ kind: "env", name: s.env }));
const fileSecret = z
  .strictObject({ file: nonEmpty })
  .transform((s): Secret => ({ kind: "file", path: s.file }));

/** `{env: NAME}` | `{file: PATH}` | a plain string (inline; prefer env or file). */
export const secretSchema = z
  .union(
    [
      z
        .string()
        .min(1, { error: "an empty secret; expected {env: NAME}, {file: PATH} or a string" })
        .transform((value): Secret => ({ kind: "inline", value })),
      envSecret,
      fileSecret,
    ],
    { error: unionError((v) => `found ${describeValue(v)}; ${SECRET_HINT}`) },
  )
  .meta({
    description: "A secret: {env: NAME} (environment), {file: PATH} (systemd credentials), or inline",
  });

/** A header or exec env value: a plain string stays a string; `{env}` / `{file}` are secrets. */
const headerValue = z.union([z.string(), envSecret, fileSecret], {
  error: unionError((v) => `found ${describeValue(v)}; expected a string, {env: NAME} or {file: PATH}`),
});

// ---------------------------------------------------------------------------------------------------------
// SNMP targets (collector and snmp_set action)

const snmpV2Target = z.strictObject({
  host: nonEmpty,
  port: port.default(161),
  version: z.literal("2c"),
  community: secretSchema,
});

const snmpV3Target = z
  .strictObject({
    host: nonEmpty,
    port: port.default(161),
    version: z.literal([3, "3"]).transform((): "3" => "3"),
    user: nonEmpty,
    auth: z
      .strictObject({
        protocol: z.enum(["md5", "sha", "sha224", "sha256", "sha384", "sha512"]),
        key: secretSchema,
      })
      .optional(),
    priv: z
      .strictObject({ protocol: z.enum(["des", "aes", "aes192", "aes256"]), key: secretSchema })
      .optional(),
    context: z.string().optional(),
  })
  .superRefine((t, ctx) => {
    if (t.priv && !t.auth) {
      ctx.addIssue({
        code: "custom",
        path: ["priv"],
        message: "privacy (priv) needs authentication (auth) too",
      });
    }
  });

export const snmpTargetSchema = z.discriminatedUnion("version", [snmpV2Target, snmpV3Target]);
export type SnmpTarget = z.output<typeof snmpTargetSchema>;

// ---------------------------------------------------------------------------------------------------------
// Actions

const actionTimeout = duration({ positive: true }).prefault("5s");

const routeAction = z
  .strictObject({
    to: nonEmpty,
    via: nonEmpty.optional(),
    dev: nonEmpty.optional(),
    table: z
      .union([nonEmpty, z.int().min(0)], {
        error: unionError((v) => `found ${describeValue(v)}; expected a table name or number`),
      })
      .optional(),
    metric: z.int().min(0).optional(),
    timeout: actionTimeout,
  })
  .superRefine((r, ctx) => {
    if (r.via === undefined && r.dev === undefined) {
      ctx.addIssue({ code: "custom", message: "a route needs `via` or `dev` (or both)" });
    }
  });

const addressAction = z.strictObject({
  address: nonEmpty,
  dev: nonEmpty,
  state: z.enum(["present", "absent"]).default("present"),
  timeout: actionTimeout,
});

const execAction = z.strictObject({
  argv: z
    .array(z.string())
    .min(1, { error: "needs at least the program to run: argv: [/path/to/program, arg...]" }),
  env: z.record(z.string(), headerValue).default({}).meta({
    description: "More environment; a value may be a secret ({env: NAME} or {file: PATH}), never shown",
  }),
  shell: z.boolean().default(false),
  timeout: actionTimeout,
});

const httpAction = z.strictObject({
  url: httpUrl,
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
  body: z.string().optional(),
  headers: z.record(z.string(), headerValue).default({}),
  timeout: actionTimeout,
});

const snmpSetAction = z.strictObject({
  target: snmpTargetSchema,
  oid: z.string().regex(OID_RE, {
    error: (iss) => `${describeValue(iss.input)} is not a numeric OID; expected e.g. 1.3.6.1.2.1.2.2.1.7.3`,
  }),
  type: z.enum([
    "integer",
    "unsigned",
    "counter32",
    "gauge32",
    "timeticks",
    "ipaddress",
    "oid",
    "string",
    "hex",
  ]),
  value: z.union([z.string(), z.number()], {
    error: unionError((v) => `found ${describeValue(v)}; expected a string or a number`),
  }),
  timeout: actionTimeout,
});

const bondAction = z.strictObject({ dev: nonEmpty, active_slave: nonEmpty, timeout: actionTimeout });

export const ACTION_KINDS = ["route", "address", "exec", "http", "snmp_set", "bond"] as const;

export const actionSchema = z.union(
  [
    z.strictObject({ route: routeAction }),
    z.strictObject({ address: addressAction }),
    z.strictObject({ exec: execAction }),
    z.strictObject({ http: httpAction }),
    z.strictObject({ snmp_set: snmpSetAction }),
    z.strictObject({ bond: bondAction }),
  ],
  { error: unionError(oneKeyMessage("action", ACTION_KINDS, "{route: {to: default, via: 10.0.0.1}}")) },
);

// ---------------------------------------------------------------------------------------------------------
// Rules

const flapSchema = z
  .strictObject({
    history: z.int().min(3).max(32).default(DEFAULT_FLAP.history),
    low: z.number().min(0).max(100).default(DEFAULT_FLAP.low),
    high: z.number().min(0).max(100).default(DEFAULT_FLAP.high),
  })
  .superRefine((f, ctx) => {
    if (!(f.low < f.high)) {
      ctx.addIssue({
        code: "custom",
        path: ["low"],
        message: `low (${f.low}) must be below high (${f.high})`,
      });
    }
  });

export const ruleSchema = z
  .strictObject({
    name,
    metric: metricName,
    labels: labels.default({}).meta({ description: "Label matchers; values may use * globs" }),
    problem: condition,
    recovery: condition.optional(),
    for: span.optional(),
    recover_for: span.optional(),
    stale_after: duration({ positive: true }).optional(),
    forget_after: duration({ positive: true }).optional().meta({
      description:
        "A series silent this long is forgotten: its rule instance is removed (default 10m, at least 2 × stale_after)",
    }),
    severity: z.enum(["critical", "warning"]).default("critical"),
    flap: z
      .union([z.literal(false), flapSchema], {
        error: unionError((v) => `found ${describeValue(v)}; expected false or a map {history, low, high}`),
      })
      .default({ ...DEFAULT_FLAP })
      .meta({
        description: "Flap detection (percent state change over `history` evaluations); false disables it",
      }),
    description: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.stale_after !== undefined && r.forget_after !== undefined && r.forget_after <= r.stale_after) {
      ctx.addIssue({
        code: "custom",
        path: ["forget_after"],
        message: `${formatDuration(r.forget_after)} must be longer than stale_after (${formatDuration(r.stale_after)}): a series goes unknown before it is forgotten`,
      });
    }
  });

export const ruleFileSchema = z
  .strictObject({ rules: z.array(ruleSchema) })
  .meta({ title: "standby rule file", description: "Rules that decide whether a part is healthy" });

// ---------------------------------------------------------------------------------------------------------
// Groups

const healthRef = z.union(
  [
    name.transform((rule): HealthRef => ({ rule })),
    z
      .strictObject({ rule: name, labels: labels.optional() })
      .transform((h): HealthRef => (h.labels ? { rule: h.rule, labels: h.labels } : { rule: h.rule })),
  ],
  {
    error: unionError(
      (v) => `found ${describeValue(v)}; expected a rule name or {rule: NAME, labels: {...}}`,
    ),
  },
);

const memberSchema = z.strictObject({
  name,
  priority: z.int().meta({ description: "Higher is preferred" }),
  health: z.array(healthRef).default([]),
  activate: z.array(actionSchema).default([]),
  deactivate: z.array(actionSchema).default([]),
});

const failbackSchema = z
  .strictObject({
    mode: z.enum(["auto", "manual", "never"]).default("auto"),
    hold: duration().prefault("30s"),
    max_hold: duration().optional().meta({ description: "Cap for the doubled hold; default hold × 8" }),
  })
  .superRefine((f, ctx) => {
    if (f.max_hold !== undefined && f.max_hold < f.hold) {
      ctx.addIssue({ code: "custom", path: ["max_hold"], message: "must not be shorter than hold" });
    }
  })
  .transform((f) => ({ mode: f.mode, hold: f.hold, max_hold: f.max_hold ?? f.hold * 8 }));

const dampingSchema = z.strictObject({
  max_switches: z.int().min(1).default(4),
  within: duration({ positive: true }).prefault("10m"),
});

export const groupSchema = z
  .strictObject({
    name,
    members: z.array(memberSchema).min(1, { error: "a group needs at least one member" }),
    failback: failbackSchema.prefault({}),
    damping: dampingSchema.prefault({}),
    min_healthy: z.int().min(1).optional(),
    verify: z
      .strictObject({
        rules: z.array(name).min(1, { error: "list at least one rule" }),
        within: duration({ positive: true }).prefault("5s"),
      })
      .optional(),
  })
  .superRefine((g, ctx) => {
    if (g.min_healthy !== undefined && g.min_healthy > g.members.length) {
      ctx.addIssue({
        code: "custom",
        path: ["min_healthy"],
        message: `${g.min_healthy} is more than the ${g.members.length} member(s) of the group`,
      });
    }
  })
  .transform((g) => ({
    ...g,
    // Highest priority first; Array.prototype.sort is stable, so ties keep file order.
    members: [...g.members].sort((a, b) => b.priority - a.priority),
  }));

// ---------------------------------------------------------------------------------------------------------
// Collectors

/** Polling collectors: `timeout` defaults to the interval, at most 10s. */
function withTimeout<T extends { interval: number; timeout?: number | undefined }>(
  c: T,
): T & { timeout: number } {
  return { ...c, timeout: c.timeout ?? Math.min(c.interval, 10_000) };
}

function polling(interval: string) {
  return {
    name,
    interval: duration({ positive: true }).prefault(interval),
    timeout: duration({ positive: true }).optional(),
  };
}

const osCollector = z
  .strictObject({
    ...polling("5s"),
    type: z.literal("os"),
    root: nonEmpty.optional().meta({ description: "A fake /sys root (tests); relative to the config file" }),
    network_filesystems: z.boolean().optional().meta({
      description:
        "Also report nfs, cifs, smb3, 9p, ceph, sshfs, fuse.* ... mounts (default false: a statfs on a dead server hangs; each statfs is bounded to 1s anyway)",
    }),
  })
  .transform(withTimeout);

const mdCollector = z.strictObject({ ...polling("10s"), type: z.literal("md") }).transform(withTimeout);

const smartCollector = z
  .strictObject({ ...polling("10m"), type: z.literal("smart"), devices: z.array(nonEmpty).optional() })
  .transform(withTimeout);

const probeSpec = z
  .strictObject({
    kind: z.enum(["icmp", "tcp", "http"]),
    target: nonEmpty.meta({ description: "icmp: a host; tcp: host:port; http: a URL" }),
    source: nonEmpty.optional(),
    interface: nonEmpty.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.kind === "tcp" && !/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(p.target)) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: `${describeValue(p.target)} is not HOST:PORT; a tcp probe expects e.g. 10.0.0.1:443`,
      });
    }
    if (p.kind === "http" && !/^https?:\/\/\S+$/.test(p.target)) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: `${describeValue(p.target)} is not an http(s) URL; an http probe expects e.g. http://10.0.0.1/health`,
      });
    }
    if (p.source !== undefined && isIP(p.source) === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: `${describeValue(p.source)} is not an IP address; expected the local address to probe from, e.g. 10.200.1.2`,
      });
    }
    if (p.interface !== undefined && p.kind !== "icmp") {
      ctx.addIssue({
        code: "custom",
        path: ["interface"],
        message: `a ${p.kind} probe cannot bind an interface; expected \`source\` (a local address) instead`,
      });
    }
    if (p.target.startsWith("-")) {
      ctx.addIssue({ code: "custom", path: ["target"], message: `${describeValue(p.target)} is not a host` });
    }
  });

const probeCollector = z
  .strictObject({ ...polling("1s"), type: z.literal("probe"), probe: probeSpec })
  .transform(withTimeout);

const snmpCollector = z
  .strictObject({
    ...polling("10s"),
    type: z.literal("snmp"),
    target: snmpTargetSchema,
    profiles: z.array(nonEmpty).default([]),
    oids: z
      .record(
        z.string(),
        z.string().regex(OID_RE, {
          error: (iss) => `${describeValue(iss.input)} is not a numeric OID; expected e.g. 1.3.6.1.2.1.1.3.0`,
        }),
      )
      .default({})
      .meta({ description: "Custom metrics: metric name → numeric OID" }),
  })
  .superRefine((c, ctx) => {
    if (c.profiles.length === 0 && Object.keys(c.oids).length === 0) {
      ctx.addIssue({ code: "custom", message: "reads nothing; give `profiles` (e.g. [if]) or `oids`" });
    }
  })
  .transform(withTimeout);

const ipmiCollector = z
  .strictObject({
    ...polling("30s"),
    type: z.literal("ipmi"),
    target: z
      .strictObject({
        host: nonEmpty,
        port: port.default(623),
        user: nonEmpty,
        password: secretSchema,
        interface: z.enum(["lan", "lanplus"]).default("lanplus"),
      })
      .optional()
      .meta({ description: "A remote BMC; without it, the local BMC (/dev/ipmi0)" }),
  })
  .transform(withTimeout);

const snmpTrapCollector = z.strictObject({
  name,
  type: z.literal("snmp_trap"),
  listen: z
    .string()
    .regex(/^(udp|tcp):.+:\d{1,5}$/, {
      error: (iss) => `${describeValue(iss.input)} is not PROTO:HOST:PORT; expected e.g. udp:127.0.0.1:1162`,
    })
    .default("udp:0.0.0.0:162"),
  community: secretSchema.optional(),
});

export const COLLECTOR_TYPES = ["os", "md", "smart", "probe", "snmp", "ipmi", "snmp_trap"] as const;

export const collectorSchema = z.discriminatedUnion("type", [
  osCollector,
  mdCollector,
  smartCollector,
  probeCollector,
  snmpCollector,
  ipmiCollector,
  snmpTrapCollector,
]);

// ---------------------------------------------------------------------------------------------------------
// notify, sinks, api, top level

export const notifySchema = z.union(
  [z.strictObject({ http: httpAction }), z.strictObject({ exec: execAction })],
  {
    error: unionError(
      oneKeyMessage("notifier", ["http", "exec"], '{http: {url: "http://127.0.0.1:9000/hook"}}'),
    ),
  },
);

const sinksSchema = z.strictObject({
  influx: z
    .strictObject({
      url: httpUrl,
      database: nonEmpty,
      username: nonEmpty.optional(),
      password: secretSchema.optional(),
      timeout: duration({ positive: true }).prefault("5s"),
    })
    .optional(),
});

const apiSchema = z.strictObject({
  listen: listenAddr.default("127.0.0.1:9477"),
  token: secretSchema.optional(),
});

export const configSchema = z
  .strictObject({
    host: nonEmpty
      .optional()
      .transform((h) => h ?? hostname())
      .meta({ description: "A label on everything; default: the machine's hostname" }),
    state_dir: nonEmpty.default("/var/lib/standby"),
    rules: z.array(nonEmpty).default([]).meta({ description: "Globs of rule files, relative to this file" }),
    collectors: z.array(collectorSchema).default([]),
    groups: z.array(groupSchema).default([]),
    notify: z.array(notifySchema).default([]),
    sinks: sinksSchema.prefault({}),
    api: apiSchema.optional(),
  })
  .meta({
    title: "standby.yaml",
    description: "standby: collectors, groups of redundant members, sinks, api",
  });

// ---------------------------------------------------------------------------------------------------------
// Output types

export type CollectorSpec = z.output<typeof collectorSchema>;
export type CollectorType = CollectorSpec["type"];
export type OsCollectorSpec = Extract<CollectorSpec, { type: "os" }>;
export type MdCollectorSpec = Extract<CollectorSpec, { type: "md" }>;
export type SmartCollectorSpec = Extract<CollectorSpec, { type: "smart" }>;
export type ProbeCollectorSpec = Extract<CollectorSpec, { type: "probe" }>;
export type SnmpCollectorSpec = Extract<CollectorSpec, { type: "snmp" }>;
export type IpmiCollectorSpec = Extract<CollectorSpec, { type: "ipmi" }>;
export type SnmpTrapCollectorSpec = Extract<CollectorSpec, { type: "snmp_trap" }>;
export type NotifySpec = z.output<typeof notifySchema>;
export type SinksSpec = z.output<typeof sinksSchema>;
export type InfluxSinkSpec = NonNullable<SinksSpec["influx"]>;
export type ApiSpec = z.output<typeof apiSchema>;
/** `standby.yaml` as validated, before its rule files are loaded. */
export type ConfigFileSpec = z.output<typeof configSchema>;
export type RuleFileSpec = z.output<typeof ruleFileSchema>;

/** The whole validated configuration: standby.yaml with its rule files loaded and paths resolved. */
export interface Config {
  readonly host: string;
  /** Absolute. */
  readonly state_dir: string;
  readonly rules: readonly RuleSpec[];
  /** The rule files loaded, as named in messages (relative to the working directory when the config path was). */
  readonly ruleFiles: readonly string[];
  readonly collectors: readonly CollectorSpec[];
  readonly groups: readonly GroupSpec[];
  readonly notify: readonly NotifySpec[];
  readonly sinks: SinksSpec;
  readonly api?: ApiSpec;
  /** The config file, as given to the loader. */
  readonly configFile: string;
}

// Compile-time checks: the schema's output is exactly what the engine, the controllers and the runners take.
type Assignable<T extends U, U> = T;
export type _CheckRule = Assignable<z.output<typeof ruleSchema>, RuleSpec>;
export type _CheckGroup = Assignable<z.output<typeof groupSchema>, GroupSpec>;
export type _CheckMember = Assignable<z.output<typeof memberSchema>, MemberSpec>;
export type _CheckAction = Assignable<z.output<typeof actionSchema>, ActionSpec>;
export type _CheckSecret = Assignable<z.output<typeof secretSchema>, Secret>;

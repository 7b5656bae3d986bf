/**
 * The one schema of standby's configuration: `standby.yaml` and rule files (`rules: [...]`).
 *
 * Input side: what users write (strings like `5s`, `3 samples`, `max over 3 samples == 0`); it is exported as
 * JSON Schema for editors. Output side: the types the engine, the controllers and the runners consume
 * (milliseconds, spans, parsed conditions, secrets). Objects are strict: an unknown key is an error, and so is a
 * collector type, action or sink that this build does not implement. The building blocks are in `fields.ts`;
 * each collector's block comes from its own folder through the registry (`collectors/index.ts`).
 *
 * Paths (file secrets, a collector's paths, `state_dir`, rule globs) are left as written; the loader resolves
 * them against the config file's directory.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { COLLECTORS, type CollectorSpec } from "../../collectors/index.js";
import { snmpSetAction } from "../actions/kinds/snmp_set.config.js";
import type { ActionSpec } from "../actions/types.js";
import {
  type ClusterSpec,
  clusterSchema,
  quorumSchema,
  scopeSchema,
  withClusterName,
} from "../cluster/config.js";
import { DEFAULT_FLAP } from "../engine/engine.js";
import type { RuleSpec } from "../engine/types.js";
import type { GroupSpec, HealthRef, MemberSpec } from "../groups/types.js";
import { influxSinkSchema } from "../sinks/influx/config.js";
import { formatDuration } from "../util/duration.js";
import {
  condition,
  describeValue,
  duration,
  headerValue,
  httpUrl,
  labels,
  listenAddr,
  metricName,
  name,
  nonEmpty,
  oneKeyMessage,
  secretSchema,
  span,
  unionError,
} from "./fields.js";
import type { Secret } from "./secret.js";

export type { CollectorSpec } from "../../collectors/index.js";
export type { OsCollectorSpec } from "../../collectors/os/config.js";
export type { ProbeCollectorSpec } from "../../collectors/probe/config.js";
export { describeValue, secretSchema } from "./fields.js";

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

const bondAction = z.strictObject({ dev: nonEmpty, active_slave: nonEmpty, timeout: actionTimeout });

export const ACTION_KINDS = ["route", "address", "exec", "http", "bond", "snmp_set"] as const;

export const actionSchema = z.union(
  [
    z.strictObject({ route: routeAction }),
    z.strictObject({ address: addressAction }),
    z.strictObject({ exec: execAction }),
    z.strictObject({ http: httpAction }),
    z.strictObject({ bond: bondAction }),
    z.strictObject({ snmp_set: snmpSetAction }),
  ],
  {
    error: unionError(
      oneKeyMessage(
        "action",
        ACTION_KINDS,
        "{route: {to: default, via: 10.0.0.1}}",
        "is not available in this build",
      ),
    ),
  },
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
    scope: scopeSchema,
    quorum: quorumSchema,
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
// Collectors: from the registry

type CollectorSchema = (typeof COLLECTORS)[number]["schema"];
export const COLLECTOR_TYPES: readonly string[] = COLLECTORS.map((c) => c.type);

/** A collector block: one of the types this build has (an unknown type is an error that names them). */
export const collectorSchema = z.discriminatedUnion(
  "type",
  COLLECTORS.map((c) => c.schema) as unknown as [CollectorSchema, ...CollectorSchema[]],
  {
    error: (iss) => {
      if (iss.code !== "invalid_union") return undefined;
      const t = (iss.input as { type?: unknown } | undefined)?.type;
      const available = `available: ${COLLECTOR_TYPES.join(", ")}`;
      if (t === undefined) return `a collector needs \`type\`; ${available}`;
      return `collector type ${describeValue(t)} is not available in this build; ${available}`;
    },
  },
);

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

/** The sinks of this build: `influx` (metrics.prom and the event log are always written). */
const sinksSchema = z
  .strictObject({ influx: influxSinkSchema.optional() })
  .meta({ description: "Where samples, decisions and events go besides metrics.prom and the event log" });

/** Where the API's Unix socket is when the config does not say (`api.socket`). */
export const DEFAULT_API_SOCKET = "/run/standby/api.sock";

export const apiSchema = z
  .strictObject({
    socket: z
      .string()
      .default(DEFAULT_API_SOCKET)
      .meta({
        description: `The CLI's Unix socket (mode 0660, group standby: its permissions are the authentication); "" turns it off. Default ${DEFAULT_API_SOCKET}`,
      }),
    listen: listenAddr.optional().meta({
      description: "HOST:PORT of a TCP listener (the web page, /metrics, remote tools); off unless set",
    }),
    token: secretSchema.optional().meta({
      description:
        "The token state-changing calls over TCP need (Authorization: Bearer); reads need it too on a non-loopback listener",
    }),
    metrics: z
      .boolean()
      .default(false)
      .meta({ description: "Serve GET /metrics (Prometheus) on the TCP listener" }),
  })
  .superRefine((a, ctx) => {
    if (a.metrics && a.listen === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["metrics"],
        message: "metrics: true needs a TCP listener (api.listen)",
      });
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
    api: apiSchema.prefault({}),
    cluster: clusterSchema.optional(),
  })
  .meta({
    title: "standby.yaml",
    description: "standby: collectors, groups of redundant members, sinks, api, cluster (fleet mode)",
  })
  .transform(withClusterName);

// ---------------------------------------------------------------------------------------------------------
// Output types

export type CollectorType = CollectorSpec["type"];
export type NotifySpec = z.output<typeof notifySchema>;
export type SinksSpec = z.output<typeof sinksSchema>;
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
  readonly api: ApiSpec;
  /** Fleet mode (docs/fleet.md): absent, every group is local. TLS paths absolute. */
  readonly cluster?: ClusterSpec;
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
export type _CheckCluster = Assignable<NonNullable<ConfigFileSpec["cluster"]>, ClusterSpec>;
export type _CheckClusterBack = Assignable<ClusterSpec, NonNullable<ConfigFileSpec["cluster"]>>;

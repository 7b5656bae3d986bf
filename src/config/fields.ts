/**
 * The building blocks of standby's configuration schema, shared by `schema.ts` (rules, groups, actions, the top
 * level) and by each collector's own `config.ts`: messages that say what was expected, scalars (names,
 * durations, spans, conditions, labels, URLs), secrets, and the fields every polling collector has.
 *
 * Nothing here imports a collector, so a collector's schema can be built from these without an import cycle.
 */
import { z } from "zod";
import { parseCondition } from "../engine/condition.js";
import type { Condition } from "../engine/types.js";
import { parseDuration, parseSpan, type Span } from "../util/duration.js";
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

export const DURATION_HINT = "expected e.g. 250ms, 3s, 5m, 1h";
export const SPAN_HINT = "expected a duration (e.g. 5s, 2m) or a count (e.g. 3 samples)";
export const SECRET_HINT = "expected a secret: {env: NAME}, {file: PATH} or a string";

/** A schema-level error function: only the type error (a value of the wrong type that is present). */
export function typeError(message: (input: unknown) => string) {
  return (iss: { code?: string; input?: unknown }) =>
    iss.code === "invalid_type" && iss.input !== undefined ? message(iss.input) : undefined;
}

/** A schema-level error function for unions: the message when no alternative fits. */
export function unionError(message: (input: unknown) => string) {
  return (iss: { code?: string; input?: unknown }) =>
    iss.code === "invalid_union" ? message(iss.input) : undefined;
}

/** The message for a union of single-key maps (`{route: {...}}`, `{exec: {...}}`) that none fits. */
export function oneKeyMessage(what: string, kinds: readonly string[], example: string, unknownSays?: string) {
  return (input: unknown): string => {
    if (input !== null && typeof input === "object" && !Array.isArray(input)) {
      const keys = Object.keys(input);
      if (keys.length === 1 && unknownSays && !kinds.includes(keys[0]!))
        return `${what} "${keys[0]}" ${unknownSays}; expected one of: ${kinds.join(", ")}`;
      if (keys.length === 1) return `unknown ${what} "${keys[0]}"; expected one of: ${kinds.join(", ")}`;
      if (keys.length === 0) return `empty ${what}; expected one of: ${kinds.join(", ")}, e.g. ${example}`;
      return `${/^[aeiou]/.test(what) ? "an" : "a"} ${what} has exactly one key, found ${keys.join(", ")}; expected one of: ${kinds.join(", ")}`;
    }
    return `found ${describeValue(input)}; expected a ${what} (${kinds.join(", ")}), e.g. ${example}`;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Scalars

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
export const METRIC_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
export const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const OID_RE = /^\.?\d+(\.\d+)+$/;
/** What parseDuration / parseSpan accept, for editors (JSON Schema `pattern`); the transforms decide. */
export const DURATION_PATTERN = /^\s*(0|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/;
export const SPAN_PATTERN = /^\s*(\d+\s*samples?|0|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/;

/** Names of rules, groups, members, collectors: they appear in commands, events and metric labels. */
export const name = z
  .string({ error: typeError((v) => `found ${describeValue(v)}; expected a name`) })
  .regex(NAME_RE, {
    error: (iss) => `${describeValue(iss.input)} is not a valid name; use letters, digits and . _ : -`,
  });

export const metricName = z
  .string()
  .regex(METRIC_RE, {
    error: (iss) => `${describeValue(iss.input)} is not a metric name; expected e.g. probe.rtt_ms`,
  })
  // Metric names are keys of plain objects (metrics.prom): JavaScript's prototype setter is not one.
  .refine((m) => m !== "__proto__", {
    error: '"__proto__" is not a metric name; expected e.g. probe.rtt_ms',
  });

export const nonEmpty = z.string().min(1, { error: "must not be empty" });

export function duration(opts: { positive?: boolean } = {}) {
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

export const span = z
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
export const condition = z
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

export const labelValue = z.union([z.string(), z.number().transform((n) => String(n))], {
  error: unionError((v) => `found ${describeValue(v)}; expected a string`),
});
export const labels = z.record(z.string(), labelValue);

export const httpUrl = z.url({
  protocol: /^https?$/,
  error: (iss) =>
    iss.input === undefined
      ? undefined
      : `${describeValue(iss.input)} is not an http(s) URL; expected e.g. http://127.0.0.1:9000/hook`,
});

export const port = z.int().min(1).max(65535);

export const LISTEN_RE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/;
export const listenAddr = z.string().regex(LISTEN_RE, {
  error: (iss) => `${describeValue(iss.input)} is not HOST:PORT; expected e.g. 127.0.0.1:9477`,
});

// ---------------------------------------------------------------------------------------------------------
// Secrets

export const envSecret = z
  .strictObject({
    env: z.string().regex(ENV_RE, {
      error: (iss) =>
        `${describeValue(iss.input)} is not an environment variable name; expected e.g. SNMP_COMMUNITY`,
    }),
  })
  .transform((s): Secret => ({ kind: "env", name: s.env }));
export const fileSecret = z
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
export const headerValue = z.union([z.string(), envSecret, fileSecret], {
  error: unionError((v) => `found ${describeValue(v)}; expected a string, {env: NAME} or {file: PATH}`),
});

// ---------------------------------------------------------------------------------------------------------
// Collectors

/** Polling collectors: `timeout` defaults to the interval, at most 10s. */
export function withTimeout<T extends { interval: number; timeout?: number | undefined }>(
  c: T,
): T & { timeout: number } {
  return { ...c, timeout: c.timeout ?? Math.min(c.interval, 10_000) };
}

/** The fields of every polling collector: its name, `interval` (with a default) and `timeout`. */
export function polling(interval: string) {
  return {
    name,
    interval: duration({ positive: true }).prefault(interval),
    timeout: duration({ positive: true }).optional(),
  };
}

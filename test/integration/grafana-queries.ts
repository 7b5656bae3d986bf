/**
 * What the dashboard test reads from grafana/dashboards/*.json — every panel target, annotation and template
 * variable query, with where it is — how it substitutes Grafana's variables into them, and the schema a query may
 * name: the collectors' metric catalogue (each metric a measurement with `host`, `collector` and its labels as
 * tags, `value` and `state` as fields) and the influx sink's own measurements (INFLUX-SCHEMA.md).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { COLLECTORS } from "../../collectors/index.js";

export const DIR = "grafana/dashboards";
export const DS_UID = "standby-influxdb";
export const DB = "standby";

export interface Target {
  refId?: string;
  query?: string;
  rawQuery?: boolean;
  resultFormat?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Panel extends Target {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
export interface Dashboard {
  uid?: string;
  title?: string;
  tags?: string[];
  time?: { from: string; to: string };
  schemaVersion?: number;
  panels?: Panel[];
  templating?: {
    list?: {
      name: string;
      type: string;
      query?: string | { query: string };
      datasource?: Target["datasource"];
    }[];
  };
  annotations?: {
    list?: { name: string; datasource?: Target["datasource"]; query?: string; target?: Target }[];
  };
}

/** One query of a dashboard, with where it is. */
export interface Query {
  dashboard: string;
  panel: string;
  /** The title of the row the panel is in (undefined: above every row, or an annotation or variable). */
  row?: string;
  refId: string;
  query: string;
}

export const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
export const dashboards = files.map((f) => ({ file: f, text: readFileSync(join(DIR, f), "utf8") }));
export const parsed = (): { file: string; d: Dashboard }[] =>
  dashboards.map(({ file, text }) => ({ file, d: JSON.parse(text) as Dashboard }));

/** Every panel, rows' nested panels (collapsed rows) included. */
export function allPanels(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every query of a dashboard: panel targets, annotations, template variables. */
export function queriesOf(file: string, d: Dashboard): Query[] {
  const out: Query[] = [];
  let row: string | undefined;
  for (const p of allPanels(d)) {
    if (p.type === "row") row = p.title;
    for (const t of p.targets ?? [])
      out.push({
        dashboard: file,
        panel: p.title ?? `#${p.id}`,
        ...(row !== undefined ? { row } : {}),
        refId: t.refId ?? "?",
        query: t.query ?? "",
      });
  }
  for (const a of d.annotations?.list ?? [])
    if (a.datasource?.uid === DS_UID)
      out.push({
        dashboard: file,
        panel: `annotation "${a.name}"`,
        refId: a.target?.refId ?? "-",
        query: a.target?.query ?? a.query ?? "",
      });
  for (const v of d.templating?.list ?? [])
    if (v.type === "query")
      out.push({
        dashboard: file,
        panel: `variable $${v.name}`,
        refId: "-",
        query: typeof v.query === "string" ? v.query : (v.query?.query ?? ""),
      });
  return out;
}

/** @grafana/data's escapeRegex: what Grafana does to a variable's value used inside /.../. */
const escapeRegex = (s: string) => s.replace(/[\\^$*+?.()|[\]{}/]/g, "\\$&");

/**
 * The query as Grafana sends it: `$timeFilter` → the last hour, `$__interval` → 10s, a variable inside a regex
 * (`/^$host$/`) → its escaped value, or `(a|b)` for several (multi-value, "All").
 */
export function substitute(q: string, vars: Record<string, string[]>): string {
  let s = q.replace(/\$timeFilter\b/g, "time > now() - 1h").replace(/\$__interval\b/g, "10s");
  s = s.replace(/\/\^\$(\w+)\$\//g, (m, name: string) => {
    const v = vars[name];
    if (!v || v.length === 0) return m;
    return `/^${v.length === 1 ? escapeRegex(v[0]!) : `(${v.map(escapeRegex).join("|")})`}$/`;
  });
  const left = s.match(/\$\w+|\$\{[^}]*\}|\[\[[^\]]*\]\]/);
  if (left) throw new Error(`a variable this test does not substitute: ${left[0]}`);
  return s;
}

// --- the schema the dashboards may use: the collectors' catalogue and INFLUX-SCHEMA.md -----------------------------
export type FieldType = "float" | "integer" | "string";
export interface Measurement {
  tags: string[];
  /** standby_rule: any instance label is a tag. */
  anyTag?: boolean;
  fields: Record<string, FieldType>;
}
const S = "string" as const;
const I = "integer" as const;
const F = "float" as const;
export const SCHEMA: Record<string, Measurement> = {
  standby_rule: {
    tags: ["host", "rule", "severity"],
    anyTag: true,
    fields: { state: S, prev: S, firing: I, value: F, reason: S },
  },
  standby_group: {
    tags: ["host", "group"],
    fields: {
      active: S,
      active_priority: I,
      active_rank: I,
      failed_over: I,
      members: I,
      healthy_members: I,
      switching: I,
      frozen: I,
      pinned: I,
      // a shared group (fleet mode)
      leader: S,
      is_leader: I,
      fence: S,
    },
  },
  standby_member: {
    tags: ["host", "group", "member"],
    fields: {
      health: S,
      health_value: I,
      healthy: I,
      active: I,
      priority: I,
      reason: S,
      // a member of a shared group (fleet mode)
      votes_healthy: I,
      votes_degraded: I,
      votes_unhealthy: I,
      votes_unknown: I,
    },
  },
  standby_event: {
    tags: ["host", "kind", "group"],
    fields: {
      ...Object.fromEntries(
        [
          "text",
          "reason",
          "from",
          "to",
          "member",
          "rule",
          "action",
          "phase",
          "collector",
          "target",
          "state",
          "json",
        ].map((k) => [k, S]),
      ),
      ok: I,
      duration_ms: F,
      dry_run: I,
    },
  },
  standby_sink: {
    tags: ["host", "sink"],
    fields: {
      ...Object.fromEntries(
        [
          "queue_points",
          "spool_points",
          "spool_bytes",
          "spool_segments",
          "written",
          "retried",
          "dropped",
          "dead_lettered",
        ].map((k) => [k, I]),
      ),
      last_error: S,
    },
  },
};
for (const c of COLLECTORS)
  for (const m of c.metrics)
    SCHEMA[m.name] = {
      tags: ["host", "collector", ...m.labels.map((l) => (l === "time" ? "time_" : l))],
      fields: { value: F, state: S },
    };

/** What a query names that the schema does not have: the measurement, or a tag or field of it. */
export function unknownNames(q: string): string[] {
  const from = q.match(/\bFROM\s+"([^"]+)"/i);
  if (!from) return [`no FROM "measurement" in ${q}`];
  const m = SCHEMA[from[1]!];
  if (!m) return [`measurement "${from[1]}" is neither a collector's metric nor in INFLUX-SCHEMA.md`];
  const rest = q.replace(/\bAS\s+"[^"]*"/gi, "").replace(/\bFROM\s+"[^"]+"/i, "");
  const names = [...rest.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
  return names
    .filter((n) => !m.tags.includes(n) && !(n in m.fields) && !m.anyTag)
    .map((n) => `"${n}" is not a tag or field of "${from[1]}"`);
}

/** `sinks.influx` in standby.yaml (README in this folder). */
import { z } from "zod";
import { describeValue, duration, httpUrl, nonEmpty, secretSchema } from "../../config/fields.js";

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$/i;
const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A size on disk: `1GB`, `512MB`, `64MiB`, a number of bytes. */
export const size = z
  .union([z.number(), z.string()])
  .transform((v, ctx): number => {
    const m = typeof v === "number" ? [String(v), String(v), "B"] : SIZE_RE.exec(v);
    const n = m ? Number(m[1]) * (UNITS[(m[2] ?? "B").toLowerCase()] ?? Number.NaN) : Number.NaN;
    if (!Number.isFinite(n) || n <= 0) {
      ctx.addIssue({
        code: "custom",
        message: `${describeValue(v)} is not a size; expected e.g. 512MB, 1GB`,
      });
      return z.NEVER;
    }
    return Math.round(n);
  })
  .meta({ description: "A size: 512MB, 1GB, 64MiB, or bytes" });

const spoolSchema = z.strictObject({
  memory_points: z
    .int()
    .min(1000)
    .default(100_000)
    .meta({ description: "Points held in memory before disk" }),
  max_size: size.prefault("1GB"),
  max_age: duration({ positive: true }).prefault("7d"),
});

export const influxSinkSchema = z
  .strictObject({
    url: httpUrl,
    database: nonEmpty.default("standby"),
    retention_policy: nonEmpty.optional(),
    username: nonEmpty.optional(),
    password: secretSchema.optional(),
    create_database: z.boolean().default(true),
    retention: duration({ positive: true }).optional(),
    batch_size: z.int().min(1).max(100_000).default(5000),
    flush_interval: duration({ positive: true }).prefault("1s"),
    timeout: duration({ positive: true }).prefault("10s"),
    samples: z.boolean().default(true),
    exclude_metrics: z.array(nonEmpty).default([]),
    spool: spoolSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.retention !== undefined && !s.create_database)
      ctx.addIssue({
        code: "custom",
        path: ["retention"],
        message:
          "retention needs create_database: true (standby creates the retention policy with the database)",
      });
  })
  .meta({ description: "InfluxDB (1.x, or 2.x/3.x through their v1 API): samples, decisions and events" });

export type InfluxSinkSpec = z.output<typeof influxSinkSchema>;

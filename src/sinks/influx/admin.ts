/**
 * Creating the database and its retention policy, with node-influx (`influx`): InfluxDB 1.x's `CREATE DATABASE`,
 * `CREATE|ALTER RETENTION POLICY`. InfluxDB 2.x/3.x have no such statements in their v1 API (and a user may lack the
 * privilege): that is a refusal, reported and not retried; a server that did not answer is tried again later.
 */
import { InfluxDB } from "influx";
import type { InfluxSinkSpec } from "./config.js";
import type { InfluxTarget } from "./writer.js";

/** "ok", "unreachable", or why InfluxDB refused. */
export async function createDatabase(
  t: InfluxTarget,
  spec: Pick<InfluxSinkSpec, "retention" | "retention_policy">,
): Promise<"ok" | "unreachable" | string> {
  const url = new URL(t.url);
  const https = url.protocol === "https:";
  const influx = new InfluxDB({
    host: url.hostname,
    port: Number(url.port || (https ? 443 : 80)),
    protocol: https ? "https" : "http",
    ...(t.username ? { username: t.username, password: t.password ?? "" } : {}),
    options: { timeout: t.timeoutMs },
    // One try with the sink's timeout (the pool's default is 30 s and 2 retries).
    pool: { requestTimeout: t.timeoutMs, maxRetries: 0 },
  });
  try {
    await influx.createDatabase(t.database);
    if (spec.retention !== undefined) {
      const name = spec.retention_policy ?? "standby";
      const duration = `${Math.max(1, Math.round(spec.retention / 3_600_000))}h`;
      const rps = await influx.showRetentionPolicies(t.database);
      const opts = { duration, replication: 1, isDefault: true, database: t.database };
      if (rps.some((r) => r.name === name)) await influx.alterRetentionPolicy(name, opts);
      else await influx.createRetentionPolicy(name, opts);
    }
    return "ok";
  } catch (err) {
    return unreachable(err) ? "unreachable" : errText(err);
  }
}

/** node-influx's error for a server that did not answer (refused, timed out), not one that said no. */
function unreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string; res?: unknown };
  if (e?.res !== undefined) return false;
  return (
    e?.name === "ServiceNotAvailableError" ||
    /No host available|ECONNREFUSED|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENOTFOUND|timeout/i.test(
      e?.message ?? "",
    ) ||
    (e?.code !== undefined && /^E[A-Z]+$/.test(e.code))
  );
}

/** node-influx's errors carry the whole request and response: only the message is logged. */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

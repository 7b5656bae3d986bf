import { parseListen } from "../../api/server.js";
import { formatError, loadConfig } from "../../config/load.js";
import { resolveSecret } from "../../config/secrets.js";
import type { DaemonStatus } from "../../daemon/daemon.js";
import type { StandbyEvent } from "../../groups/events.js";
import { formatDuration } from "../../util/duration.js";
import { formatLabels } from "../format.js";
import type { Io } from "../io.js";

export interface ApiTarget {
  readonly base: string;
  readonly token?: string;
}

/** Where the running daemon listens, from its config (the same file it runs with). */
export async function apiTarget(configFile: string, io: Io): Promise<ApiTarget | undefined> {
  const loaded = await loadConfig(configFile);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatError(e));
    return undefined;
  }
  const api = loaded.config.api ?? { listen: "127.0.0.1:9477" };
  const { host, port } = parseListen(api.listen);
  const h = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  try {
    const token = api.token ? await resolveSecret(api.token) : undefined;
    return { base: `http://${h}:${port}`, ...(token ? { token } : {}) };
  } catch (e) {
    io.err(`standby: api token: ${(e as Error).message}`);
    return undefined;
  }
}

async function call(
  t: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${t.base}${path}`, {
    method,
    headers: {
      ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, json: await res.json() };
}

function unreachable(t: ApiTarget, e: unknown): string {
  const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
  return `standby: cannot reach the daemon at ${t.base} (${cause}); is \`standby run\` running with this config?`;
}

const time = (ts: number) =>
  new Date(ts)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");

export function formatStatus(s: DaemonStatus): string[] {
  const lines: string[] = [];
  const ago = (ts: number) => formatDuration(Math.max(0, Math.round((s.now - ts) / 1000) * 1000));
  lines.push(
    `standby on ${s.host}: up ${ago(s.started_at)}${s.dry_run ? " (DRY RUN: no action runs)" : ""}; config ${s.config}`,
  );
  for (const w of s.warnings ?? []) lines.push(`warning: ${w}`);
  if (s.last_reload)
    lines.push(
      `last reload ${time(s.last_reload.ts)} (${ago(s.last_reload.ts)} ago): ${s.last_reload.message}`,
    );
  for (const g of s.groups) {
    const flags = [
      g.frozen ? `FROZEN: ${g.frozen.reason}` : "",
      g.pin ? `pinned to ${g.pin.member}${g.pin.until ? ` until ${time(g.pin.until)}` : ""}` : "",
      g.switching ? "switch in progress" : "",
    ].filter(Boolean);
    lines.push(
      `group ${g.name}: active ${g.active} for ${ago(g.since)}; failback ${g.failback} (hold ${formatDuration(g.hold_ms)})${flags.length ? `; ${flags.join("; ")}` : ""}`,
    );
    const width = Math.max(...g.members.map((m) => m.name.length));
    for (const m of g.members) {
      const mark = m.name === g.active ? "*" : " ";
      const why =
        m.health === "healthy" ? (m.healthy_since ? `healthy for ${ago(m.healthy_since)}` : "") : m.reason;
      lines.push(
        `  ${mark} ${m.name.padEnd(width)}  prio ${String(m.priority).padStart(4)}  ${m.health.padEnd(9)}  ${why}`,
      );
    }
  }
  for (const c of s.collectors ?? [])
    if (c.counters)
      lines.push(
        `collector ${c.name}: ${Object.entries(c.counters)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
      );
  const ix = s.sinks?.influx;
  if (ix) {
    const spool = ix.spool_points
      ? `, ${ix.spool_points} on disk (${ix.spool_segments} segments, ${ix.spool_bytes} bytes)`
      : "";
    const err = ix.last_error
      ? `; last error ${ix.last_error_at ? `${ago(ix.last_error_at)} ago` : ""}: ${ix.last_error}`
      : "";
    lines.push(
      `sink influx ${ix.url} db ${ix.database}: ${ix.failing ? "FAILING, " : ""}${ix.written} points written, ${ix.queue_points} queued${spool}; retried ${ix.retried}, dropped ${ix.dropped}, dead-lettered ${ix.dead_lettered}${err}`,
    );
  }
  const notOk = s.rules.filter((r) => r.state !== "ok");
  lines.push(`rules: ${s.rules.length} instances, ${notOk.length} not ok`);
  for (const r of notOk)
    lines.push(`  ${r.rule}${formatLabels(r.labels)} ${r.state} for ${ago(r.since)} — ${r.reason}`);
  if (s.events.length) {
    lines.push("last events:");
    for (const e of s.events.filter((x) => x.kind !== "rule").slice(-10))
      lines.push(`  ${formatEventLine(e)}`);
  }
  return lines;
}

function formatEventLine(e: StandbyEvent): string {
  return `${time(e.ts)} ${e.kind}${"group" in e ? ` ${e.group}` : ""}: ${e.reason}`;
}

export async function runStatus(opts: { config: string; json?: boolean }, io: Io): Promise<number> {
  const t = await apiTarget(opts.config, io);
  if (!t) return 1;
  try {
    const r = await call(t, "GET", "/v1/status");
    if (r.status !== 200) {
      io.err(`standby: ${(r.json as { error?: string }).error ?? `HTTP ${r.status}`}`);
      return 1;
    }
    if (opts.json) io.out(JSON.stringify(r.json, null, 2));
    else for (const l of formatStatus(r.json as DaemonStatus)) io.out(l);
    return 0;
  } catch (e) {
    io.err(unreachable(t, e));
    return 1;
  }
}

export async function runControl(
  opts: { config: string; group: string; command: string; body: Record<string, unknown> },
  io: Io,
): Promise<number> {
  const t = await apiTarget(opts.config, io);
  if (!t) return 1;
  try {
    const r = await call(
      t,
      "POST",
      `/v1/groups/${encodeURIComponent(opts.group)}/${opts.command}`,
      opts.body,
    );
    const j = r.json as { ok?: boolean; error?: string; events?: StandbyEvent[] };
    if (r.status !== 200 || !j.ok) {
      io.err(`standby ${opts.command} ${opts.group}: ${j.error ?? `HTTP ${r.status}`}`);
      return 1;
    }
    for (const e of j.events ?? []) io.out(formatEventLine(e));
    return 0;
  } catch (e) {
    io.err(unreachable(t, e));
    return 1;
  }
}

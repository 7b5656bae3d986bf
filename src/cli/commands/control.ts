import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { userInfo } from "node:os";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import { parseListen } from "../../api/server.js";
import { type ApiSpec, apiSchema, DEFAULT_API_SOCKET } from "../../config/schema.js";
import { resolveSecret } from "../../config/secrets.js";
import type { DaemonStatus } from "../../daemon/daemon.js";
import type { StandbyEvent } from "../../groups/events.js";
import { formatDuration, parseDuration } from "../../util/duration.js";
import { eventTitle, formatLabels } from "../format.js";
import type { Io } from "../io.js";

export interface ApiTarget {
  /** The Unix socket, or `http://host:port` of the TCP listener. */
  readonly socket?: string;
  readonly base?: string;
  readonly token?: string;
  /** What the hints name. */
  readonly where: string;
}

/**
 * Where the running daemon listens, from the `api:` block of its config file — only that block is read and checked
 * (an operator command must work when the rest of the file has a typo: exactly after a refused reload, when it is
 * needed). The socket is preferred; `--socket` overrides; no readable config means the default socket.
 */
export async function apiTarget(
  configFile: string,
  io: Io,
  opts: { socket?: string } = {},
): Promise<ApiTarget | undefined> {
  if (opts.socket) return { socket: opts.socket, where: opts.socket };
  const api = await readApiBlock(configFile, io);
  if (api === undefined) return undefined;
  if (api.socket) return { socket: api.socket, where: api.socket };
  if (!api.listen) {
    io.err(
      `standby: ${configFile} turns the socket off (api.socket: "") and sets no api.listen: nothing to reach`,
    );
    return undefined;
  }
  const { host, port } = parseListen(api.listen);
  const h = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  const base = `http://${h}:${port}`;
  // The token is read when this user can; without it, reads work on loopback and state changes are refused (401).
  const token = api.token ? await resolveSecret(api.token).catch(() => undefined) : undefined;
  return { base, where: base, ...(token ? { token: token.trim() } : {}) };
}

/** The config's `api` block alone, checked by its own schema; the default when the file cannot be read. */
async function readApiBlock(configFile: string, io: Io): Promise<ApiSpec | undefined> {
  let text: string;
  try {
    text = await readFile(configFile, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "EACCES") throw e;
    return apiSchema.parse({});
  }
  // The api: block even from a file whose YAML is broken elsewhere (the parser keeps what it could read).
  let block: unknown;
  try {
    const doc = parseDocument(text);
    const node = doc.get("api", true) as { toJSON?: () => unknown } | unknown;
    block =
      node && typeof node === "object" && "toJSON" in node
        ? (node as { toJSON(): unknown }).toJSON()
        : (node ?? {});
    if (doc.errors.length && node === undefined) throw new Error("no api block read");
  } catch {
    io.err(
      `standby: cannot read api: from ${configFile} (YAML errors); using the default socket ${DEFAULT_API_SOCKET}`,
    );
    return apiSchema.parse({});
  }
  const r = apiSchema.safeParse(block);
  if (!r.success) {
    io.err(
      `standby: ${configFile}: api: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
    return undefined;
  }
  const base = dirname(resolve(configFile));
  const socket = r.data.socket === "" ? "" : resolve(base, r.data.socket);
  const token =
    r.data.token?.kind === "file"
      ? { ...r.data.token, path: resolve(base, r.data.token.path) }
      : r.data.token;
  return { ...r.data, socket, ...(token ? { token } : {}) };
}

async function call(
  t: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const text = body !== undefined ? JSON.stringify(body) : undefined;
  const url = new URL(path, t.base ?? "http://localhost");
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        ...(t.socket ? { socketPath: t.socket } : { host: url.hostname, port: url.port }),
        path: `${url.pathname}${url.search}`,
        method,
        headers: {
          host: t.socket ? "localhost" : url.host,
          ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
          ...(text !== undefined
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(text) }
            : {}),
          ...whoAmI(),
        },
        timeout: 5000,
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => {
          try {
            resolvePromise({ status: res.statusCode ?? 0, json: JSON.parse(data) });
          } catch {
            resolvePromise({
              status: res.statusCode ?? 0,
              json: { error: data.trim() || `HTTP ${res.statusCode}` },
            });
          }
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error("no answer within 5 s"), { code: "ETIMEDOUT" })),
    );
    req.on("error", reject);
    req.end(text);
  });
}

/** Why the daemon cannot be reached, and what to check. */
export function unreachable(t: ApiTarget, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? (e as { cause?: { code?: string } }).cause?.code;
  const msg = (e as Error).message;
  if (t.socket) {
    if (code === "ENOENT")
      return `standby: no daemon socket at ${t.socket}. Is it running (systemctl status standby)? In another mount or network namespace (the socket is a file: run this where the daemon runs)? Or with another api.socket (--socket PATH)?`;
    if (code === "EACCES" || code === "EPERM")
      return `standby: permission denied on ${t.socket}: run as root or as a member of the group standby (usermod -aG standby $USER)`;
    if (code === "ECONNREFUSED")
      return `standby: ${t.socket} is there but nothing answers: the daemon is not running (a stale socket of a crashed one?)`;
    return `standby: cannot reach the daemon at ${t.socket} (${code ?? msg})`;
  }
  if (code === "ECONNREFUSED")
    return `standby: nothing listens at ${t.where}: is the daemon running, with this api.listen? (or use the socket)`;
  return `standby: cannot reach the daemon at ${t.where} (${code ?? msg}); is \`standby run\` running with this config?`;
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
      g.waiting ? `waiting: ${g.waiting}` : "",
    ].filter(Boolean);
    lines.push(
      `group ${g.name}${g.scope === "shared" ? " (shared)" : ""}: active ${g.active} for ${ago(g.since)}; failback ${g.failback} (hold ${formatDuration(g.hold_ms)})${flags.length ? `; ${flags.join("; ")}` : ""}`,
    );
    if (g.fleet) {
      const f = g.fleet;
      lines.push(
        `  fleet: leader ${f.leader ?? "none"}${f.fence ? ` (fencing token ${f.fence})` : ""}; this instance: ${f.role}; quorum ${f.quorum}`,
      );
      for (const v of f.votes)
        lines.push(
          `  votes ${v.member}: ${v.verdict} — ${v.reason}${v.views.length ? ` [${v.views.map((x) => `${x.observer} ${x.health}`).join(", ")}]` : ""}`,
        );
    }
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
  if (s.fleet) {
    const f = s.fleet;
    lines.push(
      `fleet: this instance "${f.name}" (${f.prefix}); lease ${f.lease.held ? `held (ttl ${formatDuration(f.lease.ttl_ms)})` : `NOT HELD${f.lease.error ? `: ${f.lease.error}` : ""}${f.last_error && f.last_error !== f.lease.error ? ` (last etcd error: ${f.last_error})` : ""}`}${f.refused ? `; ${f.refused}` : ""}${f.unavailable ? `; shared groups do not switch: ${f.unavailable}` : ""}`,
    );
    lines.push(
      `fleet: ${f.instances.length} live instance(s): ${f.instances.map((i) => `${i.name}${i.host && i.host !== i.name ? ` (${i.host})` : ""}`).join(", ") || "none read"}`,
    );
    for (const [inst, targets] of Object.entries(f.shards ?? {}))
      lines.push(
        `  shard ${inst}: ${targets.length} target(s)${targets.length ? `: ${targets.slice(0, 8).join(", ")}${targets.length > 8 ? ", …" : ""}` : ""}`,
      );
  }
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

/** `2026-12-01 20:30:00Z failover uplink: isp-a → isp-b — why` (and who, for an operator's call). */
export function formatEventLine(e: StandbyEvent): string {
  const who = e.who ? ` [${e.by}: ${e.who}]` : "";
  return `${time(e.ts)} ${eventTitle(e)}${who} — ${e.reason}`;
}

export async function runStatus(
  opts: { config: string; json?: boolean; socket?: string },
  io: Io,
): Promise<number> {
  const t = await apiTarget(opts.config, io, opts);
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
  opts: { config: string; group: string; command: string; body: Record<string, unknown>; socket?: string },
  io: Io,
): Promise<number> {
  const t = await apiTarget(opts.config, io, opts);
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

/**
 * `standby events [-f] [--since 1h] [--group G] [--json]`: the daemon's events (from its memory and its event
 * log), and with `-f` every new one as it happens (like `journalctl -f`) until interrupted.
 */
export async function runEvents(
  opts: { config: string; socket?: string; follow?: boolean; since?: string; group?: string; json?: boolean },
  io: Io,
): Promise<number> {
  const t = await apiTarget(opts.config, io, opts);
  if (!t) return 1;
  const q = new URLSearchParams();
  if (opts.since !== undefined) {
    const ms = parseDuration(opts.since);
    const at = ms !== undefined ? Date.now() - ms : Date.parse(opts.since);
    if (!Number.isFinite(at)) {
      io.err(
        `standby events: --since ${JSON.stringify(opts.since)} is neither a duration (1h) nor a time (ISO 8601)`,
      );
      return 1;
    }
    q.set("since", String(at));
  } else if (!opts.follow) q.set("limit", "50");
  else q.set("limit", "10");
  if (opts.group) q.set("group", opts.group);
  const print = (e: StandbyEvent) => io.out(opts.json ? JSON.stringify(e) : formatEventLine(e));
  try {
    if (!opts.follow) {
      const r = await call(t, "GET", `/v1/events?${q}`);
      if (r.status !== 200) {
        io.err(`standby events: ${(r.json as { error?: string }).error ?? `HTTP ${r.status}`}`);
        return 1;
      }
      for (const e of (r.json as { events: StandbyEvent[] }).events) print(e);
      return 0;
    }
    q.set("follow", "1");
    return await follow(t, `/v1/events?${q}`, print);
  } catch (e) {
    io.err(unreachable(t, e));
    return 1;
  }
}

/** Reads a Server-Sent Events stream until it ends (the daemon stopped: exit 1) or the process is interrupted. */
function follow(t: ApiTarget, path: string, each: (e: StandbyEvent) => void): Promise<number> {
  const url = new URL(path, t.base ?? "http://localhost");
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        ...(t.socket ? { socketPath: t.socket } : { host: url.hostname, port: url.port }),
        path: `${url.pathname}${url.search}`,
        headers: {
          host: t.socket ? "localhost" : url.host,
          accept: "text/event-stream",
          ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode}`));
        }
        res.setEncoding("utf8");
        let buf = "";
        res.on("data", (c: string) => {
          buf += c;
          for (let i = buf.indexOf("\n\n"); i !== -1; i = buf.indexOf("\n\n")) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            for (const line of block.split("\n"))
              if (line.startsWith("data: ")) {
                try {
                  each(JSON.parse(line.slice(6)) as StandbyEvent);
                } catch {
                  // not an event
                }
              }
          }
        });
        res.on("end", () => resolvePromise(1));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Who runs the CLI, for the daemon's log when the kernel cannot tell it (see src/api/server.ts `claimed`). */
function whoAmI(): Record<string, string> {
  try {
    const u = userInfo();
    return { "x-standby-uid": String(u.uid), "x-standby-user": u.username };
  } catch {
    return {};
  }
}

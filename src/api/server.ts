/**
 * The daemon's API (JSON over HTTP; src/api/README.md): on a Unix socket for the CLI (on by default) and, when
 * configured, on TCP (the web page, /metrics, remote tools). The locks are in guard.ts.
 *
 * - `GET /v1/status`, `GET /v1/events?since=MS&group=G&limit=N` (`&follow=1`: a live stream, Server-Sent Events)
 * - `POST /v1/groups/GROUP/{failover,failback,pin,unpin,freeze,unfreeze}` with a JSON body `{member, until, for,
 *   force, reason}`: the resulting events carry `by` (socket or token), who, and the reason given.
 * - `GET /metrics` (Prometheus text) on TCP when `api.metrics` is set; `GET /` the status page.
 */
import { chmod, chown, lstat, mkdir, readFile, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { dirname } from "node:path";
import type { Log } from "../collector.js";
import type { CommandResult, DaemonStatus } from "../daemon/daemon.js";
import type { Command } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import { type Clock, systemClock } from "../util/clock.js";
import { API_COMMANDS, type ApiCommand, toCommand } from "./commands.js";
import {
  type Caller,
  claimed,
  hostAllowed,
  isJson,
  isLoopback,
  type Listener,
  MAX_BODY,
  RateLimiter,
  tokenId,
  tokenMatches,
} from "./guard.js";
import { socketPeer } from "./peer.js";

export { API_COMMANDS, type ApiCommand, toCommand } from "./commands.js";

/** What the API needs of the daemon. */
export interface ApiBackend {
  status(): DaemonStatus;
  command(group: string, cmd: Command, caller?: Caller & { reason?: string }): Promise<CommandResult>;
  /** Events, oldest first (`since`: wall ms). */
  eventsSince(q: { since?: number; group?: string; limit?: number }): Promise<StandbyEvent[]>;
  /** Every event as it is recorded, until the returned function is called. */
  subscribe(fn: (e: StandbyEvent) => void): () => void;
}

export interface ApiOptions {
  /** The Unix socket's path ("" or undefined: none). */
  readonly socket?: string;
  /** HOST:PORT of the TCP listener (undefined: none). */
  readonly listen?: string;
  readonly token?: string;
  /** GET /metrics on TCP: its text. */
  readonly metrics?: () => Promise<string>;
  /** GET / (and its assets): served when it answers true. */
  readonly page?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
  readonly log: Log;
  readonly clock?: Clock;
  /** The socket's group (default `standby`, when it exists). */
  readonly socketGroup?: string;
}

export interface ApiServer {
  /** What it listens on, for the log: the socket's path, HOST:PORT. */
  readonly listening: string[];
  /** The TCP listener's port (the one bound when api.listen asked for port 0). */
  readonly tcpPort?: number;
  close(): Promise<void>;
}

/** host:port → {host, port}; `[::1]:9477` for IPv6. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`api.listen "${listen}" is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

const MAX_STREAMS = 32;

export async function startApi(backend: ApiBackend, opts: ApiOptions): Promise<ApiServer> {
  const ctx: Ctx = {
    backend,
    opts,
    clock: opts.clock ?? systemClock,
    limiter: new RateLimiter(),
    streams: new Set(),
  };
  const servers: Server[] = [];
  const listening: string[] = [];
  let tcpPort: number | undefined;
  try {
    if (opts.socket) {
      servers.push(await listenSocket(ctx, opts.socket, opts.socketGroup ?? "standby"));
      listening.push(opts.socket);
    }
    if (opts.listen) {
      const { host, port } = parseListen(opts.listen);
      if (opts.token === undefined && !isLoopback(host))
        throw new Error(
          `api.listen ${opts.listen} is reachable from other hosts; set api.token, or listen on 127.0.0.1`,
        );
      const tcp = await listenTcp(ctx, host, port);
      servers.push(tcp);
      tcpPort = (tcp.address() as { port: number }).port;
      listening.push(opts.listen);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s)));
    throw err;
  }
  return {
    listening,
    ...(tcpPort !== undefined ? { tcpPort } : {}),
    close: async () => {
      for (const s of ctx.streams) s.end();
      await Promise.all(servers.map((s) => closeServer(s)));
      if (opts.socket) await unlink(opts.socket).catch(() => {});
    },
  };
}

interface Ctx {
  readonly backend: ApiBackend;
  readonly opts: ApiOptions;
  readonly clock: Clock;
  readonly limiter: RateLimiter;
  readonly streams: Set<ServerResponse>;
}

function httpServer(ctx: Ctx, listener: Listener): Server {
  const server = createServer((req, res) => {
    handle(ctx, listener, req, res).catch((err: unknown) => {
      ctx.opts.log.error({ err: (err as Error).message }, "api request failed");
      if (!res.headersSent) send(res, 500, { error: "internal error" });
      else res.end();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxHeadersCount = 50;
  return server;
}

async function listenTcp(ctx: Ctx, host: string, port: number): Promise<Server> {
  // The port the Host header must carry is the one bound (api.listen may ask for port 0 in tests).
  const listener = { kind: "tcp" as const, host, port };
  const server = httpServer(ctx, listener);
  server.once("listening", () => {
    listener.port = (server.address() as { port: number }).port;
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

/**
 * The socket: its directory made (0755), a stale socket file of a dead daemon removed (one that answers is
 * another daemon: refused), then 0660 and group `standby` when that group exists (else the daemon's own).
 */
async function listenSocket(ctx: Ctx, path: string, group: string): Promise<Server> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const st = await lstat(path).catch(() => undefined);
  if (st) {
    if (!st.isSocket()) throw new Error(`api.socket ${path} exists and is not a socket`);
    if (await answers(path))
      throw new Error(`another daemon answers on ${path}; is standby already running?`);
    await unlink(path);
  }
  const server = httpServer(ctx, { kind: "socket" });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(path, 0o660);
  const gid = await groupId(group);
  if (gid !== undefined && process.getuid?.() === 0) await chown(path, 0, gid);
  return server;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}

async function groupId(name: string): Promise<number | undefined> {
  const text = await readFile("/etc/group", "utf8").catch(() => "");
  const f = text
    .split("\n")
    .map((l) => l.split(":"))
    .find((x) => x[0] === name);
  return f ? Number(f[2]) : undefined;
}

function closeServer(s: Server): Promise<void> {
  return new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections?.();
  });
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(text);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new HttpError(400, "expected a JSON object");
  return v as Record<string, unknown>;
}

async function handle(ctx: Ctx, l: Listener, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { opts } = ctx;
  const url = new URL(req.url ?? "/", "http://localhost");
  const tcp = l.kind === "tcp" ? l : undefined;
  // Refuse before reading anything: a page whose host name rebinds to us, an announced oversized body.
  if (tcp && !hostAllowed(req.headers.host, tcp))
    return send(res, 403, { error: `Host ${JSON.stringify(req.headers.host ?? "")} is not this host` });
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY)
    return send(res, 413, { error: `the body is over ${MAX_BODY} bytes` }, { connection: "close" });
  const hasToken = opts.token !== undefined && tokenMatches(req.headers.authorization, opts.token);

  if (req.method === "GET" || req.method === "HEAD") {
    if (tcp && !isLoopback(tcp.host) && !hasToken)
      return send(res, 401, { error: "this listener needs the token (Authorization: Bearer TOKEN)" });
    if (url.pathname === "/v1/status") return send(res, 200, ctx.backend.status());
    if (url.pathname === "/v1/events") return events(ctx, url, req, res);
    if (url.pathname === "/metrics") {
      if (!tcp || !opts.metrics)
        return send(res, 404, { error: "/metrics is off (api.metrics: true, on api.listen)" });
      const text = await opts.metrics();
      res.writeHead(200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
        "cache-control": "no-store",
      });
      return void res.end(text);
    }
    if (opts.page?.(req, res, url.pathname)) return;
    return send(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
  }
  if (req.method !== "POST")
    return send(res, 405, { error: `${req.method} is not allowed` }, { allow: "GET, POST" });

  // State changes.
  if (!isJson(req.headers["content-type"]))
    return send(res, 415, { error: "a POST needs Content-Type: application/json" });
  let caller: Caller;
  if (tcp) {
    if (opts.token === undefined)
      return send(res, 401, {
        error: "state changes over TCP need api.token; use the Unix socket (standby CLI)",
      });
    if (!hasToken) return send(res, 401, { error: "missing or wrong token (Authorization: Bearer TOKEN)" });
    caller = { by: "token", who: `token ${tokenId(opts.token)}` };
  } else caller = { by: "socket", who: claimed(await socketPeer(req.socket), req) };
  const client = tcp ? `${caller.who} ${req.socket.remoteAddress}` : caller.who.replace(/, pid \d+$/, "");
  if (!ctx.limiter.allow(client, ctx.clock.mono()))
    return send(
      res,
      429,
      { error: "more than 20 state-changing calls a minute; wait" },
      { "retry-after": "60" },
    );

  const m = /^\/v1\/groups\/([^/]+)\/([a-z]+)$/.exec(url.pathname);
  if (!m) return send(res, 404, { error: `no such endpoint: POST ${url.pathname}` });
  let group: string;
  try {
    group = decodeURIComponent(m[1]!);
  } catch {
    return send(res, 400, { error: `malformed group name in the path: ${m[1]}` });
  }
  const name = m[2]!;
  if (!(API_COMMANDS as readonly string[]).includes(name))
    return send(res, 404, { error: `unknown command "${name}"; expected one of ${API_COMMANDS.join(", ")}` });
  let body: Record<string, unknown>;
  try {
    body = await readJson(req);
  } catch (e) {
    return e instanceof HttpError
      ? send(res, e.status, { error: e.message }, e.status === 413 ? { connection: "close" } : {})
      : send(res, 400, { error: (e as Error).message });
  }
  const cmd = toCommand(name as ApiCommand, body, ctx.clock);
  if (typeof cmd === "string") return send(res, 400, { error: cmd });
  const reason =
    typeof body.reason === "string" && body.reason.trim() ? body.reason.trim().slice(0, 500) : undefined;
  const r = await ctx.backend.command(group, cmd, { ...caller, ...(reason ? { reason } : {}) });
  opts.log.info(
    { group, command: name, by: caller.by, who: caller.who, reason, ok: r.ok, error: r.error },
    `api: ${name} ${group} by ${caller.who}${r.ok ? "" : ` refused: ${r.error}`}`,
  );
  return send(res, r.ok ? 200 : 409, r);
}

/** `GET /v1/events`: JSON, or with `follow=1` a live stream (Server-Sent Events: one `data:` line an event). */
async function events(ctx: Ctx, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const q = url.searchParams;
  const since = q.has("since") ? Number(q.get("since")) : undefined;
  if (since !== undefined && !Number.isFinite(since))
    return send(res, 400, { error: "since: wall ms expected" });
  const limit = q.has("limit") ? Math.max(1, Math.min(10_000, Number(q.get("limit")) || 50)) : undefined;
  const group = q.get("group") ?? undefined;
  const query = {
    ...(since !== undefined ? { since } : {}),
    ...(group ? { group } : {}),
    ...(limit ? { limit } : {}),
  };
  if (q.get("follow") !== "1") return send(res, 200, { events: await ctx.backend.eventsSince(query) });
  if (ctx.streams.size >= MAX_STREAMS) return send(res, 503, { error: "too many live streams" });
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  res.write("retry: 2000\n\n");
  const match = (e: StandbyEvent) => !group || ("group" in e && e.group === group);
  // A reader that does not keep up (1 MiB unread) is cut off: the daemon never buffers for it without bound.
  const write = (text: string) => {
    if (res.writableLength > 1024 * 1024) return void res.destroy();
    res.write(text);
  };
  // Subscribed before the backlog is read: an event recorded meanwhile is not lost (it may come twice).
  const queued: StandbyEvent[] = [];
  let live = false;
  const unsubscribe = ctx.backend.subscribe((e) => {
    if (!match(e)) return;
    if (live) write(`data: ${JSON.stringify(e)}\n\n`);
    else queued.push(e);
  });
  ctx.streams.add(res);
  const beat = setInterval(() => write(": keepalive\n\n"), 15_000);
  req.socket.setTimeout(0);
  const end = () => {
    clearInterval(beat);
    unsubscribe();
    ctx.streams.delete(res);
  };
  res.once("close", end);
  for (const e of await ctx.backend.eventsSince(query)) write(`data: ${JSON.stringify(e)}\n\n`);
  for (const e of queued) write(`data: ${JSON.stringify(e)}\n\n`);
  live = true;
}

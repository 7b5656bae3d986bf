import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Log } from "../collector.js";
import type { CommandResult, DaemonStatus } from "../daemon/daemon.js";
import type { Command } from "../groups/controller.js";
import { type Clock, fromWall, systemClock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";

/** What the API needs of the daemon. */
export interface ApiBackend {
  status(): DaemonStatus;
  command(group: string, cmd: Command): Promise<CommandResult>;
}

export const API_COMMANDS = ["failover", "failback", "pin", "unpin", "freeze", "unfreeze"] as const;
export type ApiCommand = (typeof API_COMMANDS)[number];

/** host:port → {host, port}; `[::1]:9477` for IPv6. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`api.listen "${listen}" is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/**
 * The local HTTP API (JSON): `GET /v1/status`, `POST /v1/groups/GROUP/COMMAND` with an optional JSON body
 * `{member, until, for, force, reason}`. With a token configured, every request needs
 * `Authorization: Bearer TOKEN`. Listens on 127.0.0.1 by default; never exposed without a token.
 */
export function startApi(
  backend: ApiBackend,
  opts: { listen: string; token?: string; log: Log; clock?: Clock },
): Promise<Server> {
  const clock = opts.clock ?? systemClock;
  const { host, port } = parseListen(opts.listen);
  if (opts.token === undefined && !isLoopback(host)) {
    return Promise.reject(
      new Error(
        `api.listen ${opts.listen} is reachable from other hosts; set api.token, or listen on 127.0.0.1`,
      ),
    );
  }
  const server = createServer((req, res) => {
    handle(backend, opts.token, clock, req, res).catch((err: unknown) => {
      opts.log.error({ err: (err as Error).message }, "api request failed");
      send(res, 500, { error: "internal error" });
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 65_536) throw new Error("body too large");
  }
  if (text.trim() === "") return {};
  const v: unknown = JSON.parse(text);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("expected a JSON object");
  return v as Record<string, unknown>;
}

async function handle(
  backend: ApiBackend,
  token: string | undefined,
  clock: Clock,
  req: IncomingMessage,
  res: ServerResponse,
) {
  if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, { error: "missing or wrong token (Authorization: Bearer TOKEN)" });
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method === "GET" && url.pathname === "/v1/status") return send(res, 200, backend.status());
  const m = /^\/v1\/groups\/([^/]+)\/([a-z]+)$/.exec(url.pathname);
  if (m && req.method === "POST") {
    let group: string;
    try {
      group = decodeURIComponent(m[1]!);
    } catch {
      return send(res, 400, { error: `malformed group name in the path: ${m[1]}` });
    }
    const name = m[2]!;
    if (!(API_COMMANDS as readonly string[]).includes(name)) {
      return send(res, 404, {
        error: `unknown command "${name}"; expected one of ${API_COMMANDS.join(", ")}`,
      });
    }
    let body: Record<string, unknown>;
    try {
      body = await readBody(req);
    } catch (e) {
      return send(res, 400, { error: `bad request body: ${(e as Error).message}` });
    }
    const cmd = toCommand(name as ApiCommand, body, clock);
    if (typeof cmd === "string") return send(res, 400, { error: cmd });
    const r = await backend.command(group, cmd);
    return send(res, r.ok ? 200 : 409, r);
  }
  return send(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
}

/**
 * A command from its name and request body; a string is the error. The command's times are on the daemon's
 * monotonic clock: `for` counts from now, `until` (wall ms since the epoch, as people and tools give it) is
 * converted.
 */
export function toCommand(
  name: ApiCommand,
  body: Record<string, unknown>,
  clock: Clock = systemClock,
): Command | string {
  const member = typeof body.member === "string" ? body.member : undefined;
  let until: number | undefined;
  if (typeof body.until === "number") until = fromWall(body.until, clock);
  else if (typeof body.for === "string") {
    const d = parseDuration(body.for);
    if (d === undefined) return `"for": "${body.for}" is not a duration (e.g. 30m, 2h)`;
    until = clock.mono() + d;
  }
  switch (name) {
    case "failover":
      return {
        command: "failover",
        ...(member ? { member } : {}),
        ...(until !== undefined ? { until } : {}),
      };
    case "failback":
      return { command: "failback" };
    case "pin": {
      if (!member) return 'pin needs "member"';
      return {
        command: "pin",
        member,
        ...(until !== undefined ? { until } : {}),
        ...(body.force === true ? { force: true } : {}),
      };
    }
    case "unpin":
      return { command: "unpin" };
    case "freeze":
      return { command: "freeze", ...(typeof body.reason === "string" ? { reason: body.reason } : {}) };
    case "unfreeze":
      return { command: "unfreeze" };
  }
}

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../../src/api/guard.js";
import {
  type ApiBackend,
  type ApiServer,
  parseListen,
  startApi,
  toCommand,
} from "../../../src/api/server.js";
import type { CommandResult, DaemonStatus } from "../../../src/daemon/daemon.js";
import type { Command } from "../../../src/groups/controller.js";
import type { StandbyEvent } from "../../../src/groups/events.js";
import { quietLog } from "../../helpers.js";

const TOKEN = "0123456789abcdef0123456789abcdef";

/** A backend that records commands and their callers; `emit` sends an event to the live streams. */
function fakeBackend() {
  const commands: [string, Command, (Caller & { reason?: string }) | undefined][] = [];
  const listeners = new Set<(e: StandbyEvent) => void>();
  const events: StandbyEvent[] = [
    { ts: 1000, kind: "redundancy_lost", group: "uplink", reason: "1 of 2" },
    { ts: 2000, kind: "redundancy_lost", group: "db", reason: "0 of 2" },
  ];
  const backend: ApiBackend = {
    status: () => ({ host: "h", groups: [] }) as unknown as DaemonStatus,
    command: async (group, cmd, caller): Promise<CommandResult> => {
      commands.push([group, cmd, caller]);
      return group === "uplink"
        ? { ok: true, events: [] }
        : { ok: false, error: `no group "${group}"`, events: [] };
    },
    eventsSince: async (q) =>
      events.filter(
        (e) =>
          (q.since === undefined || e.ts >= q.since) && (!q.group || ("group" in e && e.group === q.group)),
      ),
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
  const emit = (e: StandbyEvent) => {
    for (const fn of listeners) fn(e);
  };
  return { backend, commands, emit, listeners };
}

/** One HTTP request over TCP or the socket, with exactly the headers given. */
function raw(
  to: { port: number } | { socket: string },
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...("socket" in to ? { socketPath: to.socket } : { host: "127.0.0.1", port: to.port }),
        method,
        path,
        headers,
        timeout: 5000,
      },
      (res) => {
        let d = "";
        res.on("data", (c) => (d += c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: d ? (JSON.parse(d) as Record<string, unknown>) : {} }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("the API over TCP", () => {
  const f = fakeBackend();
  let server: ApiServer;
  let port: number;
  beforeAll(async () => {
    server = await startApi(f.backend, { listen: "127.0.0.1:0", token: TOKEN, log: quietLog });
    port = server.tcpPort!;
  });
  afterAll(() => server.close());

  const host = () => `127.0.0.1:${port}`;
  const post = (path: string, body: string | undefined, h: Record<string, string> = {}) =>
    raw({ port }, "POST", path, { host: host(), "content-type": "application/json", ...h }, body);
  const auth = { authorization: `Bearer ${TOKEN}` };

  it("reads need no token on loopback; state changes need it (401 without, done with, the caller passed on)", async () => {
    const st = await raw({ port }, "GET", "/v1/status", { host: host() });
    expect(st).toEqual({ status: 200, json: { host: "h", groups: [] } });
    expect((await post("/v1/groups/uplink/failover", "{}")).status).toBe(401);
    expect((await post("/v1/groups/uplink/failover", "{}", { authorization: "Bearer wrong" })).status).toBe(
      401,
    );
    const ok = await post(
      "/v1/groups/uplink/pin",
      JSON.stringify({ member: "isp-b", for: "1h", reason: "maintenance" }),
      auth,
    );
    expect(ok.status).toBe(200);
    const [group, cmd, caller] = f.commands.at(-1)!;
    expect(group).toBe("uplink");
    expect(cmd).toMatchObject({ command: "pin", member: "isp-b" });
    expect(caller).toEqual({
      by: "token",
      who: expect.stringMatching(/^token [0-9a-f]{8}$/),
      reason: "maintenance",
    });
    expect(caller!.who).not.toContain(TOKEN.slice(0, 8));
  });

  it("415 without Content-Type: application/json; 403 for a foreign Host; 413 over 64 KiB; 400 for malformed JSON", async () => {
    expect(
      (
        await raw(
          { port },
          "POST",
          "/v1/groups/uplink/failover",
          { host: host(), ...auth, "content-type": "text/plain" },
          "{}",
        )
      ).status,
    ).toBe(415);
    expect(
      (await raw({ port }, "POST", "/v1/groups/uplink/failover", { host: host(), ...auth }, "{}")).status,
    ).toBe(415);
    expect((await raw({ port }, "GET", "/v1/status", { host: "evil.example:80" })).status).toBe(403);
    expect((await raw({ port }, "GET", "/v1/status", { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw({ port }, "GET", "/v1/status", { host: `localhost:${port}` })).status).toBe(200);
    const big = JSON.stringify({ reason: "x".repeat(70_000) });
    expect((await post("/v1/groups/uplink/failover", big, auth)).status).toBe(413);
    const bad = await post("/v1/groups/uplink/pin", "{", auth);
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toMatch(/malformed JSON/);
    expect((await post("/v1/groups/uplink/pin", "{}", auth)).json).toEqual({ error: 'pin needs "member"' });
    expect((await post("/v1/groups/uplink/explode", "{}", auth)).status).toBe(404);
    expect((await post("/v1/groups/%zz/failover", "{}", auth)).status).toBe(400);
    expect((await post("/v1/groups/other/failover", "{}", auth)).status).toBe(409);
  });

  it("more than 20 state-changing calls a minute from one client: 429; reads still answer", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 25; i++) codes.push((await post("/v1/groups/uplink/unpin", "{}", auth)).status);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
    expect(codes.at(-1)).toBe(429);
    expect((await raw({ port }, "GET", "/v1/status", { host: host() })).status).toBe(200);
  });

  it("events: filtered by since and group; follow=1 streams new ones as Server-Sent Events", async () => {
    const r = await raw({ port }, "GET", "/v1/events?since=1500", { host: host() });
    expect((r.json.events as StandbyEvent[]).map((e) => e.ts)).toEqual([2000]);
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/v1/events?follow=1&group=uplink", headers: { host: host() } },
        (res) => {
          expect(res.headers["content-type"]).toBe("text/event-stream");
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            got.push(...c.split("\n").filter((l) => l.startsWith("data: ")));
            if (got.length === 1)
              f.emit({ ts: 3000, kind: "redundancy_restored", group: "uplink", reason: "2 of 2" });
            if (got.length === 2) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on("error", (e) => (got.length >= 2 ? resolve() : reject(e)));
      req.end();
    });
    expect(got.map((l) => (JSON.parse(l.slice(6)) as StandbyEvent).ts)).toEqual([1000, 3000]);
  });
});

describe("the API's Unix socket", () => {
  const f = fakeBackend();
  let dir: string;
  let server: ApiServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sb-api-"));
    server = await startApi(f.backend, { socket: join(dir, "run", "api.sock"), log: quietLog });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is mode 0660; its permissions are the authentication: state changes need no token, the caller is the peer", async () => {
    const socket = join(dir, "run", "api.sock");
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    const r = await raw(
      { socket },
      "POST",
      "/v1/groups/uplink/freeze",
      { host: "localhost", "content-type": "application/json" },
      JSON.stringify({ reason: "change 42" }),
    );
    expect(r.status).toBe(200);
    const [, cmd, caller] = f.commands.at(-1)!;
    expect(cmd).toEqual({ command: "freeze", reason: "change 42" });
    expect(caller).toMatchObject({ by: "socket", reason: "change 42" });
    // The peer is this test process (ss -xp), with its uid.
    expect(caller!.who).toMatch(new RegExp(`^uid ${process.getuid!()}( \\(\\w+\\))?, pid ${process.pid}$`));
    expect(
      (await raw({ socket }, "POST", "/v1/groups/uplink/freeze", { host: "localhost" }, "{}")).status,
    ).toBe(415);
  });

  it("a second daemon on the same socket is refused; a stale socket of a dead one is replaced", async () => {
    const socket = join(dir, "run", "api.sock");
    await expect(startApi(f.backend, { socket, log: quietLog })).rejects.toThrow(/another daemon answers/);
  });
});

describe("listening", () => {
  const f = fakeBackend();
  it("refuses to listen beyond loopback without a token", async () => {
    await expect(startApi(f.backend, { listen: "0.0.0.0:0", log: quietLog })).rejects.toThrow(
      "api.listen 0.0.0.0:0 is reachable from other hosts; set api.token, or listen on 127.0.0.1",
    );
  });

  it("over TCP without a token configured, state changes are refused (the socket is the way)", async () => {
    const server = await startApi(f.backend, { listen: "127.0.0.1:0", log: quietLog });
    try {
      const port = server.tcpPort!;
      const r = await raw(
        { port },
        "POST",
        "/v1/groups/uplink/failover",
        { host: `127.0.0.1:${port}`, "content-type": "application/json" },
        "{}",
      );
      expect(r.status).toBe(401);
      expect(String(r.json.error)).toMatch(/need api.token; use the Unix socket/);
    } finally {
      await server.close();
    }
  });
});

describe("commands", () => {
  it("puts command times on the monotonic clock: `for` from now, a wall `until` converted", () => {
    // Monotonic time 1 000 000 is wall time 5 000 000 here (the wall clock was stepped, or the process is old).
    const clock = { mono: () => 1_000_000, wall: () => 5_000_000 };
    expect(toCommand("pin", { member: "b", for: "10m" }, clock)).toEqual({
      command: "pin",
      member: "b",
      until: 1_600_000,
    });
    expect(toCommand("pin", { member: "b", until: 5_060_000 }, clock)).toEqual({
      command: "pin",
      member: "b",
      until: 1_060_000,
    });
    // `standby failover GROUP --to M --for 1h`: held there for an hour.
    expect(toCommand("failover", { member: "b", for: "1h" }, clock)).toEqual({
      command: "failover",
      member: "b",
      until: 4_600_000,
    });
    expect(toCommand("failover", {}, clock)).toEqual({ command: "failover" });
  });

  it("parses listen addresses and command bodies", () => {
    const fixed = { mono: () => 0, wall: () => 0 };
    expect(parseListen("127.0.0.1:9477")).toEqual({ host: "127.0.0.1", port: 9477 });
    expect(parseListen("[::1]:9477")).toEqual({ host: "::1", port: 9477 });
    expect(() => parseListen("localhost")).toThrow(/not HOST:PORT/);
    expect(toCommand("pin", { member: "b", for: "soon" }, fixed)).toBe(
      '"for": "soon" is not a duration (e.g. 30m, 2h)',
    );
    expect(toCommand("freeze", { reason: "maintenance" }, fixed)).toEqual({
      command: "freeze",
      reason: "maintenance",
    });
    expect(toCommand("failover", { member: "b" }, fixed)).toEqual({ command: "failover", member: "b" });
  });
});

describe("who called over the socket", () => {
  it("is the kernel's answer when there is one; else what the CLI claims, marked so", async () => {
    const { claimed } = await import("../../../src/api/guard.js");
    const h = (headers: Record<string, string>) => ({ headers });
    expect(claimed("uid 0 (root), pid 7", h({ "x-standby-uid": "1000" }))).toBe("uid 0 (root), pid 7");
    expect(
      claimed("peer unknown (ss did not show it)", h({ "x-standby-uid": "1000", "x-standby-user": "alice" })),
    ).toBe("uid 1000 (alice), claimed");
    expect(claimed("peer unknown (x)", h({ "x-standby-uid": "10; rm -rf", "x-standby-user": "a b" }))).toBe(
      "peer unknown (x)",
    );
    expect(claimed("peer unknown (x)", h({ "x-standby-uid": "5", "x-standby-user": "a\nb" }))).toBe(
      "uid 5, claimed",
    );
  });
});

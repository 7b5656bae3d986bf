import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseListen, startApi, toCommand } from "../../../src/api/server.js";
import type { CommandResult, DaemonStatus } from "../../../src/daemon/daemon.js";
import type { Command } from "../../../src/groups/controller.js";
import { quietLog } from "../../helpers.js";

describe("the local API", () => {
  const commands: [string, Command][] = [];
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const backend = {
      status: () => ({ host: "h", groups: [] }) as unknown as DaemonStatus,
      command: async (group: string, cmd: Command): Promise<CommandResult> => {
        commands.push([group, cmd]);
        return group === "uplink"
          ? { ok: true, events: [] }
          : { ok: false, error: `no group "${group}"`, events: [] };
      },
    };
    server = await startApi(backend, { listen: "127.0.0.1:0", token: "s3cret", log: quietLog });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const call = (path: string, init: RequestInit = {}, token: string | null = "s3cret") =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
    });

  it("needs the token when one is configured", async () => {
    expect((await call("/v1/status", {}, null)).status).toBe(401);
    expect((await call("/v1/status", {}, "wrong")).status).toBe(401);
    const ok = await call("/v1/status");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ host: "h", groups: [] });
  });

  it("passes commands with their body; refuses unknown commands, bad bodies and refused commands", async () => {
    const r = await call("/v1/groups/uplink/pin", {
      method: "POST",
      body: JSON.stringify({ member: "isp-b", for: "1h" }),
    });
    expect(r.status).toBe(200);
    const [group, cmd] = commands.at(-1)!;
    expect(group).toBe("uplink");
    expect(cmd).toMatchObject({ command: "pin", member: "isp-b" });
    expect((cmd as { until: number }).until - Date.now()).toBeGreaterThan(3_590_000);
    expect((await call("/v1/groups/uplink/explode", { method: "POST" })).status).toBe(404);
    expect((await call("/v1/groups/uplink/pin", { method: "POST", body: "{" })).status).toBe(400);
    const noMember = await call("/v1/groups/uplink/pin", { method: "POST", body: "{}" });
    expect(noMember.status).toBe(400);
    expect(await noMember.json()).toEqual({ error: 'pin needs "member"' });
    const refused = await call("/v1/groups/other/failover", { method: "POST" });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ ok: false, error: 'no group "other"' });
  });

  it("refuses to listen beyond loopback without a token", async () => {
    const backend = { status: () => ({}) as DaemonStatus, command: async () => ({ ok: true, events: [] }) };
    await expect(startApi(backend, { listen: "0.0.0.0:0", log: quietLog })).rejects.toThrow(
      "api.listen 0.0.0.0:0 is reachable from other hosts; set api.token, or listen on 127.0.0.1",
    );
  });

  it("answers 400, not 500, to a malformed %-escape in the path", async () => {
    const r = await call("/v1/groups/%zz/failover", { method: "POST" });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: "malformed group name in the path: %zz" });
  });

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

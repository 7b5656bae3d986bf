/**
 * The API of a real daemon process (issue 11's contract): the token file refused when empty, the CLI over the
 * socket (status, events, -f), operator events with who and why, the TCP listener's token and /metrics.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { freeTcpPort } from "../peers/common.js";
import { SVC_RULES, svcConfig } from "./svc-daemon.js";

const run = promisify(execFile);
const TOKEN = "a-token-of-32-characters-0123456";

const config = (dir: string, port: number, apiPort: number, token: string) =>
  svcConfig(
    dir,
    port,
    `{socket: api.sock, listen: "127.0.0.1:${apiPort}", token: {file: ${token}}, metrics: true}`,
  );

describe("the API of a running daemon", () => {
  let dir: string;
  let server: Server;
  let daemon: ChildProcess;
  let stderr = "";
  let apiPort: number;
  let file: string;

  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), "sb-api-proc-"));
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    writeFileSync(join(dir, "rules.yaml"), SVC_RULES);
    writeFileSync(join(dir, "api.token"), `${TOKEN}\n`, { mode: 0o600 });
    apiPort = await freeTcpPort();
    file = join(dir, "standby.yaml");
    writeFileSync(
      file,
      config(dir, (server.address() as { port: number }).port, apiPort, join(dir, "api.token")),
    );
    daemon = spawn(process.execPath, [MAIN, "run", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const t0 = Date.now();
    while (!stderr.includes('"api listening"')) {
      if (Date.now() - t0 > 15_000) throw new Error(`daemon did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);

  afterAll(() => {
    if (daemon?.exitCode === null) daemon.kill("SIGKILL");
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    run(process.execPath, [MAIN, ...args, "--config", file], { timeout: 10_000 });
  const tcp = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${apiPort}${path}`, init);

  it("an empty or missing token file stops the start, never runs without auth", async () => {
    const empty = join(dir, "empty.token");
    writeFileSync(empty, "\n", { mode: 0o600 });
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, config(join(dir, "bad"), 1, apiPort + 1, empty));
    const r = await run(process.execPath, [MAIN, "run", "--config", bad], { timeout: 10_000 }).catch(
      (e) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot start: api.token \{file: .*empty.token\} is empty/);
    writeFileSync(bad, config(join(dir, "bad"), 1, apiPort + 1, join(dir, "missing.token")));
    const m = await run(process.execPath, [MAIN, "run", "--config", bad], { timeout: 10_000 }).catch(
      (e) => e,
    );
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/cannot start: api.token: cannot read secret file .*missing.token: ENOENT/);
  });

  it("freeze over the socket with --reason: the event carries by, who and the reason; `events` and `events -f` show it", async () => {
    const follow = spawn(process.execPath, [MAIN, "events", "-f", "--json", "--config", file], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    follow.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const fr = await cli("freeze", "svc", "--reason", "change 4711");
      expect(fr.stdout).toMatch(/frozen svc\/primary \[socket: uid \d+/);
      const t0 = Date.now();
      while (!out.includes('"kind":"frozen"') && Date.now() - t0 < 5000)
        await new Promise((r) => setTimeout(r, 50));
      const ev = out
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((e) => e.kind === "frozen");
      expect(ev).toMatchObject({ by: "socket", operator_reason: "change 4711", group: "svc" });
      expect(String(ev!.who)).toMatch(/^uid \d+/);
      expect(String(ev!.reason)).toContain("change 4711");
    } finally {
      follow.kill();
    }
    const listed = await cli("events", "--since", "1h", "--group", "svc");
    expect(listed.stdout).toMatch(/frozen svc\/primary .* change 4711/);
    await cli("unfreeze", "svc");
    expect(stderr).toMatch(/"msg":"api: freeze svc by uid \d+/);
  });

  it("over TCP: reads on loopback need no token, a state change needs it; the event says by token", async () => {
    expect((await tcp("/v1/status")).status).toBe(200);
    const post = (h: Record<string, string>) =>
      tcp("/v1/groups/svc/freeze", {
        method: "POST",
        headers: { "content-type": "application/json", ...h },
        body: "{}",
      });
    expect((await post({})).status).toBe(401);
    const ok = await post({ authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { events: Record<string, unknown>[] };
    expect(body.events[0]).toMatchObject({
      kind: "frozen",
      by: "token",
      who: expect.stringMatching(/^token [0-9a-f]{8}$/),
    });
    await cli("unfreeze", "svc");
  });

  it("GET /metrics on the TCP listener: Prometheus text with the group and member series", async () => {
    const r = await tcp("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
    const text = await r.text();
    expect(text).toMatch(/^standby_up 1$/m);
    expect(text).toMatch(/^standby_group_active_member\{group="svc",member="primary"\} 1$/m);
    expect(text).toMatch(
      /^standby_collector_runs_total\{collector="svc-probe"\} \d+|^# TYPE standby_member_healthy gauge$/m,
    );
  });

  it("--version; an unreachable daemon is answered with a hint", async () => {
    expect((await run(process.execPath, [MAIN, "--version"])).stdout).toMatch(
      /^standby \d+\.\d+\.\d+ \(Node\.js 2\d/,
    );
    const r = await run(process.execPath, [MAIN, "status", "--socket", join(dir, "nothing.sock")]).catch(
      (e) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /no daemon socket at .*nothing.sock\. Is it running \(systemctl status standby\)\? In another mount or network namespace/,
    );
  });
});

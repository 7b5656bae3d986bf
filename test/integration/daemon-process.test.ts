/**
 * The daemon as a user runs it (`standby run`), on loopback: status and commands over the local API through
 * the CLI, SIGHUP reload (an invalid config is refused and the old one keeps running), SIGTERM shutdown.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { SVC_RULES, svcConfig } from "./svc-daemon.js";

const run = promisify(execFile);

const config = (port: number, apiPort: number, dir: string, extraRule = "") =>
  svcConfig(dir, port, `{socket: api.sock, listen: "127.0.0.1:${apiPort}"}`, extraRule);

describe("standby run as a process", () => {
  let dir: string;
  let server: Server;
  let daemon: ChildProcess;
  let stderr = "";
  const apiPort = 20_000 + Math.floor(Math.random() * 20_000);
  let file: string;

  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), "sb-proc-"));
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, "rules.yaml"), SVC_RULES);
    file = join(dir, "standby.yaml");
    writeFileSync(file, config(port, apiPort, dir));
    daemon = spawn(process.execPath, [MAIN, "run", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const t0 = Date.now();
    while (!stderr.includes('"api listening"')) {
      if (Date.now() - t0 > 15_000) throw new Error(`daemon did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);

  afterAll(async () => {
    if (daemon.exitCode === null) daemon.kill("SIGKILL");
    server.close();
  });

  const cli = (...args: string[]) =>
    run(process.execPath, [MAIN, ...args, "--config", file], { timeout: 10_000 });

  it("logs JSON lines fit for journald", () => {
    const first = stderr.split("\n")[0]!;
    expect(JSON.parse(first)).toMatchObject({ level: 30, msg: expect.any(String) });
  });

  it("`standby status` shows the groups, members and their health", async () => {
    await new Promise((r) => setTimeout(r, 600));
    const { stdout } = await cli("status");
    expect(stdout).toMatch(/group svc: active primary for/);
    expect(stdout).toMatch(/\* primary\s+prio\s+100\s+healthy/);
    const json = JSON.parse((await cli("status", "--json")).stdout);
    expect(json.groups[0].members.map((m: { name: string }) => m.name)).toEqual(["primary", "backup"]);
  });

  it("`standby failover` and `failback` switch through the API and print the events", async () => {
    const fo = await cli("failover", "svc");
    expect(fo.stdout).toMatch(
      /manual_switch svc: primary → backup \[socket: uid \d+.*\] — operator failover by socket \(uid/,
    );
    const fb = await cli("failback", "svc");
    expect(fb.stdout).toMatch(
      /manual_switch svc: backup → primary \[socket: uid \d+.*\] — operator failback by socket \(uid \d+.*\) to primary/,
    );
    await expect(cli("pin", "svc", "nobody")).rejects.toMatchObject({
      stderr: expect.stringContaining('standby pin svc: group "svc" has no member "nobody"'),
    });
  });

  it("SIGHUP with an invalid config is refused and the old one keeps running; a valid one is taken", async () => {
    writeFileSync(file, "groups: [\n");
    daemon.kill("SIGHUP");
    const t0 = Date.now();
    while (!stderr.includes("reload refused")) {
      if (Date.now() - t0 > 5000) throw new Error(`no refusal logged: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(daemon.exitCode).toBeNull();
    const port = (server.address() as { port: number }).port;
    // A typo that only the schema sees (the api: block is fine): refused, and the CLI still reaches the daemon
    // and says why — the moment an operator needs it.
    writeFileSync(file, config(port, apiPort, dir).replace("mode: manual", "mode: sometimes"));
    daemon.kill("SIGHUP");
    const t2 = Date.now();
    while ((stderr.match(/reload refused/g) ?? []).length < 2) {
      if (Date.now() - t2 > 5000) throw new Error(`no second refusal logged: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await cli("status");
    expect(refused.stdout).toMatch(/last reload .*: invalid config .*failback\.mode/);
    expect(refused.stdout).toMatch(/group svc: active/);
    writeFileSync(file, config(port, apiPort, dir));
    daemon.kill("SIGHUP");
    const t1 = Date.now();
    while (!stderr.includes("configuration reloaded")) {
      if (Date.now() - t1 > 5000) throw new Error(`no reload logged: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const { stdout } = await cli("status");
    expect(stdout).toMatch(/group svc: active primary/);
  });

  it("`--view` whose reader goes away (EPIPE) exits non-zero, so that systemd restarts it", async () => {
    const vdir = mkdtempSync(join(tmpdir(), "sb-proc-view-"));
    writeFileSync(join(vdir, "rules.yaml"), readFileSync(join(dir, "rules.yaml"), "utf8"));
    const vfile = join(vdir, "standby.yaml");
    const port = (server.address() as { port: number }).port;
    writeFileSync(vfile, config(port, apiPort + 1, vdir));
    const view = spawn(process.execPath, [MAIN, "run", "--view", "--config", vfile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let verr = "";
    view.stderr!.setEncoding("utf8").on("data", (d: string) => (verr += d));
    const exited = new Promise<number | null>((r) => view.once("exit", (code) => r(code)));
    try {
      await new Promise<void>((r) => view.stdout!.once("data", () => r()));
      view.stdout!.destroy(); // the reader of the live view is gone
      const code = await Promise.race([
        exited,
        new Promise<"running">((r) => setTimeout(() => r("running"), 8000)),
      ]);
      expect(code).toBe(1);
      expect(verr).toContain("the live view's output is gone");
    } finally {
      view.kill("SIGKILL");
    }
  }, 20_000);

  it("a SIGHUP while it starts (finishing a switch cut short) is applied once it runs, not fatal", async () => {
    const sdir = mkdtempSync(join(tmpdir(), "sb-proc-hup-"));
    writeFileSync(join(sdir, "rules.yaml"), readFileSync(join(dir, "rules.yaml"), "utf8"));
    const sfile = join(sdir, "standby.yaml");
    const port = (server.address() as { port: number }).port;
    writeFileSync(
      sfile,
      config(port, apiPort + 2, sdir).replace(
        "{name: backup, priority: 50, health: [], activate: []}",
        "{name: backup, priority: 50, health: [], activate: [{exec: {argv: [sleep, '1']}}]}",
      ),
    );
    mkdirSync(join(sdir, "state"));
    const wall = Date.now();
    writeFileSync(
      join(sdir, "state", "state.json"),
      JSON.stringify({
        version: 2,
        savedAt: wall,
        groups: {
          svc: {
            active: "backup",
            since: wall,
            switches: [],
            hold: 0,
            excluded: {},
            intents: [{ from: "primary", to: "backup", kind: "manual_switch", reason: "test" }],
          },
        },
      }),
    );
    const p = spawn(process.execPath, [MAIN, "run", "--config", sfile], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    p.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    try {
      const t0 = Date.now();
      while (!err.includes("cut short by a restart")) {
        if (Date.now() - t0 > 10_000 || p.exitCode !== null) throw new Error(`no resume logged: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(err).not.toContain('"standby started"');
      p.kill("SIGHUP"); // while the resumed activation (sleep 1) runs
      while (!err.includes("configuration reloaded")) {
        if (Date.now() - t0 > 10_000 || p.exitCode !== null) throw new Error(`no reload logged: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(err.indexOf('"standby started"')).toBeLessThan(err.indexOf("configuration reloaded"));
      expect(p.exitCode).toBeNull();
    } finally {
      p.kill("SIGKILL");
    }
  }, 20_000);

  it("SIGHUP shows in `standby status` (last reload)", async () => {
    const { stdout } = await cli("status");
    expect(stdout).toMatch(/last reload .*: reloaded: 1 group\(s\)/);
    const json = JSON.parse((await cli("status", "--json")).stdout);
    expect(json.last_reload).toMatchObject({ ok: true });
  });

  it("SIGTERM stops it cleanly", async () => {
    const exited = new Promise<number | null>((r) => daemon.once("exit", (code) => r(code)));
    daemon.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toContain('"standby stopped"');
  });
});

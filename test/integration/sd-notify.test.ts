/**
 * sd_notify as systemd sees it: the real daemon (`standby run`) under a fake NOTIFY_SOCKET — a perl process bound
 * to a unix datagram socket that prints each datagram (Node can bind none) — with WATCHDOG_USEC=600000 (0.6 s):
 * READY=1 once the API answers, WATCHDOG=1 every 0.2 s, none while the event loop is blocked (the SIGUSR2 test
 * hook), pings again after, STOPPING=1 at SIGTERM. Also the transport on its own: an abstract socket, and the
 * systemd-notify fallback when perl is missing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTransport } from "../../src/daemon/notify.js";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { quietLog } from "../helpers.js";
import { SVC_RULES, svcConfig } from "./svc-daemon.js";

/** Binds a datagram socket (`@name`: abstract) and prints each datagram received, in hex, a line each. */
const RECEIVER = [
  "use strict; use warnings; use Socket;",
  'my $p = shift; my $b = $p; $b =~ s/^@/\\0/; socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\\n";',
  'bind($s, pack_sockaddr_un($b)) or die "bind: $!\\n"; $| = 1; print "bound\\n";',
  'while (defined(recv($s, my $buf, 65536, 0))) { print unpack("H*", $buf), "\\n"; }',
].join("\n");

interface Received {
  /** performance.now() when it arrived. */
  readonly at: number;
  readonly fields: string[];
}

async function receiver(address: string) {
  const p = spawn("perl", ["-e", RECEIVER, address], { stdio: ["ignore", "pipe", "pipe"] });
  const got: Received[] = [];
  let buf = "";
  let err = "";
  p.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const bound = new Promise<void>((resolve, reject) => {
    p.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === "bound") resolve();
        else
          got.push({ at: performance.now(), fields: Buffer.from(line, "hex").toString("utf8").split("\n") });
      }
    });
    p.on("exit", () => reject(new Error(`receiver exited: ${err}`)));
    setTimeout(() => reject(new Error("receiver did not bind")), 5000);
  });
  await bound;
  return { got, close: () => p.kill("SIGKILL") };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The pids of `pid`'s children (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function httpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/v1/status", timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

describe("sd_notify from the daemon process", () => {
  let dir: string;
  let server: Server;
  let port: number;
  const apiPort = 20_000 + Math.floor(Math.random() * 20_000);
  const procs: ChildProcess[] = [];
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), "sb-sdnotify-"));
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, "rules.yaml"), SVC_RULES);
  });

  afterAll(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const c of closers) c();
    server.close();
  });

  function daemon(name: string, env: NodeJS.ProcessEnv, api = apiPort) {
    const file = join(dir, `${name}.yaml`);
    // Its own socket in the test's dir: never the host's /run/standby/api.sock.
    writeFileSync(
      file,
      svcConfig(
        dir,
        port,
        `{socket: ${join(dir, `${name}.sock`)}, listen: "127.0.0.1:${api}"}`,
        "",
        join(dir, name),
      ),
    );
    const base = { ...process.env };
    for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STANDBY_TEST_HOOKS"]) delete base[k];
    const p = spawn(process.execPath, [MAIN, "run", "--config", file], {
      env: { ...base, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    procs.push(p);
    const log = { text: "" };
    p.stderr!.setEncoding("utf8").on("data", (d: string) => (log.text += d));
    return { p, log };
  }

  it("READY=1 after the API answers, WATCHDOG=1 every 0.2 s, none while the loop is blocked, STOPPING=1", async () => {
    const sock = join(dir, "notify.sock");
    const rx = await receiver(sock);
    closers.push(rx.close);
    const { p, log } = daemon("main", {
      NOTIFY_SOCKET: sock,
      WATCHDOG_USEC: "600000",
      STANDBY_TEST_HOOKS: "1",
      STANDBY_TEST_BLOCK_MS: "2000",
    });
    const ready = await until(`READY=1 (${log.text})`, () =>
      rx.got.find((m) => m.fields.includes("READY=1")),
    );
    // The API was up before READY=1 was sent: logged before it, and it answers.
    expect(log.text).toContain('"api listening"');
    expect(log.text).toContain('"standby started"');
    expect(await httpAnswers(apiPort)).toBe(true);
    expect(rx.got[0]!.fields).toEqual(["STATUS=starting"]);
    expect(ready.fields).toContain(`MAINPID=${p.pid}`);
    expect(ready.fields).toContain("STATUS=1 group(s): svc: primary");
    expect(ready.fields).toContain("WATCHDOG=1");

    const pings = () => rx.got.filter((m) => m.fields.includes("WATCHDOG=1")).map((m) => m.at);
    await until("regular pings", () => pings().length >= 8);
    const gaps = pings()
      .slice(1)
      .map((t, i) => t - pings()[i]!);
    expect(Math.max(...gaps)).toBeLessThan(600);
    expect(gaps.reduce((a, b) => a + b, 0) / gaps.length).toBeGreaterThan(150);

    // The test hook busy-waits 2 s in the daemon's event loop.
    const blockedAt = performance.now();
    p.kill("SIGUSR2");
    await sleep(3000);
    // No ping for as long as the loop was blocked: one gap of ~2 s between two pings after the signal.
    const after = pings().filter((t) => t > blockedAt - 300);
    const longest = Math.max(...after.slice(1).map((t, i) => t - after[i]!));
    expect(longest).toBeGreaterThan(1900);
    expect(longest).toBeLessThan(3500);
    const why = rx.got.find(
      (m) => m.at > blockedAt && m.fields.some((f) => f.includes("event loop was blocked")),
    );
    expect(why?.fields[0]).toMatch(/^STATUS=watchdog pings stopped: the event loop was blocked: .* late/);
    // Pings again after the block, at the usual pace.
    expect(pings().filter((t) => t > blockedAt + 2000).length).toBeGreaterThanOrEqual(3);
    expect(log.text).toContain("test hook: blocking the event loop");

    const helpers = childrenOf(p.pid!);
    expect(helpers.length).toBeGreaterThan(0); // the notify helper (perl)
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGTERM");
    expect(await exited).toBe(0);
    await until("STOPPING=1", () => rx.got.find((m) => m.fields.includes("STOPPING=1")), 3000);
    // Nothing after STOPPING=1: no pings while it stops.
    const stoppingAt = rx.got.findIndex((m) => m.fields.includes("STOPPING=1"));
    expect(rx.got.slice(stoppingAt + 1)).toEqual([]);
    await until(
      "the helper gone",
      () => helpers.every((h) => !readdirSync("/proc").includes(String(h))),
      3000,
    );
  }, 40_000);

  it("without NOTIFY_SOCKET nothing is started (no helper) and the test hook is off", async () => {
    const { p, log } = daemon("plain", { WATCHDOG_USEC: "600000" }, apiPort + 1);
    await until("api listening", () => log.text.includes('"api listening"'), 15_000);
    await sleep(300);
    expect(childrenOf(p.pid!)).toEqual([]);
    expect(log.text).not.toContain("told systemd");
    expect(log.text).not.toContain("test hooks are on");
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 30_000);
});

describe("the notify transport", () => {
  it("sends each message as one datagram to an abstract socket through the perl helper", async () => {
    const name = `@sb-notify-${process.pid}-${Date.now()}`;
    const rx = await receiver(name);
    try {
      const t = openTransport(name, { log: quietLog });
      expect(t.kind).toBe("helper");
      t.send(["READY=1", "STATUS=a status with\ttabs and ünïcode"]);
      t.send(["WATCHDOG=1"]);
      await until("two datagrams", () => rx.got.length >= 2 || undefined, 5000);
      await t.close();
      expect(rx.got.map((m) => m.fields)).toEqual([
        ["READY=1", "STATUS=a status with\ttabs and ünïcode"],
        ["WATCHDOG=1"],
      ]);
    } finally {
      rx.close();
    }
  }, 15_000);

  it("falls back to systemd-notify per message without perl", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-sdnotify-fb-"));
    const sock = join(dir, "notify.sock");
    const rx = await receiver(sock);
    try {
      const t = openTransport(sock, { log: quietLog, perl: null });
      expect(t.kind).toBe("systemd-notify");
      t.send(["READY=1", "STATUS=via systemd-notify"]);
      await until("a datagram", () => rx.got.length >= 1 || undefined, 5000);
      await t.close();
      expect(rx.got[0]!.fields).toContain("READY=1");
      expect(rx.got[0]!.fields).toContain("STATUS=via systemd-notify");
    } finally {
      rx.close();
    }
  }, 15_000);
});

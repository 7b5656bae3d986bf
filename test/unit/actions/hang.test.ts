/**
 * Issue 6 item 6: an action always ends. A child in uninterruptible sleep (an `ip` stuck on a netlink lock, a
 * script on a hung NFS mount) survives SIGKILL, so neither 'exit' nor 'close' ever comes. Such a process cannot be
 * made on purpose in a test; this one is simulated by swallowing the child's 'exit' and 'close' events (the real
 * process is killed as usual, the runner just never hears of it).
 */
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";

const swallow = { on: false, handles: [] as ChildProcess[] };

vi.mock("node:child_process", async (importOriginal) => {
  const orig = await importOriginal<typeof import("node:child_process")>();
  return {
    ...orig,
    spawn: (...args: Parameters<typeof orig.spawn>) => {
      const child = orig.spawn(...args);
      if (swallow.on) {
        swallow.handles.push(child);
        const emit = child.emit.bind(child);
        child.emit = ((event: string, ...rest: unknown[]) =>
          event === "exit" || event === "close" ? false : emit(event, ...rest)) as ChildProcess["emit"];
      }
      return child;
    },
  };
});

const { runAction } = await import("../../../src/actions/run.js");
const { ABANDON_GRACE_MS, KILL_GRACE_MS, spawnWithTimeout, describeFailure } = await import(
  "../../../src/actions/spawn.js"
);

afterEach(() => {
  swallow.on = false;
  for (const c of swallow.handles.splice(0)) c.kill("SIGKILL");
});

const TIMEOUT = 200;
/** Timeout, SIGTERM → SIGKILL, SIGKILL → abandoned; plus slack for a loaded machine. */
const BOUND = TIMEOUT + 1000 + 500 + 1500;

describe("a child that never exits (uninterruptible sleep)", () => {
  it("spawnWithTimeout resolves by timeout + kill grace and says the child was abandoned", async () => {
    swallow.on = true;
    const started = Date.now();
    // Ignores SIGTERM, so the runner goes on to SIGKILL, after which it hears nothing.
    const r = await spawnWithTimeout(["sh", "-c", 'trap "" TERM; sleep 30'], { timeout: TIMEOUT });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT + KILL_GRACE_MS);
    expect(took).toBeLessThan(BOUND);
    expect(ABANDON_GRACE_MS).toBeLessThanOrEqual(1000);
    expect(r.timedOut).toBe(true);
    expect(r.abandoned).toBe(true);
    expect(r.pid).toBe(swallow.handles[0]?.pid);
    expect(describeFailure(r, TIMEOUT)).toBe(
      `timed out after 200ms, killed, but it did not exit (uninterruptible sleep?): abandoned pid ${r.pid}`,
    );
  }, 10_000);

  it("an exec action resolves by timeout + kill grace with abandoned: true and the pid", async () => {
    swallow.on = true;
    const started = Date.now();
    const r = await runAction(
      { exec: { argv: ["sleep", "30"], env: {}, shell: false, timeout: TIMEOUT } },
      { group: "g", to: "b", reason: "test", dryRun: false },
    );
    expect(Date.now() - started).toBeLessThan(BOUND);
    expect(r.ok).toBe(false);
    expect(r.abandoned).toBe(true);
    expect(r.pid).toBe(swallow.handles[0]?.pid);
    expect(r.error).toMatch(/^exec: sleep: timed out after 200ms, killed, .*abandoned pid \d+$/);
  }, 10_000);

  it("a route action (ip, no process group) resolves the same way", async () => {
    swallow.on = true;
    const started = Date.now();
    // Not really ip: a command that sits there like an ip stuck on the netlink lock (no root needed).
    const r = await runAction(
      { route: { to: "default", via: "10.0.0.1", timeout: TIMEOUT } },
      { group: "g", to: "b", reason: "test", dryRun: false, netns: "sb-no-such-ns-hang" },
    );
    expect(Date.now() - started).toBeLessThan(BOUND);
    expect(r.ok).toBe(false);
    // Either ip failed fast (the namespace does not exist: 'exit' swallowed, so it is abandoned too) or it hung.
    expect(r.abandoned).toBe(true);
  }, 10_000);

  it("an aborted command that never exits is abandoned too", async () => {
    swallow.on = true;
    const ac = new AbortController();
    const started = Date.now();
    const p = spawnWithTimeout(["sh", "-c", 'trap "" TERM; sleep 30'], {
      timeout: 60_000,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 100);
    const r = await p;
    expect(Date.now() - started).toBeLessThan(100 + BOUND);
    expect(r.aborted).toBe(true);
    expect(r.abandoned).toBe(true);
  }, 10_000);
});

describe("an action stuck on something it cannot cancel", () => {
  it("an http action whose secret never arrives (a secret file on a hung mount) fails at its deadline", async () => {
    const started = Date.now();
    const r = await runAction(
      {
        http: {
          url: "http://127.0.0.1:9/x",
          method: "POST",
          headers: { authorization: { kind: "file", path: "/mnt/hung/token" } },
          timeout: TIMEOUT,
        },
      },
      {
        group: "g",
        to: "b",
        reason: "test",
        dryRun: false,
        resolveSecret: () => new Promise<string>(() => {}),
      },
    );
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT + KILL_GRACE_MS);
    expect(took).toBeLessThan(BOUND);
    expect(r).toMatchObject({ ok: false, kind: "http", abandoned: true });
    expect(r.error).toBe("http: did not finish within 1.95s (timeout 200ms + kill grace): abandoned");
  }, 10_000);
});

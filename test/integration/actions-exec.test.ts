/**
 * exec actions as real processes: exit codes, missing programs, timeouts that kill the whole process group,
 * environment, output, and no shell unless asked.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionContext, runAction } from "../../src/actions/run.js";
import { spawnWithTimeout } from "../../src/actions/spawn.js";
import { switchContext } from "../helpers.js";

const ctx: ActionContext = switchContext;

function exec(
  argv: string[],
  opts: { shell?: boolean; timeout?: number; env?: Record<string, string> } = {},
) {
  return { exec: { argv, env: opts.env ?? {}, shell: opts.shell ?? false, timeout: opts.timeout ?? 5000 } };
}

/** Processes whose command line contains `token` (a unique sleep duration marks each test's processes). */
function processesWith(token: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (cmd.includes(token)) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  return pids;
}

function token(): string {
  return `30.${Math.floor(Math.random() * 1e6)
    .toString()
    .padStart(6, "1")}`;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sb-ac-exec-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("exec", () => {
  it("succeeds with exit 0 and captures the output", async () => {
    const r = await runAction(exec(["/bin/echo", "hello", "world"]), ctx);
    expect(r).toMatchObject({
      ok: true,
      kind: "exec",
      exitCode: 0,
      output: "hello world\n",
      argv: ["/bin/echo", "hello", "world"],
    });
    expect(r.error).toBeUndefined();
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.durationMs).toBeLessThan(5000); // measured, not a default or a timeout
  });

  it("fails on a non-zero exit, with the code and the last line of output", async () => {
    const r = await runAction(exec(["/bin/sh", "-c", "echo working; echo 'disk full' >&2; exit 3"]), ctx);
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(3);
    expect(r.output).toBe("working\ndisk full\n");
    expect(r.error).toBe("exec: /bin/sh: exit 3: disk full");
  });

  it("says clearly when the program does not exist or cannot be run", async () => {
    const r = await runAction(exec(["/nope", "x"]), ctx);
    expect(r).toMatchObject({ ok: false, error: "exec: /nope: no such file" });
    expect(r.exitCode).toBeUndefined();

    const notExecutable = join(dir, "script.sh");
    await writeFile(notExecutable, "#!/bin/sh\necho hi\n", { mode: 0o644 });
    const p = await runAction(exec([notExecutable]), ctx);
    expect(p.error).toBe(`exec: ${notExecutable}: permission denied`);

    const onPath = await runAction(exec(["standby-no-such-program-xyz"]), ctx);
    expect(onPath.error).toBe("exec: standby-no-such-program-xyz: no such file");
  });

  it("kills a hanging command at its timeout, and everything it started", async () => {
    const t = token();
    const started = Date.now();
    // The shell forks sleep (not exec): killing only the shell would leave the sleep behind.
    const r = await runAction(exec([`sleep ${t}; echo never`], { shell: true, timeout: 300 }), ctx);
    const took = Date.now() - started;
    expect(r.ok).toBe(false);
    expect(r.error).toBe("exec: sh -c: timed out after 300ms, killed");
    expect(r.output).not.toContain("never");
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1200); // well before the SIGKILL a second later: SIGTERM was enough
    expect(processesWith(t)).toEqual([]);
  });

  it("uses SIGKILL a second later when the command ignores SIGTERM", async () => {
    const t = token();
    const started = Date.now();
    const r = await runAction(exec([`trap '' TERM; sleep ${t}`], { shell: true, timeout: 200 }), ctx);
    const took = Date.now() - started;
    expect(r.error).toBe("exec: sh -c: timed out after 200ms, killed (SIGKILL: it ignored SIGTERM)");
    expect(took).toBeGreaterThanOrEqual(1150);
    expect(took).toBeLessThan(4000);
    expect(processesWith(t)).toEqual([]);
  });

  it("stops when aborted", async () => {
    const t = token();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await runAction(exec(["/bin/sleep", t], { timeout: 10_000 }), { ...ctx, signal: ac.signal });
    expect(r.error).toBe("exec: /bin/sleep: cancelled, killed");
    expect(r.durationMs).toBeLessThan(2000);
    expect(processesWith(t)).toEqual([]);
  });

  it("does not wait for a background child that keeps the output open", async () => {
    const t = token();
    const r = await runAction(exec([`sleep ${t} & echo started`], { shell: true, timeout: 5000 }), ctx);
    expect(r).toMatchObject({ ok: true, output: "started\n" });
    expect(r.durationMs).toBeLessThan(1500);
    for (const pid of processesWith(t)) process.kill(pid, "SIGKILL");
  });

  it("passes STANDBY_* and the action's env on top of the daemon's environment", async () => {
    const r = await runAction(exec(["/usr/bin/env"], { env: { EXTRA: "x y", STANDBY_TO: "override" } }), ctx);
    const env = Object.fromEntries(
      r.output
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(env).toMatchObject({
      STANDBY_GROUP: "uplink",
      STANDBY_FROM: "isp-a",
      STANDBY_TO: "override",
      STANDBY_REASON: "gw-a-down firing",
      EXTRA: "x y",
    });
    expect(env.PATH).toBe(process.env.PATH);
  });

  it("captures stdout and stderr together and truncates long output to about 4 KiB", async () => {
    const r = await runAction(exec(["/bin/sh", "-c", "echo out; echo err >&2"]), ctx);
    expect(r.output.split("\n").sort()).toEqual(["", "err", "out"]);
    const big = await runAction(
      exec(["/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo LAST"]),
      ctx,
    );
    expect(big.ok).toBe(true);
    expect(Buffer.byteLength(big.output)).toBeLessThan(4200);
    expect(big.output).toMatch(/bytes left out/);
    expect(big.output.trimEnd().endsWith("LAST")).toBe(true);
  });

  it("never interprets $(...), backticks or variables without shell: true", async () => {
    const marker = join(dir, "pwned");
    const r = await runAction(exec(["/bin/echo", `$(touch ${marker})`, "`id`", "$HOME", "a;b", "*"]), ctx);
    expect(r.output).toBe(`$(touch ${marker}) \`id\` $HOME a;b *\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it("with shell: true runs argv[0] as a script and passes the rest as $0, $1, ...", async () => {
    const r = await runAction(
      exec(['printf "%s|" "$0" "$1" "$2"', "zero", "one", "two words"], { shell: true }),
      ctx,
    );
    expect(r.output).toBe("zero|one|two words|");
  });
});

describe("spawnWithTimeout", () => {
  it("writes stdin and reports the exit code", async () => {
    const r = await spawnWithTimeout(["/bin/cat"], { timeout: 2000, stdin: "from stdin\n" });
    expect(r).toMatchObject({ exitCode: 0, output: "from stdin\n", timedOut: false });
  });

  it("without a process group (for ip), still kills the command at its timeout", async () => {
    const t = token();
    const r = await spawnWithTimeout(["/bin/sleep", t], { timeout: 200, group: false });
    expect(r).toMatchObject({ timedOut: true, killedWith: "SIGTERM", exitSignal: "SIGTERM" });
    expect(r.durationMs).toBeLessThan(1000);
    expect(processesWith(t)).toEqual([]);
  });

  it("is not bothered by a command that ignores its stdin", async () => {
    const r = await spawnWithTimeout(["/bin/true"], { timeout: 2000, stdin: "x".repeat(1 << 20) });
    expect(r.exitCode).toBe(0);
  });
});

describe("spawnWithTimeout captureStdout", () => {
  it("keeps all of stdout (not stderr) up to the limit, beyond the output truncation", async () => {
    const script = "head -c 20000 /dev/zero | tr '\\0' a; echo err >&2";
    const r = await spawnWithTimeout(["sh", "-c", script], { timeout: 5000, captureStdout: 1 << 20 });
    expect(r.stdout).toBe("a".repeat(20000));
    expect(r.stdoutTruncated).toBeUndefined();
    expect(r.output.length).toBeLessThan(5000);
    const cut = await spawnWithTimeout(["sh", "-c", script], { timeout: 5000, captureStdout: 1000 });
    expect(cut.stdout).toBe("a".repeat(1000));
    expect(cut.stdoutTruncated).toBe(true);
    const none = await spawnWithTimeout(["sh", "-c", script], { timeout: 5000 });
    expect(none.stdout).toBeUndefined();
  });
});

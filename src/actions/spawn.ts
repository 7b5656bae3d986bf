/**
 * Running one external command the way every action runner does: an argv array (never a shell), a timeout,
 * output captured and truncated, and a result instead of an exception.
 *
 * The child gets its own process group (`detached`), so a timeout or an abort can kill everything it started
 * (a shell script's children too): SIGTERM to the group at the timeout, SIGKILL to the group 1 s later if the
 * command is still there. Commands known not to fork (`ip`) may skip the group (`group: false`), which saves
 * a little time on the failover path (setsid makes the spawn slower).
 *
 * The promise always settles, by `timeout + KILL_GRACE_MS + ABANDON_GRACE_MS` at the latest: a child in
 * uninterruptible sleep (an `ip` stuck on the netlink lock, a script on a hung NFS mount) survives SIGKILL and
 * never exits; ABANDON_GRACE_MS after the SIGKILL it is abandoned (its pipes destroyed, its handle unref'd so it
 * holds up neither the caller nor the process's exit) and the result says so (`abandoned`, `pid`).
 */
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";

/**
 * How long to wait for the exit after SIGKILL before the child is given up on (it is then in uninterruptible
 * sleep, or its exit is lost): the result is returned with `abandoned: true`.
 */
export const ABANDON_GRACE_MS = 500;
/** How long to keep reading after the command exited, in case a background child still holds its output. */
const DRAIN_MS = 200;

export interface SpawnOptions {
  /** Milliseconds; SIGTERM then, SIGKILL KILL_GRACE_MS later. */
  readonly timeout: number;
  /** The whole environment of the child (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Aborting kills the command as a timeout does. */
  readonly signal?: AbortSignal;
  /** Written to the child's stdin, which is then closed (default: no stdin). */
  readonly stdin?: string;
  readonly cwd?: string;
  /**
   * Run in a process group of its own and kill the whole group (default true). Only commands that start no
   * children of their own (`ip`, which also execs in place under `ip netns exec`) should turn it off.
   */
  readonly group?: boolean;
  /**
   * Also keep the whole of stdout, up to this many bytes, in `stdout` (for collectors that parse what a tool
   * prints: `ipmitool sdr elist`, `smartctl -j`). Beyond it the rest is dropped and `stdoutTruncated` set.
   */
  readonly captureStdout?: number;
}

export interface SpawnResult {
  readonly argv: readonly string[];
  /** The exit code, when the command exited by itself or after SIGTERM. */
  readonly exitCode?: number;
  /** The signal that ended the command (e.g. "SIGKILL"). */
  readonly exitSignal?: string;
  /** stdout and stderr as they arrived, truncated to about OUTPUT_LIMIT bytes. */
  readonly output: string;
  readonly durationMs: number;
  /** The command could not be started: the errno code (ENOENT, EACCES, ...). */
  readonly spawnError?: string;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** The signal we ended it with after a timeout or abort: SIGTERM, or SIGKILL when SIGTERM was not enough. */
  readonly killedWith?: "SIGTERM" | "SIGKILL";
  readonly pid?: number;
  /**
   * The command did not exit ABANDON_GRACE_MS after SIGKILL (uninterruptible sleep): standby stopped waiting for
   * it. It may still be there (`pid`); nothing of it holds up the daemon.
   */
  readonly abandoned?: true;
  /** All of stdout (up to `captureStdout` bytes), when the option was given. */
  readonly stdout?: string;
  readonly stdoutTruncated?: true;
}

import { formatDuration } from "../util/duration.js";
import { KILL_GRACE_MS } from "../util/kill.js";
import { lastLine, OutputBuffer, roundMs } from "./output.js";

export { lastLine, OUTPUT_LIMIT, OutputBuffer, roundMs, truncateOutput } from "./output.js";
export { formatDuration, KILL_GRACE_MS };

function killGroup(pid: number, signal: NodeJS.Signals, group: boolean): boolean {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch {
    if (!group) return false;
    try {
      // No group (the child may not have called setsid yet): the child alone.
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Whether any process of the group still runs. Zombies do not count: an orphan whose new parent (PID 1 in a
 * container, for instance) is slow to reap it is dead all the same. Reads /proc where there is one.
 */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads of /proc/PID/stat in flight at once while looking for live members of a process group. */
const PROC_SCAN_BATCH = 64;

async function groupAlive(pgid: number): Promise<boolean> {
  // Cheap and synchronous: no process at all in the group (the common case once it is gone).
  if (!groupExists(pgid)) return false;
  // Only zombies left? That takes a look at every process: off the event loop, so that a host with thousands of
  // processes does not stall probes and timers while a killed action drains.
  let entries: string[];
  try {
    entries = (await readdir("/proc")).filter((e) => e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57);
  } catch {
    return true;
  }
  for (let i = 0; i < entries.length; i += PROC_SCAN_BATCH) {
    const stats = await Promise.all(
      entries.slice(i, i + PROC_SCAN_BATCH).map((e) => readFile(`/proc/${e}/stat`, "latin1").catch(() => "")),
    );
    for (const stat of stats) {
      if (!stat) continue;
      // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
    }
  }
  return false;
}

/** Runs argv[0] with argv[1..] (no shell), never throws. */
export function spawnWithTimeout(argv: readonly string[], opts: SpawnOptions): Promise<SpawnResult> {
  const started = performance.now();
  const out = new OutputBuffer();
  const captured: Buffer[] = [];
  let capturedBytes = 0;
  let stdoutTruncated = false;
  const base = { argv: [...argv] };
  if (argv.length === 0 || !argv[0]) {
    return Promise.resolve({
      ...base,
      output: "",
      durationMs: 0,
      spawnError: "EINVAL",
      timedOut: false,
      aborted: false,
    });
  }
  if (opts.signal?.aborted) {
    return Promise.resolve({ ...base, output: "", durationMs: 0, timedOut: false, aborted: true });
  }

  const useGroup = opts.group ?? true;
  return new Promise<SpawnResult>((resolve) => {
    let settled = false;
    let timedOut = false;
    let aborted = false;
    let killedWith: "SIGTERM" | "SIGKILL" | undefined;
    let exitCode: number | undefined;
    let exitSignal: string | undefined;
    let exited = false;
    let timer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let abandonTimer: NodeJS.Timeout | undefined;

    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: useGroup,
      shell: false,
      windowsHide: true,
    });

    const finish = (extra: Partial<SpawnResult> = {}) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      if (abandonTimer) clearTimeout(abandonTimer);
      opts.signal?.removeEventListener("abort", onAbort);
      // A pending SIGKILL stays armed only while something of the group is left (a pid may be reused).
      if (killTimer && !(useGroup && child.pid !== undefined && groupExists(child.pid)))
        clearTimeout(killTimer);
      child.stdin?.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        ...base,
        ...(exitCode !== undefined ? { exitCode } : {}),
        ...(exitSignal !== undefined ? { exitSignal } : {}),
        output: out.toString(),
        ...(opts.captureStdout !== undefined
          ? {
              stdout: Buffer.concat(captured).toString("utf8"),
              ...(stdoutTruncated ? { stdoutTruncated: true } : {}),
            }
          : {}),
        durationMs: roundMs(performance.now() - started),
        timedOut,
        aborted,
        ...(killedWith ? { killedWith } : {}),
        ...(child.pid !== undefined ? { pid: child.pid } : {}),
        ...extra,
      });
    };

    const kill = () => {
      const pid = child.pid;
      if (pid === undefined || killedWith) return;
      killedWith = "SIGTERM";
      killGroup(pid, "SIGTERM", useGroup);
      // Whatever happens to the child from here on, the caller gets its result by then.
      abandonTimer = setTimeout(() => {
        abandonTimer = undefined;
        if (settled || exited) return;
        if (killTimer) clearTimeout(killTimer);
        killTimer = undefined;
        killedWith = "SIGKILL";
        // Never wait for it again (a late exit finds the promise settled), and let the process exit without it.
        child.unref();
        finish({ abandoned: true });
      }, KILL_GRACE_MS + ABANDON_GRACE_MS);
      killTimer = setTimeout(() => {
        killTimer = undefined;
        // Whatever is left of the group, including children that outlived their parent.
        if (killGroup(pid, "SIGKILL", useGroup) && !exited) killedWith = "SIGKILL";
        if (exited) setTimeout(() => finish(), 50);
      }, KILL_GRACE_MS);
    };

    function onAbort() {
      if (exited || settled) return;
      aborted = true;
      kill();
    }

    child.stdout?.on("data", (c: Buffer) => {
      out.push(c);
      if (opts.captureStdout === undefined || stdoutTruncated) return;
      const room = opts.captureStdout - capturedBytes;
      if (c.length > room) stdoutTruncated = true;
      const keep = c.length > room ? c.subarray(0, room) : c;
      captured.push(keep);
      capturedBytes += keep.length;
    });
    child.stderr?.on("data", (c: Buffer) => out.push(c));

    child.on("error", (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) {
        // Not started at all: no exit or close follows that matters.
        finish({ spawnError: err.code ?? err.message });
      }
    });
    child.on("exit", (code, sig) => {
      exited = true;
      exitCode = code ?? undefined;
      exitSignal = sig ?? undefined;
      if (timer) clearTimeout(timer);
      if (!useGroup && killTimer) {
        // The pid may be reused once reaped: never signal it again.
        clearTimeout(killTimer);
        killTimer = undefined;
      }
      const pid = child.pid;
      if (killedWith && pid !== undefined && useGroup) {
        // We killed it: return once nothing of its process group is left (or after the SIGKILL).
        const poll = async () => {
          if (settled) return;
          const alive = await groupAlive(pid);
          if (settled) return;
          if (!alive) {
            if (killTimer) clearTimeout(killTimer);
            finish();
          } else drainTimer = setTimeout(killTimer ? () => void poll() : () => finish(), 50);
        };
        void poll();
        return;
      }
      // The output may still be held open by a child the command left behind: read a little longer, not forever.
      drainTimer = setTimeout(() => finish(), DRAIN_MS);
    });
    child.on("close", () => {
      if (exited && !(useGroup && killedWith && child.pid !== undefined && groupExists(child.pid))) finish();
    });

    if (child.stdin) {
      child.stdin.on("error", () => {
        // EPIPE: the command did not read its input; not our failure.
      });
      child.stdin.end(opts.stdin);
    }

    timer = setTimeout(
      () => {
        if (exited || settled) return;
        timedOut = true;
        kill();
      },
      Math.max(1, opts.timeout),
    );
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const SPAWN_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  ENOEXEC: "not an executable",
  ENOTDIR: "a directory in the path is not a directory",
  EISDIR: "is a directory",
  EINVAL: "no program given",
  E2BIG: "argument list too long",
};

/**
 * Why a command failed, in one line without the name of the command (the caller prefixes it), or undefined when
 * it succeeded: `exit 2: RTNETLINK answers: Network is unreachable`, `timed out after 5s, killed`,
 * `no such file`.
 */
export function describeFailure(r: SpawnResult, timeout: number): string | undefined {
  if (r.spawnError) return SPAWN_ERRORS[r.spawnError] ?? `could not start (${r.spawnError})`;
  if (r.abandoned) {
    const what = r.timedOut ? `timed out after ${formatDuration(timeout)}` : "cancelled";
    return `${what}, killed, but it did not exit (uninterruptible sleep?): abandoned pid ${r.pid ?? "?"}`;
  }
  if (r.timedOut) {
    return r.killedWith === "SIGKILL"
      ? `timed out after ${formatDuration(timeout)}, killed (SIGKILL: it ignored SIGTERM)`
      : `timed out after ${formatDuration(timeout)}, killed`;
  }
  if (r.aborted) return r.killedWith ? "cancelled, killed" : "cancelled before it started";
  if (r.exitSignal) return `killed by ${r.exitSignal}`;
  if (r.exitCode !== undefined && r.exitCode !== 0) {
    const line = lastLine(r.output);
    return line ? `exit ${r.exitCode}: ${line}` : `exit ${r.exitCode}`;
  }
  return undefined;
}

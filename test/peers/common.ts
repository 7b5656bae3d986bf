/**
 * What the tests with real peers (snmpd, ipmi_sim, daemons) and the benchmarks share: free ports, waiting. No
 * vitest here: the benchmarks import it (test/peers/snmpd.ts) outside the test runner.
 */
import type { ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { createServer } from "node:net";

/** A free UDP port on 127.0.0.1 (bound, then released). */
export async function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** Waits until `pred` holds (polling every 5 ms); returns how long it took, or throws naming `what`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

/** Stops a peer process (SIGTERM, SIGKILL 5 s later) and waits until it has exited, so its port is free again. */
export async function stopProcess(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

/** The last `lines` lines of a log file (its last 64 KB read), or "(no log)". */
export function tailFile(file: string, lines = 20): string {
  if (!existsSync(file)) return "(no log)";
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, 65_536));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } finally {
    closeSync(fd);
  }
}

/** Signals the process group the child leads (spawned detached), falling back to the child itself. */
export function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, sig);
  } catch {
    try {
      c.kill(sig);
    } catch {
      // gone already
    }
  }
}

const TERMINATING: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];
const SIGNAL_NUMBER: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Runs `cleanup` (synchronous, best effort) when the test process exits — also when it is ended by SIGTERM,
 * SIGINT or SIGHUP, which skip 'exit' handlers: vitest stops its fork workers with SIGTERM, so a test file that
 * timed out or never reached its afterAll would otherwise leave its peers (etcd members, namespaces) behind.
 * After the last such handler has run, the process exits with 128 + the signal's number, as it would have.
 */
export function cleanupOnTermination(cleanup: () => void): void {
  const run = () => {
    try {
      cleanup();
    } catch {
      // best effort: the next run's own sweep removes what is left
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    for (const s of TERMINATING) process.off(s, onSignal);
    process.off("exit", run);
    run();
    if (process.listenerCount(sig) === 0) process.exit(128 + (SIGNAL_NUMBER[sig] ?? 15));
  };
  for (const s of TERMINATING) process.on(s, onSignal);
  process.once("exit", run);
}

/**
 * Hooks for tests of the running daemon, off unless its environment has `STANDBY_TEST_HOOKS=1` (so that no
 * signal can trigger one on a production host by accident; a warning is logged when they are on):
 * - SIGUSR2 blocks the event loop for `STANDBY_TEST_BLOCK_MS` ms (default 2000, at most 60000) with a busy
 *   wait, as a stuck computation would: the systemd watchdog's test sees the pings stop.
 */
import { performance } from "node:perf_hooks";
import type { Log } from "../collector.js";

export function installTestHooks(log: Log, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.STANDBY_TEST_HOOKS !== "1") return false;
  const ms = Math.min(Number(env.STANDBY_TEST_BLOCK_MS ?? 2000) || 2000, 60_000);
  log.warn({ block_ms: ms }, "test hooks are on (STANDBY_TEST_HOOKS=1): SIGUSR2 blocks the event loop");
  process.on("SIGUSR2", () => {
    log.warn({ block_ms: ms }, "test hook: blocking the event loop");
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // busy: nothing else runs
    }
  });
  return true;
}

/**
 * Time between SIGTERM and SIGKILL when standby stops a program it runs (an action at its timeout, a probe
 * program on abort): long enough to exit cleanly, short enough that nothing waits on a program that will not.
 */
export const KILL_GRACE_MS = 1000;

/** Whether a process exists (a zombie not yet reaped counts; so does one we may not signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

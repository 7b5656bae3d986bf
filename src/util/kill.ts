import { accessSync, constants, existsSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

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

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

/**
 * The argv of a long-running child (`ip monitor`, `fping -l`) that must not outlive standby: run through
 * util-linux's `setpriv --pdeathsig KILL`, which has the kernel kill it when standby dies, even by SIGKILL (under
 * systemd the cgroup is cleaned anyway; started by hand or by a test, an `ip monitor` that only writes when a link
 * changes would otherwise live on for ever). setpriv execs the program: the pid is the program's. Without setpriv
 * (not Debian: util-linux is essential there), the argv as given.
 */
export function diesWithParent(argv: readonly [string, ...string[]]): [string, ...string[]] {
  // A program that is not there is left to spawn(), whose ENOENT callers tell from a program that failed.
  return SETPRIV && findProgram(argv[0]) ? [SETPRIV, "--pdeathsig", "KILL", "--", ...argv] : [...argv];
}

/** Whether `program` (a path, or a name looked up in PATH) is an executable file. */
function findProgram(program: string): boolean {
  const x = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes("/")) return x(program);
  return (process.env.PATH ?? "").split(delimiter).some((d) => d !== "" && x(join(d, program)));
}

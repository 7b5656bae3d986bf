import type { Log } from "../collector.js";
import type { StateDiscardedEvent } from "../groups/events.js";
import { type DurableGroupState, loadState, setAside, stateFile } from "./state.js";

/**
 * The saved durable state by group, or undefined. A state file that cannot be read or is not shaped as one must
 * not crash-loop the service: it is moved aside (kept for a post-mortem), the daemon starts as with no state
 * (adopting what is installed), and an event says so. A dry run leaves the file where it is.
 */
export async function loadSaved(
  dir: string,
  opts: {
    readonly dryRun: boolean;
    /** Wall ms, for the name of the file set aside. */
    readonly wallNow: number;
    readonly log: Log;
    readonly record: (e: Omit<StateDiscardedEvent, "ts">) => void;
  },
): Promise<Readonly<Record<string, DurableGroupState>> | undefined> {
  const r = await loadState(dir);
  if (r.kind === "ok") return r.state.groups;
  if (r.kind === "none") return undefined;
  let where: string;
  if (opts.dryRun) where = "left in place (dry run)";
  else {
    try {
      where = `moved to ${await setAside(dir, opts.wallNow)}`;
    } catch (err) {
      where = `could not be moved aside (${(err as Error).message})`;
    }
  }
  const reason = `${stateFile(dir)} is unusable: ${r.why}; ${where}; starting as with no saved state (adopting what is installed)`;
  opts.log.error({ state_dir: dir, why: r.why }, reason);
  // The next save replaces the file with the state as adopted.
  opts.record({ kind: "state_discarded", reason });
  return undefined;
}

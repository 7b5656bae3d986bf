import type { RouteSpec } from "../actions/argv.js";
import { type Route, routeReader } from "../actions/routes.js";
import type { Log } from "../collector.js";
import { type GroupState, initialState } from "../groups/controller.js";
import type { StateDiscardedEvent } from "../groups/events.js";
import type { GroupSpec } from "../groups/types.js";
import type { Clock } from "../util/clock.js";
import {
  type DurableGroupState,
  fromDurable,
  loadState,
  type SwitchIntent,
  setAside,
  stateFile,
} from "./state.js";

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

/**
 * Each group's state at start: its saved durable state (and the switches a crash cut short, given to `intents`),
 * else — no saved state — the member whose routes/addresses are installed, adopted as active, so a first start
 * does not move traffic by itself. Groups with neither are left out (the pipeline starts them afresh).
 */
export async function initialStates(o: {
  readonly groups: readonly GroupSpec[];
  readonly saved: (g: GroupSpec) => DurableGroupState | undefined;
  /** Monotonic ms. */
  readonly now: number;
  readonly wallClock: Clock;
  readonly installed: (
    g: GroupSpec,
    routes: (spec: RouteSpec) => Promise<Route[]>,
  ) => Promise<string[] | undefined>;
  readonly intents: (group: string, list: readonly SwitchIntent[]) => void;
  readonly log: Log;
}): Promise<Map<string, GroupState>> {
  const initial = new Map<string, GroupState>();
  const routes = routeReader();
  for (const g of o.groups) {
    const d = o.saved(g);
    const s = d ? fromDurable(g, d, o.now, o.wallClock) : undefined;
    if (s) {
      initial.set(g.name, s);
      if (d?.intents?.length) o.intents(g.name, d.intents);
      continue;
    }
    const installed = await o.installed(g, routes).catch(() => undefined);
    if (installed?.length === 1) {
      initial.set(g.name, initialState(g, o.now, installed[0]));
      o.log.info({ group: g.name, active: installed[0] }, "adopted the member whose routes are installed");
    }
  }
  return initial;
}

import type { ActionContext, ActionResult } from "../actions/run.js";
import type { ActionSpec } from "../actions/types.js";
import type { Collector, Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { StandbyEvent } from "../groups/events.js";
import type { GroupSpec } from "../groups/types.js";
import type { AppendWriter } from "../sinks/eventlog.js";
import type { Clock } from "../util/clock.js";
import type { ReloadOutcome } from "./status.js";

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Log;
  /** Decide and log everything, run no action, write no state file. */
  readonly dryRun?: boolean;
  /** Called with every event (the live view on stdout), time-stamped with wall time. */
  readonly onEvent?: (e: StandbyEvent) => void;
  /** Called after every reload, applied or refused (the live view). */
  readonly onReload?: (r: ReloadOutcome) => void;
  /** Monotonic time for decisions, wall time for events and display (default: the system's). */
  readonly clock?: Clock;
  /** How often the installed routes/addresses are compared with the desired state (ms; 0: never). */
  readonly reassertEvery?: number;
  /** How often state_dir/metrics.prom is rewritten (ms, default 10 s; 0: only at stop). */
  readonly metricsEvery?: number;
  /** Collectors to use instead of the configured ones (tests). */
  readonly collectors?: readonly Collector[];
  /** Writes state.json and metrics.prom atomically (default: `writeFileAtomic`; tests inject slow disks). */
  readonly writeFile?: (path: string, data: string) => Promise<void>;
  /** Appends to the event log (default: the file in state_dir; tests inject slow disks). */
  readonly appendEvents?: AppendWriter;
  /** Runs one action (default: `runAction`; tests count and delay). */
  readonly runAction?: (action: ActionSpec, ctx: ActionContext) => Promise<ActionResult>;
  /**
   * The members whose activation is in place, or undefined when the group's actions cannot be checked
   * (default: routes and addresses read from the kernel; tests fake it).
   */
  readonly installed?: (group: GroupSpec) => Promise<string[] | undefined>;
}

export interface CommandResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly events: readonly StandbyEvent[];
}

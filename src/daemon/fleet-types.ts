/** The daemon's side of fleet mode (fleet.ts): what the glue needs of the daemon, what status shows of a shared group. */
import type { Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { Command } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import type { Output, Pipeline } from "../pipeline.js";
import type { Clock } from "../util/clock.js";
import type { SwitchIntent } from "./state.js";

export interface FleetHost {
  readonly log: Log;
  readonly clock: Clock;
  /** Wall-time conversion of the daemon (monotonic ↔ wall). */
  readonly wallClock: Clock;
  config(): Config;
  pipeline(): Pipeline;
  /** The switches not finished of a group (its intents). */
  intents(group: string): readonly SwitchIntent[];
  /** Finishes a switch a dead leader left behind, under this instance's token. */
  resume(group: string, intents: readonly SwitchIntent[], fence: string): void;
  /** An operator command run here (a command forwarded by a follower to this leader). */
  runCommand(
    group: string,
    cmd: Command,
    caller: { by?: "socket" | "token"; who: string; reason?: string },
  ): Promise<{ ok: boolean; error?: string; events: readonly StandbyEvent[] }>;
  /** Records events and queues switches. */
  handle(out: Output): void;
}

/** A shared group's fleet-side status (`standby status`). */
export interface SharedGroupStatus {
  readonly leader?: string;
  readonly fence?: string;
  readonly role: "leader" | "follower" | "candidate";
  readonly quorum: string;
  readonly votes: {
    readonly member: string;
    readonly verdict: string;
    readonly reason: string;
    /** The live observers by what they see (a live observer without a view counts as unknown). */
    readonly tally?: Readonly<Record<"healthy" | "degraded" | "unhealthy" | "unknown", number>>;
    readonly views: readonly { observer: string; health: string; reason?: string }[];
  }[];
}

export const sharedNames = (c: Config) => c.groups.filter((g) => g.scope === "shared").map((g) => g.name);
/** The names of the config's `shared: true` collectors (the targets sharded over the fleet). */
export const sharedTargets = (c: Config) =>
  c.collectors.filter((x) => (x as { shared?: boolean }).shared === true).map((x) => x.name);

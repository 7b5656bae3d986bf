/**
 * The etcd writes of a shared group's leader (fleet mode): the group's state key, with the switch in progress,
 * under the fencing token, one at a time and in order per group; and the retry of an etcd call that got no answer
 * while this instance still leads.
 */
import type { Fleet, SharedStateValue } from "../cluster/fleet.js";
import { SerialQueue } from "../util/atomic.js";
import type { FleetHost } from "./fleet-types.js";
import { toDurable } from "./state.js";

export class StateWriter {
  private readonly queues = new Map<string, SerialQueue>();

  constructor(
    private readonly h: Pick<FleetHost, "pipeline" | "clock" | "wallClock" | "log">,
    private readonly fleet: Fleet,
    /** The token under which this instance leads the group now (undefined: it does not). */
    private readonly fenceOf: (group: string) => string | undefined,
  ) {}

  /** Resolves when every write queued so far has settled. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.drain()));
  }

  private queue(group: string): SerialQueue {
    let q = this.queues.get(group);
    if (!q) this.queues.set(group, (q = new SerialQueue()));
    return q;
  }

  /** Writes the group's state (and intent) under `fence`, in order; undefined when written, else why not. */
  write(group: string, fence: string, intent: SharedStateValue["intent"]): Promise<string | undefined> {
    return this.queue(group).run(async () => {
      const state = this.h.pipeline().groupState(group);
      if (!state) return `no group "${group}"`;
      const value: SharedStateValue = {
        leader: this.fleet.name,
        fence,
        state: { ...toDurable(state, [], this.h.wallClock) },
        ...(intent ? { intent } : {}),
        savedAt: this.h.clock.wall(),
      };
      try {
        if (await this.whileLeading(group, fence, () => this.fleet.writeState(group, fence, value)))
          return undefined;
        this.fleet.recheck();
        return `fencing token ${fence} refused by etcd: another instance leads "${group}" now`;
      } catch (e) {
        return `etcd did not answer (${(e as Error).message}): not acting without it`;
      }
    });
  }

  /**
   * An etcd call of a switch, tried again while it fails without an answer (an etcd leader election, a member
   * restarting) and this instance still leads by its own clock: a switch is not left half-done by a hiccup. Once
   * the lead is lost the error stands, and the next leader finishes the intent from etcd.
   */
  async whileLeading<T>(group: string, fence: string, op: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (this.fenceOf(group) !== fence) throw e;
        this.h.log.warn(
          { group, err: (e as Error).message },
          "etcd did not answer a fenced call; trying again",
        );
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 500)));
      }
    }
  }
}

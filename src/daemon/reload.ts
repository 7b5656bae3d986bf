import type { Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import type { GroupState } from "../groups/controller.js";
import type { GroupSpec } from "../groups/types.js";
import type { Pipeline } from "../pipeline.js";
import type { ReloadOutcome } from "./status.js";

/** A new config to reload, or why there is none (an invalid file). */
export type ReloadSource = { ok: true; config: Config } | { ok: false; message: string };

/**
 * Reloads one at a time: a reload requested while another runs is done once after it, however many were
 * requested meanwhile (two quick SIGHUPs never run two reloads side by side). `apply` builds everything that can
 * fail before it commits; if it throws, the old config keeps running. Every outcome is logged, kept for `standby
 * status` and handed to `onOutcome` (the live view).
 */
export class ReloadQueue {
  private next: (() => Promise<ReloadSource>) | undefined;
  private loop: Promise<ReloadOutcome | undefined> | undefined;
  private closed = false;
  last: ReloadOutcome | undefined;

  constructor(
    private readonly opts: {
      readonly log: Log;
      /** Applies the config; returns what to say ("reloaded: ..."), throws why it cannot. */
      readonly apply: (config: Config) => Promise<string>;
      /** Wall ms. */
      readonly wallNow: () => number;
      readonly onOutcome?: ((r: ReloadOutcome) => void) | undefined;
    },
  ) {}

  /** Resolves with the outcome of the last reload run (undefined once closed). */
  request(load: () => Promise<ReloadSource>): Promise<ReloadOutcome | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    this.next = load;
    if (!this.loop) this.loop = this.run();
    return this.loop;
  }

  /** No more reloads; resolves when the one running (if any) has ended. */
  async close(): Promise<void> {
    this.closed = true;
    this.next = undefined;
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<ReloadOutcome | undefined> {
    let last: ReloadOutcome | undefined;
    try {
      while (this.next && !this.closed) {
        const load = this.next;
        this.next = undefined;
        last = await this.once(load);
      }
    } finally {
      // Synchronously after the last check of `next`: a request from now on starts a new loop.
      this.loop = undefined;
    }
    return last;
  }

  private async once(load: () => Promise<ReloadSource>): Promise<ReloadOutcome> {
    let message: string;
    let ok = false;
    try {
      const src = await load();
      if (!src.ok) message = `reload refused: ${src.message}`;
      else {
        try {
          message = await this.opts.apply(src.config);
          ok = true;
        } catch (err) {
          message = `reload refused: ${(err as Error).message}; the running configuration stays`;
        }
      }
    } catch (err) {
      message = `reload refused: ${(err as Error).message}`;
    }
    const outcome: ReloadOutcome = { ts: this.opts.wallNow(), ok, message };
    this.last = outcome;
    if (ok) this.opts.log.info({ outcome: message }, "configuration reloaded");
    else this.opts.log.error({ reason: message }, message);
    try {
      this.opts.onOutcome?.(outcome);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "reload listener failed");
    }
    return outcome;
  }
}

/**
 * The groups' states carried over a reload, by group name (a group whose active member is gone starts afresh); a
 * group whose `failback.hold` changed starts again from the new hold, a hold that grew is capped by `max_hold`.
 */
export function carriedStates(old: Pipeline, groups: readonly GroupSpec[]): Map<string, GroupState> {
  const oldSpecs = new Map(old.groupSpecs().map((g) => [g.name, g]));
  const initial = new Map<string, GroupState>();
  for (const g of groups) {
    const s = old.groupState(g.name);
    if (!s || !g.members.some((m) => m.name === s.active)) continue;
    const before = oldSpecs.get(g.name);
    if (before && before.failback.hold !== g.failback.hold) {
      const { probation: _, ...rest } = s;
      initial.set(g.name, { ...rest, hold: g.failback.hold });
    } else initial.set(g.name, { ...s, hold: Math.min(s.hold, g.failback.max_hold) });
  }
  return initial;
}

import type { Log } from "../collector.js";
import { SerialQueue } from "../util/atomic.js";
import { type DurableGroupState, serializeState, stateFile } from "./state.js";

/** What a write of state.json takes, read when the write starts (so it carries every change made until then). */
export interface StateSnapshot {
  readonly stateDir: string;
  readonly groups: Readonly<Record<string, DurableGroupState>>;
  /** Wall ms. */
  readonly savedAt: number;
}

/**
 * Writes state.json off the event loop, in order. Calls while a write is queued share it; the promise resolves
 * when the state as of the call is on disk (true) or the write failed (false, logged). A dry run writes nothing.
 * A switch waits for `durable(seq)` before its actions run: persist, then act.
 */
export class StateWriter {
  private readonly writes = new SerialQueue();
  private queued: Promise<boolean> | undefined;
  private inFlight: { seq: number; done: Promise<boolean> } | undefined;
  /** Bumped by every request to save; a write covers the requests made before it started. */
  private requested = 0;
  private written = 0;
  private lastSaved: string | undefined;

  constructor(
    private readonly opts: {
      readonly dryRun: boolean;
      readonly log: Log;
      readonly writeFile: (path: string, data: string) => Promise<void>;
      readonly snapshot: () => StateSnapshot;
    },
  ) {}

  /** The sequence number of the last request: `durable(seq)` waits for the state as of then. */
  get seq(): number {
    return this.requested;
  }

  save(): Promise<boolean> {
    if (this.opts.dryRun) return Promise.resolve(true);
    this.requested++;
    if (this.queued) return this.queued;
    const p: Promise<boolean> = this.writes
      .run(async () => {
        this.queued = undefined;
        const seq = this.requested;
        this.inFlight = { seq, done: p };
        try {
          const snap = this.opts.snapshot();
          const key = `${snap.stateDir}\n${JSON.stringify(snap.groups)}`;
          if (key !== this.lastSaved) {
            await this.opts.writeFile(stateFile(snap.stateDir), serializeState(snap.groups, snap.savedAt));
            this.lastSaved = key;
          }
          return true;
        } finally {
          this.written = Math.max(this.written, seq);
          this.inFlight = undefined;
        }
      })
      .catch((err: unknown) => {
        this.opts.log.error({ err: (err as Error).message }, "cannot save state");
        return false;
      });
    this.queued = p;
    return p;
  }

  /**
   * Resolves once the state as of `seq` is on disk: at once if it is, with the write running if that one
   * started after it, else with the next one — never a second write when the one for a decision is under way.
   */
  durable(seq: number): Promise<boolean> {
    if (this.opts.dryRun || this.written >= seq) return Promise.resolve(true);
    if (this.inFlight && this.inFlight.seq >= seq) return this.inFlight.done;
    return this.queued ?? this.save();
  }

  drain(): Promise<void> {
    return this.writes.drain();
  }
}

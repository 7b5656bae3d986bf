/**
 * The re-read loop that the election (election.ts) and the votes (votes.ts) share: `run` (read from etcd, write
 * what is due) one at a time (util/coalesce.ts), kicked by a watch on a prefix (put, delete, and on reconnect —
 * whatever happened meanwhile is re-read), by the instance lease's `granted` and `lost`, and by a timer every
 * `recheckMs`. A watch that cannot be opened is tried again after `recheckMs`. The picture is only ever replaced by
 * `run`'s own read: the watch just triggers it, so a watch that reconnects cannot make it miss a delete.
 */
import type { Etcd3, Watcher } from "etcd3";
import { Coalesced } from "../util/coalesce.js";
import type { InstanceLease } from "./lease.js";

export interface WatchLoopOptions {
  readonly client: Etcd3;
  readonly lease: InstanceLease;
  /** The key prefix watched. */
  readonly prefix: string;
  readonly recheckMs: number;
  readonly run: () => Promise<void>;
  readonly onError: (e: Error) => void;
  /** The lease was lost (called before the re-read it kicks). */
  readonly onLost?: (id: string, reason: string) => void;
  /** Which watched keys kick a re-read (default: all). */
  readonly relevant?: (key: string) => boolean;
}

export class WatchLoop {
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly runs: Coalesced;
  private readonly onGranted = () => this.kick();
  private readonly onLost = (id: string, reason: string) => {
    this.o.onLost?.(id, reason);
    this.kick();
  };

  constructor(private readonly o: WatchLoopOptions) {
    this.runs = new Coalesced(o.run, o.onError, () => this.stopped);
  }

  get closed(): boolean {
    return this.stopped;
  }

  /** Listens to the lease, starts the timer and the watch, and runs once (idempotent). */
  start(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.o.lease.on("granted", this.onGranted);
    this.o.lease.on("lost", this.onLost);
    this.timer = setInterval(() => this.kick(), this.o.recheckMs);
    void this.openWatch();
    this.kick();
  }

  /** Runs now, or once more right after the run in progress. */
  kick(): void {
    this.runs.kick();
  }

  /** From inside `run`: one more run after this one (it found work it could not finish). */
  again(): void {
    this.runs.again();
  }

  /** Resolves when no run is in progress or pending. */
  settled(): Promise<void> {
    return this.runs.settled();
  }

  /** No more runs; stops listening and cancels the watch (a run in progress finishes: `settled()`). */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.o.lease.off("granted", this.onGranted);
    this.o.lease.off("lost", this.onLost);
    await this.watcher?.cancel().catch(() => {});
  }

  private async openWatch(): Promise<void> {
    try {
      const w = await this.o.client.watch().prefix(this.o.prefix).create();
      if (this.stopped) {
        await w.cancel().catch(() => {});
        return;
      }
      this.watcher = w;
      const relevant = this.o.relevant ?? (() => true);
      w.on("error", (e) => this.o.onError(e));
      w.on("put", (kv) => relevant(kv.key.toString()) && this.kick());
      w.on("delete", (kv) => relevant(kv.key.toString()) && this.kick());
      w.on("connected", () => this.kick());
    } catch (e) {
      this.o.onError(e as Error);
      if (!this.stopped) setTimeout(() => void this.openWatch(), this.o.recheckMs);
    }
  }
}

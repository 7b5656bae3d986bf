import type { FileHandle } from "node:fs/promises";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import type { StandbyEvent } from "../groups/events.js";

/** Appends text to the log file; resolves when the text was handed to the kernel. */
export type AppendWriter = (text: string) => Promise<void>;

/**
 * The append-only event log: one JSON object a line (DESIGN.md "Events and traces"), written off the event
 * loop. `append` only queues the line; one write is in flight at a time, and the lines that queue up while it
 * runs go out together in the next write, in the order they were appended. A disk that stalls delays the log,
 * never probes or timers.
 *
 * fsync policy: no fsync per line (the log explains, state.json is what a restart trusts); `close()` (at stop)
 * waits for every queued line and fsyncs the file. A crash can lose the lines of the last moments the kernel
 * had not written back; it never tears a line in two, since each batch is one write(2) on an O_APPEND file.
 */
export class EventLog {
  private queued: string[] = [];
  private inFlight: Promise<void> | undefined;
  private handle: Promise<FileHandle> | undefined;
  private closed = false;
  private readonly write: AppendWriter;
  /** A batch that could not be written (it is lost; the next one is tried). */
  private readonly onError: (err: Error) => void;

  constructor(
    readonly path: string,
    opts: { write?: AppendWriter; onError?: (err: Error) => void } = {},
  ) {
    this.onError = opts.onError ?? (() => {});
    this.write = opts.write ?? ((text) => this.appendToFile(text));
  }

  /** Queues one event; never blocks, never throws once open. */
  append(e: StandbyEvent): void {
    if (this.closed) throw new Error(`event log ${this.path} is closed`);
    this.queued.push(`${JSON.stringify(e)}\n`);
    if (!this.inFlight) this.inFlight = this.pump();
  }

  /** Lines queued and not yet written. */
  get backlog(): number {
    return this.queued.length;
  }

  /** Resolves when every line appended so far is written. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Writes what is queued, fsyncs and closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.handle) {
      const h = await this.handle.catch(() => undefined);
      this.handle = undefined;
      if (h) {
        await h.sync().catch(() => {});
        await h.close().catch(() => {});
      }
    }
  }

  private async pump(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.join("");
        this.queued = [];
        try {
          await this.write(batch);
        } catch (err) {
          this.onError(err as Error);
        }
      }
    } finally {
      this.inFlight = undefined;
    }
  }

  private async appendToFile(text: string): Promise<void> {
    if (!this.handle) {
      this.handle = (async () => {
        await mkdir(dirname(this.path), { recursive: true });
        return open(this.path, "a", 0o640);
      })();
      // A failed open is retried with the next batch.
      this.handle.catch(() => (this.handle = undefined));
    }
    const h = await this.handle;
    await h.appendFile(text);
  }
}

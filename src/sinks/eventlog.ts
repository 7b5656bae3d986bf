import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { StandbyEvent } from "../groups/events.js";

/**
 * The append-only event log: one JSON object a line (DESIGN.md "Events and traces"). Each event is written
 * with one synchronous write(2) on an O_APPEND descriptor, so lines never interleave and a crash loses at
 * most the event being written. Events are rare (transitions, decisions, actions), so this costs nothing.
 */
export class EventLog {
  private fd: number | undefined;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a", 0o640);
  }

  append(e: StandbyEvent): void {
    if (this.fd === undefined) throw new Error(`event log ${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify(e)}\n`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The influx sink's durable queue: batches of line protocol, oldest first, in memory while InfluxDB keeps up and
 * on disk (segments under `dir`) when it does not — during an outage, past `memoryPoints`, and at stop. A
 * segment is written crash-safe (temp file, fsync, rename, off the event loop) and deleted only after InfluxDB
 * accepted it; at start the segments left by the last run (or a crash) are queued again, oldest first.
 *
 * Bounds, and the policy when they are hit: decisions (events, rule, group and member states) are never dropped;
 * samples are dropped oldest first, and counted, when the segments exceed `maxBytes`, when a batch of samples is
 * older than `maxAgeMs`, and when the disk cannot keep up (memory above twice `memoryPoints`).
 */
import { appendFile, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { SerialQueue, writeFileAtomic } from "../../util/atomic.js";
import type { LineKind } from "./line.js";

export interface SpoolOptions {
  readonly dir: string;
  /** Points a batch holds at most. */
  readonly batchSize: number;
  /** Points kept in memory before batches go to disk. */
  readonly memoryPoints: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  /** Wall ms (the age of a batch). */
  readonly now?: () => number;
  /** Writes a segment durably (tests inject a slow or failing disk). */
  readonly writeFile?: (path: string, data: string) => Promise<void>;
  readonly warn?: (msg: string, err?: unknown) => void;
}

/** One batch: in memory (`text`), on its way to disk, or on disk (`file`). */
export interface Batch {
  readonly seq: number;
  readonly kind: LineKind;
  readonly points: number;
  readonly bytes: number;
  /** Wall ms when its first point was queued (segments from disk: the file's mtime). */
  readonly createdAt: number;
  text?: string;
  file?: string;
  /** The segment being written. */
  spilling?: Promise<void>;
  /** Handed to the sender and not acknowledged yet: not dropped, not spilled twice. */
  sending?: boolean;
  /** Out of the queue (written, dead-lettered or dropped): a segment being written is deleted when it is done. */
  removed?: boolean;
}

export interface SpoolCounters {
  /** Points in memory (open and closed batches). */
  memoryPoints: number;
  /** Points, bytes and segments on disk. */
  diskPoints: number;
  diskBytes: number;
  segments: number;
  /** Sample points dropped by the bounds, since start. */
  dropped: number;
  /** Points set aside in the dead-letter file, since start. */
  deadLettered: number;
}

const SEGMENT = /^(\d{12})-(sample|decision)-(\d+)\.lp$/;
const DEAD_LETTER = "dead-letter.lp";
/** The dead-letter file is rotated (to `.1`, replacing the older one) past this size. */
const DEAD_LETTER_MAX = 64 * 1024 * 1024;

export class Spool {
  private readonly queue: Batch[] = [];
  private readonly open: Record<LineKind, { lines: string[]; bytes: number; since: number }> = {
    sample: { lines: [], bytes: 0, since: 0 },
    decision: { lines: [], bytes: 0, since: 0 },
  };
  private seq = 0;
  private readonly disk = new SerialQueue();
  private readonly now: () => number;
  private readonly writeFile: (path: string, data: string) => Promise<void>;
  private readonly counters: SpoolCounters = {
    memoryPoints: 0,
    diskPoints: 0,
    diskBytes: 0,
    segments: 0,
    dropped: 0,
    deadLettered: 0,
  };
  /** Everything closed goes to disk at once (InfluxDB is failing: what is queued must survive a crash). */
  spillAll = false;
  /** Called when a batch is ready to send. */
  onReady: () => void = () => {};
  private warnedFull = false;
  private diskFailing = false;
  /** Points of batches on their way to disk (still in memory). */
  private spillingPoints = 0;

  constructor(private readonly o: SpoolOptions) {
    this.now = o.now ?? Date.now;
    this.writeFile = o.writeFile ?? ((p, d) => writeFileAtomic(p, d, 0o600));
  }

  /** Queues the segments a previous run left (oldest first); removes temp files of writes a crash cut short. */
  async load(): Promise<{ segments: number; points: number }> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    const found: Batch[] = [];
    for (const f of await readdir(this.o.dir)) {
      const m = SEGMENT.exec(f);
      if (m === null) {
        if (f.includes(".tmp-")) await rm(join(this.o.dir, f), { force: true });
        continue;
      }
      const st = await stat(join(this.o.dir, f));
      found.push({
        seq: Number(m[1]),
        kind: m[2] as LineKind,
        points: Number(m[3]),
        bytes: st.size,
        createdAt: st.mtimeMs,
        file: f,
      });
    }
    found.sort((a, b) => a.seq - b.seq);
    for (const b of found) {
      this.queue.push(b);
      this.counters.diskPoints += b.points;
      this.counters.diskBytes += b.bytes;
      this.counters.segments++;
      this.seq = Math.max(this.seq, b.seq + 1);
    }
    if (found.length) this.onReady();
    return { segments: found.length, points: found.reduce((a, b) => a + b.points, 0) };
  }

  /** Queues lines of one kind; a batch is closed when it holds `batchSize` points. */
  push(kind: LineKind, lines: readonly string[]): void {
    const o = this.open[kind];
    for (const l of lines) {
      if (o.lines.length === 0) o.since = this.now();
      o.lines.push(l);
      o.bytes += l.length + 1;
      this.counters.memoryPoints++;
      if (o.lines.length >= this.o.batchSize) this.close(kind);
    }
  }

  /** Closes the open batches older than `ageMs` (0: all): the flush interval. */
  flush(ageMs = 0): void {
    const t = this.now();
    // The open batch that started first is closed first: batches leave in the order their points came.
    const kinds: LineKind[] =
      this.open.sample.since <= this.open.decision.since ? ["sample", "decision"] : ["decision", "sample"];
    for (const kind of kinds) {
      const o = this.open[kind];
      if (o.lines.length > 0 && t - o.since >= ageMs) this.close(kind);
    }
  }

  private close(kind: LineKind): void {
    const o = this.open[kind];
    const b: Batch = {
      seq: this.seq++,
      kind,
      points: o.lines.length,
      bytes: o.bytes,
      createdAt: o.since,
      text: `${o.lines.join("\n")}\n`,
    };
    o.lines = [];
    o.bytes = 0;
    this.queue.push(b);
    this.bound();
    this.onReady();
  }

  /** The oldest batch not handed out yet; its text is read from disk when it is there. */
  async next(): Promise<{ batch: Batch; text: string } | undefined> {
    const b = this.queue.find((x) => !x.sending);
    if (b === undefined) return undefined;
    b.sending = true;
    try {
      // A batch on its way to disk is still in memory: sent from there (a stalled disk does not hold the sender).
      const text = b.text ?? (await readFile(join(this.o.dir, b.file!), "utf8"));
      return { batch: b, text };
    } catch (err) {
      // A segment that cannot be read (removed by hand, a disk error): dropped and counted, never a stuck queue.
      b.sending = false;
      this.o.warn?.(`influx spool: segment ${b.file} unreadable, dropped`, err);
      this.remove(b);
      if (b.kind === "sample") this.counters.dropped += b.points;
      else this.counters.deadLettered += b.points;
      return this.next();
    }
  }

  /** The batch was written (or dead-lettered): removed, its segment deleted. */
  ack(b: Batch): void {
    b.sending = false;
    this.remove(b);
  }

  /** The batch was not written: it stays first in the queue. */
  nack(b: Batch): void {
    b.sending = false;
    if (this.spillAll) this.spillMemory();
  }

  /** Sets a batch InfluxDB refused for good aside in `dead-letter.lp`, with why; then acknowledges it. */
  async deadLetter(b: Batch, text: string, why: string, points: number): Promise<void> {
    const path = join(this.o.dir, DEAD_LETTER);
    try {
      const size = await stat(path).then(
        (s) => s.size,
        () => 0,
      );
      if (size > DEAD_LETTER_MAX) await rename(path, `${path}.1`);
      await appendFile(path, `# ${new Date(this.now()).toISOString()} ${why.replace(/\n/g, " ")}\n${text}`, {
        mode: 0o600,
      });
    } catch (err) {
      this.o.warn?.("influx spool: cannot write dead-letter.lp", err);
    }
    this.counters.deadLettered += points;
    this.ack(b);
  }

  /** Writes every batch in memory to disk (open ones closed first) and waits for the disk: at stop. */
  async persist(): Promise<void> {
    this.flush(0);
    this.spillMemory(true);
    await Promise.all(this.queue.map((b) => b.spilling));
    await this.disk.drain();
  }

  /** Drops sample batches older than `maxAgeMs` (memory or disk); called on the flush timer. */
  expire(): void {
    const horizon = this.now() - this.o.maxAgeMs;
    for (const b of [...this.queue]) {
      if (b.kind === "sample" && !b.sending && b.createdAt < horizon) this.drop(b);
    }
  }

  /** A closed batch is waiting to be sent. */
  get ready(): boolean {
    return this.queue.some((b) => !b.sending);
  }

  get stats(): SpoolCounters {
    return { ...this.counters };
  }

  /** Batches queued (closed), for tests. */
  get batches(): readonly Batch[] {
    return this.queue;
  }

  // ---- internals ----

  /** Spills past the memory bound (or everything while `spillAll`); drops samples the disk cannot take. */
  private bound(): void {
    if (this.spillAll || this.counters.memoryPoints > this.o.memoryPoints) this.spillMemory();
    // The disk does not keep up (a stalled disk): memory is bounded too, by dropping the oldest samples.
    if (this.counters.memoryPoints > 2 * this.o.memoryPoints) {
      for (const b of [...this.queue]) {
        if (this.counters.memoryPoints <= this.o.memoryPoints) break;
        // A batch queued for the disk may go too (its spill sees it removed); one being sent may not.
        if (b.kind === "sample" && b.text !== undefined && !b.sending) this.drop(b);
      }
    }
  }

  /** Starts writing closed in-memory batches to disk, oldest first (all of them when `all`). */
  private spillMemory(all = false): void {
    for (const b of this.queue) {
      if (b.text === undefined || b.spilling || b.file) continue;
      if (!all && !this.spillAll && this.counters.memoryPoints - this.spillingPoints <= this.o.memoryPoints)
        break;
      this.spill(b);
    }
  }

  private spill(b: Batch): void {
    const file = `${String(b.seq).padStart(12, "0")}-${b.kind}-${b.points}.lp`;
    const text = b.text!;
    this.spillingPoints += b.points;
    b.spilling = this.disk
      .run(async () => {
        if (b.removed) return; // written or dropped meanwhile: nothing to keep
        await this.writeFile(join(this.o.dir, file), text);
        b.file = file;
        this.counters.diskPoints += b.points;
        this.counters.diskBytes += b.bytes;
        this.counters.segments++;
        if (b.removed) await this.deleteSegmentNow(b);
      })
      .finally(() => {
        this.spillingPoints -= b.points;
      })
      .then(
        () => {
          b.spilling = undefined;
          this.diskFailing = false;
          if (b.file !== undefined && b.text !== undefined) {
            b.text = undefined; // on disk now: memory released
            this.counters.memoryPoints -= b.points;
          }
          this.enforceDiskBound();
        },
        (err) => {
          // The batch stays in memory (and is still sent); the disk is tried again with the next spill.
          b.spilling = undefined;
          if (!this.diskFailing) this.o.warn?.("influx spool: cannot write a segment", err);
          this.diskFailing = true;
        },
      );
  }

  private enforceDiskBound(): void {
    if (this.counters.diskBytes <= this.o.maxBytes) {
      this.warnedFull = false;
      return;
    }
    for (const b of [...this.queue]) {
      if (this.counters.diskBytes <= this.o.maxBytes) return;
      if (b.kind === "sample" && b.file !== undefined && !b.sending && !b.spilling) this.drop(b);
    }
    if (this.counters.diskBytes > this.o.maxBytes && !this.warnedFull) {
      this.warnedFull = true;
      this.o.warn?.(
        `influx spool: ${this.counters.diskBytes} bytes on disk, above max_size, with events and states only; they are kept`,
      );
    }
  }

  /** Removes a batch from the queue and counts it dropped. */
  private drop(b: Batch): void {
    this.remove(b);
    this.counters.dropped += b.points;
  }

  /** Out of the queue, out of memory, its segment deleted (by the spill itself when it is being written). */
  private remove(b: Batch): void {
    const i = this.queue.indexOf(b);
    if (i >= 0) this.queue.splice(i, 1);
    b.removed = true;
    if (b.text !== undefined) {
      this.counters.memoryPoints -= b.points;
      b.text = undefined;
    }
    if (!b.spilling && b.file !== undefined) this.deleteSegment(b);
  }

  private deleteSegment(b: Batch): void {
    void this.disk.run(() => this.deleteSegmentNow(b));
  }

  private async deleteSegmentNow(b: Batch): Promise<void> {
    if (b.file === undefined) return;
    const file = b.file;
    b.file = undefined;
    this.counters.diskPoints -= b.points;
    this.counters.diskBytes -= b.bytes;
    this.counters.segments--;
    await rm(join(this.o.dir, file), { force: true }).catch((err) =>
      this.o.warn?.(`influx spool: cannot delete ${file}`, err),
    );
  }
}

/**
 * The influx sink: lines from samples, rule state changes, group states and events (line.ts) go into the spool
 * (spool.ts), and one sender sends the oldest batch at a time (writer.ts). A batch InfluxDB did not take stays
 * first in the queue and is sent again after a backoff with jitter (0.5 s doubling to 30 s); while InfluxDB
 * fails, everything queued goes to disk. One write in flight: the order of the points is kept, and InfluxDB's
 * write path is the bottleneck anyway (measured: BENCHMARKS.md).
 */
import { resolveSecret } from "../../config/secrets.js";
import type { Labels, Sample } from "../../engine/types.js";
import type { StandbyEvent } from "../../groups/events.js";
import { createDatabase, errText } from "./admin.js";
import type { InfluxSinkSpec } from "./config.js";
import {
  countLines,
  DecisionClock,
  eventLine,
  type GroupView,
  groupLines,
  ruleLine,
  ruleStateLine,
  SampleEncoder,
  sinkLine,
} from "./line.js";
import { type Batch, Spool, type SpoolCounters } from "./spool.js";
import { type InfluxTarget, type WriteOutcome, writeBatch } from "./writer.js";

export interface SinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface InfluxSinkOptions {
  readonly host: string;
  /** The spool's directory (state_dir/spool/influx). */
  readonly dir: string;
  readonly log: SinkLog;
  /** Wall ms. */
  readonly now?: () => number;
  /** A rule's severity, for `standby_rule`'s tag. */
  readonly severityOf?: (rule: string) => string | undefined;
  /** Sends a batch (tests inject failures). */
  readonly write?: (t: InfluxTarget, body: string, signal: AbortSignal) => Promise<WriteOutcome>;
  readonly env?: NodeJS.ProcessEnv;
  /** Timestamps of decision points, shared by the sinks a reload replaces (two events never get one ns). */
  readonly clock?: DecisionClock;
  /** How long a stop waits for the memory queue to reach the disk (default 10 s). */
  readonly persistMs?: number;
  /** Writes a spool segment durably (tests inject a stalled disk). */
  readonly writeFile?: (path: string, data: string) => Promise<void>;
}

/** The sink's state, for `standby status`, metrics.prom and `standby_sink`. */
export interface InfluxSinkStatus {
  readonly url: string;
  readonly database: string;
  /** Points in memory, and on disk (points, bytes, segments). */
  readonly queue_points: number;
  readonly spool_points: number;
  readonly spool_bytes: number;
  readonly spool_segments: number;
  /** Counters since start: points written, points sent again after a failure, dropped, dead-lettered. */
  readonly written: number;
  readonly retried: number;
  readonly dropped: number;
  readonly dead_lettered: number;
  readonly last_error?: string;
  /** Wall ms. */
  readonly last_error_at?: number;
  readonly last_write_at?: number;
  /** True while writes fail (what is queued goes to disk). */
  readonly failing: boolean;
}

const BACKOFF_MIN = 500;
/** How long a stop waits for the memory queue to reach the disk. */
const PERSIST_MS = 10_000;
const BACKOFF_MAX = 30_000;

export class InfluxSink {
  private readonly spool: Spool;
  private readonly samplesEnc: SampleEncoder;
  private readonly clock: DecisionClock;
  private started = false;
  private readonly now: () => number;
  private readonly write: NonNullable<InfluxSinkOptions["write"]>;
  private target: InfluxTarget | undefined;
  private readonly abort = new AbortController();
  private sending = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private backoff = 0;
  private retryAt = 0;
  private closed = false;
  private sender: Promise<void> = Promise.resolve();
  private created = false;
  private readonly counters = { written: 0, retried: 0 };
  private lastError: { message: string; at: number } | undefined;
  private lastWriteAt: number | undefined;
  private failing = false;

  constructor(
    readonly spec: InfluxSinkSpec,
    private readonly o: InfluxSinkOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.clock = o.clock ?? new DecisionClock();
    this.write = o.write ?? writeBatch;
    const exclude = spec.exclude_metrics.map(globRegExp);
    this.samplesEnc = new SampleEncoder((m) => exclude.some((r) => r.test(m)));
    this.spool = new Spool({
      dir: o.dir,
      batchSize: spec.batch_size,
      memoryPoints: spec.spool.memory_points,
      maxBytes: spec.spool.max_size,
      maxAgeMs: spec.spool.max_age,
      now: this.now,
      ...(o.writeFile ? { writeFile: o.writeFile } : {}),
      warn: (msg, err) => o.log.warn(err ? { err: errText(err) } : {}, msg),
    });
    this.spool.onReady = () => this.kick();
  }

  /**
   * Loads the spool left by the last run and starts sending. Throws only when the spool directory cannot be used;
   * a password that cannot be read is a failing write (retried, everything spooled meanwhile), not a refusal to
   * start: the points wait for the operator's fix.
   */
  async start(): Promise<void> {
    const loaded = await this.spool.load();
    if (loaded.segments > 0)
      this.o.log.info(loaded, `influx: ${loaded.points} points spooled by the last run, sending them first`);
    this.started = true;
    const every = Math.max(50, Math.min(this.spec.flush_interval, 1000) / 2);
    this.flushTimer = setInterval(() => {
      this.spool.flush(this.spec.flush_interval);
      this.spool.expire();
    }, every);
    this.flushTimer.unref();
    this.kick();
  }

  /** Samples as the collectors emit them; `wallOffset` turns their monotonic `ts` into wall time. */
  samples(samples: readonly Sample[], wallOffset: number): void {
    if (!this.spec.samples || this.closed) return;
    const lines: string[] = [];
    for (const s of samples) {
      const l = this.samplesEnc.encode(s, s.ts + wallOffset);
      if (l !== undefined) lines.push(l);
    }
    if (lines.length) this.spool.push("sample", lines);
  }

  /** Events as recorded (wall `ts`): rule changes to `standby_rule`, the others to `standby_event`. */
  events(events: readonly StandbyEvent[]): void {
    if (this.closed || events.length === 0) return;
    const lines = events.map((e) =>
      e.kind === "rule"
        ? ruleLine(e, this.o.host, this.o.severityOf?.(e.rule), this.clock.ns(e.ts))
        : eventLine(e, this.o.host, this.clock.ns(e.ts)),
    );
    this.spool.push("decision", lines);
  }

  /** Group and member states (every 10 s and after a group's events). */
  groups(groups: readonly GroupView[], wallMs = this.now()): void {
    if (this.closed || groups.length === 0) return;
    const lines: string[] = [];
    for (const g of groups) lines.push(...groupLines(g, this.o.host, this.clock.ns(wallMs)));
    this.spool.push("decision", lines);
  }

  /** Rule instances that are not ok, as they are now (every 10 s). */
  ruleStates(
    rules: Iterable<{ rule: string; labels: Labels; state: string; value?: number; reason: string }>,
    wallMs = this.now(),
  ): void {
    if (this.closed) return;
    const lines: string[] = [];
    const ns = this.clock.ns(wallMs);
    for (const r of rules) {
      if (r.state !== "ok") lines.push(ruleStateLine(r, this.o.host, this.o.severityOf?.(r.rule), ns));
    }
    if (lines.length) this.spool.push("decision", lines);
  }

  /** The sink's own counters as a point (every 10 s). */
  selfPoint(wallMs = this.now()): void {
    if (this.closed) return;
    const s = this.status();
    const line = sinkLine(
      this.o.host,
      "influx",
      {
        queue_points: s.queue_points,
        spool_points: s.spool_points,
        spool_bytes: s.spool_bytes,
        spool_segments: s.spool_segments,
        written: s.written,
        retried: s.retried,
        dropped: s.dropped,
        dead_lettered: s.dead_lettered,
      },
      s.last_error,
      this.clock.ns(wallMs),
    );
    this.spool.push("decision", [line]);
  }

  status(): InfluxSinkStatus {
    const c: SpoolCounters = this.spool.stats;
    return {
      url: this.spec.url,
      database: this.spec.database,
      queue_points: c.memoryPoints,
      spool_points: c.diskPoints,
      spool_bytes: c.diskBytes,
      spool_segments: c.segments,
      written: this.counters.written,
      retried: this.counters.retried,
      dropped: c.dropped,
      dead_lettered: c.deadLettered,
      ...(this.lastError ? { last_error: this.lastError.message, last_error_at: this.lastError.at } : {}),
      ...(this.lastWriteAt !== undefined ? { last_write_at: this.lastWriteAt } : {}),
      failing: this.failing,
    };
  }

  /**
   * At stop (SIGTERM): no new points; the write in flight is given up to `graceMs` (its batch stays queued when it
   * does not finish), then everything in memory goes to disk. The next start sends it.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    clearTimeout(this.wakeTimer);
    const grace = setTimeout(() => this.abort.abort(), graceMs);
    await this.sender;
    clearTimeout(grace);
    this.abort.abort();
    // A disk that stalls must not hold the stop for ever: what is not on disk after 10 s is lost, and said.
    const persistMs = this.o.persistMs ?? PERSIST_MS;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<"stalled">((r) => {
      timer = setTimeout(() => r("stalled"), persistMs);
    });
    const r = await Promise.race([this.spool.persist(), stalled]);
    clearTimeout(timer);
    if (r === "stalled")
      this.o.log.error(
        { points: this.spool.stats.memoryPoints },
        `influx: the spool's disk did not answer within ${persistMs / 1000} s; points in memory are lost`,
      );
    const s = this.spool.stats;
    if (s.diskPoints > 0)
      this.o.log.info(
        { points: s.diskPoints, bytes: s.diskBytes },
        "influx: points spooled to disk for the next start",
      );
  }

  // ---- the sender ----

  /** Starts the sender unless it runs or waits for its backoff. */
  private kick(): void {
    if (this.sending || this.closed || !this.started) return;
    const wait = this.retryAt - performance.now();
    if (wait > 0) {
      if (this.wakeTimer === undefined) {
        this.wakeTimer = setTimeout(() => {
          this.wakeTimer = undefined;
          this.kick();
        }, wait);
      }
      return;
    }
    this.sending = true;
    this.sender = this.run()
      .catch((err) => this.o.log.warn({ err: errText(err) }, "influx: sender failed"))
      .finally(() => {
        this.sending = false;
        // A batch closed while this run was returning: its kick() was refused, so send it now.
        if (this.spool.ready && this.retryAt <= performance.now()) this.kick();
      });
  }

  /** Where to write, the password read (again after a failure: a credentials file fixed meanwhile). */
  private async resolveTarget(): Promise<InfluxTarget> {
    if (this.target) return this.target;
    const password = this.spec.password ? await resolveSecret(this.spec.password, this.o.env) : undefined;
    this.target = {
      url: this.spec.url,
      database: this.spec.database,
      timeoutMs: this.spec.timeout,
      ...(this.spec.retention_policy ? { retentionPolicy: this.spec.retention_policy } : {}),
      ...(this.spec.username ? { username: this.spec.username } : {}),
      ...(password !== undefined ? { password } : {}),
    };
    return this.target;
  }

  private async run(): Promise<void> {
    let t: InfluxTarget;
    try {
      t = await this.resolveTarget();
    } catch (err) {
      const next = await this.spool.next();
      if (next) this.failed(next.batch, `cannot read the password: ${errText(err)}`);
      return;
    }
    if (this.spec.create_database && !this.created) await this.createDatabase(t);
    for (;;) {
      if (this.abort.signal.aborted) return;
      const next = await this.spool.next();
      if (next === undefined) return;
      const { batch, text } = next;
      const r = await this.write(t, text, this.abort.signal);
      if (r.ok) {
        this.counters.written += batch.points;
        this.lastWriteAt = this.now();
        this.spool.ack(batch);
        if (this.failing) this.o.log.info({ url: t.url }, "influx: writes succeed again");
        this.failing = false;
        this.spool.spillAll = false;
        this.backoff = 0;
        if (this.closed) return;
        continue;
      }
      this.lastError = { message: r.message, at: this.now() };
      if (r.permanent) {
        const dropped = Math.min(r.dropped ?? countLines(text), batch.points);
        this.o.log.warn(
          { status: r.status, err: r.message, points: dropped },
          "influx refused points for good; set aside in dead-letter.lp",
        );
        await this.spool.deadLetter(batch, text, r.message, dropped);
        // The points InfluxDB did take of a partial write are written.
        this.counters.written += batch.points - dropped;
        continue;
      }
      if (r.missingDatabase) this.created = false;
      // Refused credentials: the password is read again before the next try (its file may have been fixed).
      if (r.status === 401 || r.status === 403) this.target = undefined;
      this.failed(batch, r.message);
      return;
    }
  }

  /** Not written: first in the queue again, after a backoff; meanwhile everything queued goes to disk. */
  private failed(batch: Batch, message: string): void {
    this.lastError = { message, at: this.now() };
    this.counters.retried += batch.points;
    if (!this.failing)
      this.o.log.warn(
        { url: this.spec.url, err: message },
        "influx: write failed; spooling to disk and retrying",
      );
    this.failing = true;
    this.spool.spillAll = true;
    this.spool.nack(batch);
    this.backoff = Math.min(BACKOFF_MAX, this.backoff === 0 ? BACKOFF_MIN : this.backoff * 2);
    this.retryAt = performance.now() + this.backoff * (0.5 + Math.random() / 2);
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.kick();
    }, this.retryAt - performance.now());
  }

  /** CREATE DATABASE (and the retention policy) once InfluxDB answers; a refusal is logged, writes go on. */
  private async createDatabase(t: InfluxTarget): Promise<void> {
    const r = await createDatabase(t, this.spec);
    if (r === "unreachable") return; // tried again before the next write
    if (r !== "ok")
      this.o.log.warn({ err: r }, `influx: cannot create database ${t.database}; writing anyway`);
    this.created = true;
  }
}

/** `os.fs.*` → a RegExp over whole metric names (`*` any run of characters). */
function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

export type { GroupView } from "./line.js";
export type { Labels };

/**
 * ICMP probes through ONE long-running program: `fping -l` (Debian fping 5.1), or iputils `ping -O -D` when
 * fping is not installed. The runner starts it, turns its lines into one result per probe, notices probes it
 * stays silent about, restarts it with a backoff when it dies, and kills it on abort.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { Log } from "../../src/collector.js";
import { diesWithParent, KILL_GRACE_MS } from "../../src/util/kill.js";
import { errCode, fmtMs, lines, Throttle, track } from "./child.js";
import { fpingArgs, type IcmpSettings, type IcmpTool, type ProbeStats, pingArgs } from "./icmp-args.js";
import { type ProbeLine, parseFpingLine, parsePingLine } from "./parse.js";
import { SeqTracker } from "./sequence.js";

export {
  fpingArgs,
  type IcmpSettings,
  type IcmpTool,
  icmpTimeout,
  newStats,
  type ProbeStats,
  pingArgs,
} from "./icmp-args.js";

export interface IcmpRunnerOptions {
  /** The collector's name, for log lines. */
  readonly name: string;
  readonly settings: IcmpSettings;
  /** argv prefix that runs fping / ping; the program must exec in place (as `ip netns exec` does). */
  readonly fpingCommand: readonly string[];
  readonly pingCommand: readonly string[];
  /** Restart delays, ms: from `min`, doubling to `max`; back to `min` once a run has reported a probe. */
  readonly backoff: { readonly min: number; readonly max: number };
  readonly log: Log;
  readonly stats: ProbeStats;
  /** One call per probe: answered (with its rtt in ms) or lost. */
  readonly onResult: (ok: boolean, rtt: number | undefined) => void;
}

/** Time between SIGTERM and SIGKILL on abort. */
export { KILL_GRACE_MS };

/** How long a fresh program may take before its first probe (exec, DNS, socket set-up), ms. */
const STARTUP_MS = 1000;
/** How many of a program's last stderr lines its exit message quotes. */
const STDERR_TAIL = 3;

/** Children alive in this process: killed if the process exits without aborting its collectors. */
export class IcmpRunner {
  private child: ChildProcess | undefined;
  private tool: IcmpTool = "fping";
  private tracker = new SeqTracker(0);
  private delay: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** performance.now() by which the next expected probe's line is due. */
  private deadline = Number.POSITIVE_INFINITY;
  private results = 0;
  private stderrTail: string[] = [];
  private fpingMissingLogged = false;
  private signal: AbortSignal | undefined;
  private readonly grace: number;
  /** How long after its send a lost probe's line comes: fping at the timeout, ping at the next send. */
  private reportDelay = 0;
  private readonly unparsedLog = new Throttle(60_000);
  private readonly stderrLog = new Throttle(60_000);
  private readonly icmpLog = new Throttle(60_000);
  private readonly silenceLog = new Throttle(60_000);

  constructor(private readonly o: IcmpRunnerOptions) {
    this.delay = o.backoff.min;
    this.grace = Math.min(1000, Math.max(50, o.settings.interval / 2));
  }

  start(signal: AbortSignal): void {
    this.signal = signal;
    if (signal.aborted) return;
    signal.addEventListener("abort", () => this.stop(), { once: true });
    this.launch("fping");
  }

  private launch(tool: IcmpTool): void {
    this.restartTimer = undefined;
    if (this.signal?.aborted) return;
    const { settings, stats } = this.o;
    const command = tool === "fping" ? this.o.fpingCommand : this.o.pingCommand;
    const argv = [...command.slice(1), ...(tool === "fping" ? fpingArgs(settings) : pingArgs(settings))];
    let child: ChildProcess;
    try {
      const [exe, ...args] = diesWithParent([command[0]!, ...argv]);
      child = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      // Synchronous spawn failures (bad arguments) are rare; treat them as a failed start.
      this.tool = tool;
      this.gone(undefined, { err });
      return;
    }
    this.child = child;
    this.tool = tool;
    this.tracker = tool === "fping" ? new SeqTracker(0) : new SeqTracker(1, 65536);
    this.reportDelay = tool === "fping" ? settings.timeout : settings.interval;
    this.results = 0;
    this.stderrTail = [];
    stats.starts++;
    stats.tool = tool;
    stats.pid = child.pid;
    if (child.pid !== undefined) track(child);
    lines(child.stdout!, (line) => this.onLine(child, line, false));
    lines(child.stderr!, (line) => this.onLine(child, line, true));
    child.once("error", (err) => this.gone(child, { err }));
    child.once("close", (code, sig) => this.gone(child, { code, sig }));
    this.arm(performance.now() + STARTUP_MS + this.reportDelay + this.grace);
    this.o.log.debug(
      { collector: this.o.name, tool, pid: child.pid, argv: [command[0], ...argv] },
      `probe ${this.o.name}: started ${tool}`,
    );
  }

  private onLine(child: ChildProcess, line: string, stderr: boolean): void {
    if (child !== this.child) return;
    const parsed: ProbeLine | undefined = this.tool === "fping" ? parseFpingLine(line) : parsePingLine(line);
    if (parsed === undefined) {
      if (stderr) this.onMessage(line);
      else this.onUnparsed(line);
      return;
    }
    const now = performance.now();
    switch (parsed.kind) {
      case "reply":
        if (parsed.duplicate) {
          this.o.stats.late++;
          return;
        }
        // fping drops replies slower than its -t (they end as `timed out`); ping prints them: same rule here.
        this.result(parsed.seq, parsed.rtt <= this.o.settings.timeout, parsed.rtt, now - parsed.rtt);
        return;
      case "timeout":
        this.result(parsed.seq, false, undefined, now - this.reportDelay);
        return;
      case "icmp-error":
        this.o.stats.icmpErrors++;
        this.logIcmpError(parsed.message, parsed.from);
        // fping does not say which probe (its `timed out` line follows anyway); ping does. The send time is
        // unknown: take now, which only moves the silence deadline later.
        if (parsed.seq !== undefined) this.result(parsed.seq, false, undefined, now);
        return;
      case "info":
        return;
    }
  }

  private result(seq: number, ok: boolean, rtt: number | undefined, sentAt: number): void {
    const v = this.tracker.accept(seq);
    if (!v.fresh) {
      this.o.stats.late++;
      return;
    }
    for (let i = 0; i < v.missed; i++) this.lost(true);
    this.results++;
    this.report(ok, ok ? rtt : undefined);
    this.arm(sentAt + this.o.settings.interval + this.reportDelay + this.grace);
  }

  private report(ok: boolean, rtt: number | undefined): void {
    const { stats } = this.o;
    stats.probes++;
    if (!ok) stats.lost++;
    this.o.onResult(ok, rtt);
  }

  private lost(inferred: boolean): void {
    if (inferred) this.o.stats.inferred++;
    this.report(false, undefined);
  }

  // -------------------------------------------------------------------------------------------------------
  // The silence watchdog

  private arm(deadline: number): void {
    this.deadline = deadline;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.onWatchdog(), Math.max(0, deadline - performance.now()));
  }

  private disarm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.deadline = Number.POSITIVE_INFINITY;
  }

  private onWatchdog(): void {
    this.watchdog = undefined;
    // Timers run before I/O in an event-loop turn: after a stall, the overdue line may be waiting in the pipe.
    // Decide in the check phase, after this turn's I/O has been read.
    setImmediate(() => {
      if (!this.child || this.signal?.aborted || this.watchdog) return;
      const now = performance.now();
      if (now < this.deadline) {
        this.arm(this.deadline);
        return;
      }
      const seq = this.tracker.expected;
      this.tracker.skip();
      this.lost(true);
      const held = this.silenceLog.pass();
      if (held !== undefined) {
        this.o.log.warn(
          { collector: this.o.name, tool: this.tool, seq, held },
          `probe ${this.o.name}: ${this.tool} said nothing about probe ${seq} by ${fmtMs(this.reportDelay + this.grace)} after its send; counting it as lost (its sends fail: is there a route to ${this.o.settings.target}?)`,
        );
      }
      this.arm(this.deadline + this.o.settings.interval);
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Messages

  private onUnparsed(line: string): void {
    this.o.stats.unparsed++;
    const held = this.unparsedLog.pass();
    if (held === undefined) return;
    this.o.log.warn(
      { collector: this.o.name, tool: this.tool, line: line.slice(0, 200), held },
      `probe ${this.o.name}: skipping a line of ${this.tool} output it cannot parse (counted in stats.unparsed)`,
    );
  }

  private onMessage(line: string): void {
    const text = line.trim();
    if (text === "") return;
    this.stderrTail.push(text.slice(0, 200));
    if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
    const held = this.stderrLog.pass();
    if (held === undefined) return;
    this.o.log.warn(
      { collector: this.o.name, tool: this.tool, message: text.slice(0, 200), held },
      `probe ${this.o.name}: ${this.tool} says: ${text.slice(0, 200)}`,
    );
  }

  private logIcmpError(message: string, from: string): void {
    const held = this.icmpLog.pass();
    if (held === undefined) return;
    this.o.log.info(
      { collector: this.o.name, tool: this.tool, from, message, held },
      `probe ${this.o.name}: ${message} from ${from} for a probe of ${this.o.settings.target}`,
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // Exit, restart, stop

  /** The program is gone ('error' and 'close' may both come: the first one counts). */
  private gone(
    child: ChildProcess | undefined,
    why: { err?: unknown; code?: number | null; sig?: NodeJS.Signals | null },
  ): void {
    if (child !== undefined && child !== this.child) return;
    this.child = undefined;
    this.disarm();
    const { stats, log, name } = this.o;
    stats.pid = undefined;
    if (child) stats.exits++;
    if (this.signal?.aborted) return;
    const code = why.err !== undefined ? errCode(why.err) : undefined;
    if (code === "ENOENT" && this.tool === "fping") {
      if (!this.fpingMissingLogged) {
        this.fpingMissingLogged = true;
        log.warn(
          { collector: name, command: this.o.fpingCommand },
          `probe ${name}: fping not found (install the fping package); probing with ping instead, which reports a lost probe one interval after its send instead of at the timeout`,
        );
      }
      this.launch("ping");
      return;
    }
    if (this.results > 0) this.delay = this.o.backoff.min;
    const delay = this.delay;
    this.delay = Math.min(this.o.backoff.max, this.delay * 2);
    if (code === "ENOENT") {
      log.error(
        { collector: name, fping: this.o.fpingCommand, ping: this.o.pingCommand, retryInMs: delay },
        `probe ${name}: neither fping nor ping can be started (not found); install fping; no samples until then; retrying in ${fmtMs(delay)}`,
      );
    } else {
      const how =
        code !== undefined
          ? `could not start (${code})`
          : why.sig
            ? `was killed by ${why.sig}`
            : `exited with code ${why.code}`;
      const said = this.stderrTail.length > 0 ? `: ${this.stderrTail.join(" / ")}` : "";
      log.warn(
        {
          collector: name,
          tool: this.tool,
          code: why.code ?? undefined,
          signal: why.sig ?? undefined,
          ...(code !== undefined ? { err: code } : {}),
          stderr: this.stderrTail,
          retryInMs: delay,
        },
        `probe ${name}: ${this.tool} ${how}${said}; no samples until it runs again; restarting in ${fmtMs(delay)}`,
      );
    }
    this.restartTimer = setTimeout(() => this.launch("fping"), delay);
  }

  private stop(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.disarm();
    const child = this.child;
    this.child = undefined;
    this.o.stats.pid = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, KILL_GRACE_MS);
    child.once("exit", () => clearTimeout(killer));
  }
}

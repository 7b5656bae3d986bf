/**
 * sd_notify(3) for the daemon: messages to systemd's `NOTIFY_SOCKET` (READY=1, RELOADING=1, STOPPING=1,
 * WATCHDOG=1, STATUS=…).
 *
 * The socket is an AF_UNIX datagram socket, and Node can neither create nor send on one. The ways around it:
 *
 * - `systemd-notify` spawned per message: a child, so it only counts with `NotifyAccess=all`; and a sender that
 *   exits at once races PID 1, which looks up the sender's cgroup from its pid when it reads the datagram — on
 *   systemd 252 (Debian 12) a message whose sender is gone may not be attributed to the unit and is dropped
 *   (systemd-notify(1) warns about it). A READY=1 lost that way fails the start at TimeoutStartSec; a WATCHDOG=1
 *   lost that way kills a healthy daemon. It also costs a fork and an exec per ping.
 * - **What we do**: one helper process for the daemon's life (`perl`, from `perl-base`, which is Essential on
 *   Debian: its `Socket` module has PF_UNIX/SOCK_DGRAM), reading one message a line on its stdin (hex, so a
 *   message may hold newlines) and sending each as one datagram. It is alive when PID 1 reads what it sent, so
 *   the race above cannot happen, and a ping costs a pipe write. It is not the main pid either, so the unit says
 *   `NotifyAccess=all` (sending as the main pid needs CAP_SYS_ADMIN, which the unit does not grant). It is
 *   started through `diesWithParent` (setpriv --pdeathsig KILL) and also ends at EOF on its stdin.
 * - Without perl (not Debian), `systemd-notify` per message as above, with its race; without either, nothing is
 *   sent and an error says why (a `Type=notify` unit then fails to start: use `Type=simple` there).
 *
 * Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) nothing is started. NOTIFY_SOCKET, WATCHDOG_USEC
 * and WATCHDOG_PID are removed from the daemon's environment once read (sd_notify's `unset_environment`), so that
 * the programs it runs (actions, collectors) cannot send to the unit by accident: with NotifyAccess=all they could.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { Log } from "../collector.js";
import { diesWithParent } from "../util/kill.js";

/** What the helper runs: sends each line of stdin (hex) as one datagram to $NOTIFY_SOCKET (`@x`: abstract). */
export const HELPER_SCRIPT = [
  "use strict; use warnings; use Socket;",
  // Signals for the process group (Ctrl-C, `timeout`) are the daemon's to handle: it ends the helper at EOF.
  "$SIG{$_} = 'IGNORE' for qw(INT TERM HUP QUIT USR1 USR2 PIPE); $0 = 'standby: sd_notify helper';",
  'my $p = $ENV{NOTIFY_SOCKET}; die "NOTIFY_SOCKET is not set\\n" unless defined $p && $p ne "";',
  '$p =~ s/^@/\\0/; socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\\n";',
  'my $to = pack_sockaddr_un($p); $| = 1; print "ok\\n";',
  "while (my $l = <STDIN>) { chomp $l; next if $l eq '';",
  '  defined(send($s, pack("H*", $l), 0, $to)) or print STDERR "send: $!\\n"; }',
].join("\n");

/** Bytes of messages waiting in the pipe to the helper beyond which more are dropped (it is stuck). */
const MAX_QUEUED = 64 * 1024;
/** `systemd-notify` processes at once (the fallback); more messages are dropped until one ends. */
const MAX_SPAWNED = 4;
/** How long close() waits for the helper (or the last systemd-notify) to send what it has. */
const CLOSE_WAIT_MS = 2000;

/** Sends sd_notify messages; `send` never throws and never blocks the event loop. */
export interface NotifyTransport {
  readonly kind: "helper" | "systemd-notify" | "none";
  /** One datagram: `KEY=VALUE` fields (joined with newlines). */
  send(fields: readonly string[]): void;
  /** Lets the last messages go out, then ends the helper (bounded). */
  close(): Promise<void>;
}

/** The notify socket, if systemd gave one; it (and the watchdog's variables) leave `env` when `unset`. */
export function takeNotifyEnv(
  env: NodeJS.ProcessEnv,
  unset: boolean,
): { socket?: string; watchdogUsec?: string; watchdogPid?: string } {
  const out = {
    ...(env.NOTIFY_SOCKET ? { socket: env.NOTIFY_SOCKET } : {}),
    ...(env.WATCHDOG_USEC ? { watchdogUsec: env.WATCHDOG_USEC } : {}),
    ...(env.WATCHDOG_PID ? { watchdogPid: env.WATCHDOG_PID } : {}),
  };
  if (unset) for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[k];
  return out;
}

/** A STATUS= value: one line, bounded (systemctl status shows one line). */
export function statusField(text: string): string {
  const line = text.replace(/[\r\n]+/g, " ").trim();
  return `STATUS=${line.length > 400 ? `${line.slice(0, 399)}…` : line}`;
}

export interface TransportOptions {
  readonly log: Log;
  /** The programs (default: `perl`, `systemd-notify` in PATH); null: there is none (tests). */
  readonly perl?: string | null | undefined;
  readonly systemdNotify?: string | null | undefined;
}

/** Opens the transport to `socket`: the perl helper, else `systemd-notify`, else none (see the top). */
export function openTransport(socket: string, opts: TransportOptions): NotifyTransport {
  const perl = opts.perl === null ? undefined : (opts.perl ?? which("perl"));
  const sdNotify = opts.systemdNotify === null ? undefined : (opts.systemdNotify ?? which("systemd-notify"));
  if (perl) return new HelperTransport(socket, perl, opts.log, sdNotify);
  if (sdNotify) {
    opts.log.warn({}, "sd_notify: perl not found; using systemd-notify per message (may be dropped)");
    return new SpawnTransport(socket, sdNotify, opts.log);
  }
  opts.log.error({}, "sd_notify: neither perl nor systemd-notify found: systemd is told nothing");
  return { kind: "none", send: () => {}, close: async () => {} };
}

class HelperTransport implements NotifyTransport {
  kind: "helper" | "systemd-notify" = "helper";
  private child: ChildProcess | undefined;
  private fallback: SpawnTransport | undefined;
  private readonly exited: Promise<void>;
  private warnedFull = false;
  private closing = false;

  constructor(
    private readonly socket: string,
    perl: string,
    private readonly log: Log,
    private readonly sdNotify: string | undefined,
  ) {
    const argv = diesWithParent([perl, "-e", HELPER_SCRIPT]);
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: { NOTIFY_SOCKET: socket, PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    this.child = child;
    child.stdin!.on("error", () => {}); // EPIPE when it died: the exit handler says why
    child.stdout!.resume();
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      for (let i = stderr.indexOf("\n"); i >= 0; i = stderr.indexOf("\n")) {
        log.warn({ helper: stderr.slice(0, i) }, "sd_notify helper");
        stderr = stderr.slice(i + 1);
      }
    });
    this.exited = new Promise((resolve) => {
      const gone = (why: string) => {
        if (this.child !== child) return resolve();
        this.child = undefined;
        if (why !== "closed") this.fallBack(why);
        resolve();
      };
      child.on("error", (err) => gone(err.message));
      child.on("exit", (code, signal) => gone(this.closing ? "closed" : `exited (${signal ?? code})`));
    });
  }

  /** The helper failed or died: systemd-notify per message from now on, if there is one. */
  private fallBack(why: string): void {
    if (this.sdNotify) {
      this.log.error({ why }, "sd_notify helper (perl) failed; using systemd-notify per message");
      this.fallback = new SpawnTransport(this.socket, this.sdNotify, this.log);
      this.kind = "systemd-notify";
    } else this.log.error({ why }, "sd_notify helper (perl) failed: systemd is told nothing more");
  }

  send(fields: readonly string[]): void {
    if (this.fallback) {
      this.fallback.send(fields);
      return;
    }
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || this.closing) return;
    if (stdin.writableLength > MAX_QUEUED) {
      if (!this.warnedFull) this.log.warn({}, "sd_notify helper is not reading; messages dropped");
      this.warnedFull = true;
      return;
    }
    this.warnedFull = false;
    stdin.write(`${Buffer.from(fields.join("\n"), "utf8").toString("hex")}\n`);
  }

  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    child?.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await this.fallback?.close();
  }
}

/** `systemd-notify FIELD…` per message: the fallback (see the top for its race). */
class SpawnTransport implements NotifyTransport {
  readonly kind = "systemd-notify";
  private readonly running = new Set<Promise<void>>();
  private warned = false;

  constructor(
    private readonly socket: string,
    private readonly program: string,
    private readonly log: Log,
  ) {}

  send(fields: readonly string[]): void {
    if (this.running.size >= MAX_SPAWNED) {
      if (!this.warned) this.log.warn({}, "sd_notify: systemd-notify is slow; a message was dropped");
      this.warned = true;
      return;
    }
    const p = new Promise<void>((resolve) => {
      const c = spawn(this.program, [...fields], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { NOTIFY_SOCKET: this.socket, PATH: process.env.PATH ?? "/usr/bin:/bin" },
        timeout: CLOSE_WAIT_MS,
      });
      let err = "";
      c.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
      c.on("error", (e) => {
        this.log.warn({ err: e.message }, "sd_notify: systemd-notify failed");
        resolve();
      });
      c.on("close", (code) => {
        if (code !== 0) this.log.warn({ code, err: err.trim() }, "sd_notify: systemd-notify failed");
        resolve();
      });
    });
    this.running.add(p);
    void p.then(() => this.running.delete(p));
  }

  async close(): Promise<void> {
    await Promise.all([...this.running]);
  }
}

/** The executable `name` in PATH, if any. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

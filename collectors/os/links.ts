/**
 * The os link watcher: `nic.link_up` as links change (`ip -o monitor link`, sysfs polling while `ip` is not
 * running), and a neighbour refresh when a link comes back up.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { CollectorContext, StreamCollector } from "../../src/collector.js";
import type { Sample } from "../../src/engine/types.js";
import { diesWithParent } from "../../src/util/kill.js";
import type { OsCollectorSpec } from "./config.js";
import type { OsCollectorOptions } from "./options.js";
import {
  type LinkEvent,
  linkUp,
  linkUpFromEvent,
  parseCarrier,
  parseIpMonitorLine,
  parseOperstate,
} from "./parse.js";
import { errMessage, type Shared } from "./shared.js";

/**
 * Streams `nic.link_up` as links change. Runs `ip -o monitor link`; on each line it re-reads that NIC's
 * operstate from sysfs (the line's own `state` word only if sysfs cannot be read) and emits at once.
 * While `ip` is not running (missing, dead, being restarted with backoff) and for `graceMs` after it starts,
 * it polls every NIC's operstate every `pollMs` and emits the ones that changed; while `ip` runs, it does not
 * poll at all (the idle daemon's only link cost is `ip` blocked in recvmsg).
 *
 * When a NIC it saw down is up again, it drops that NIC's INCOMPLETE neighbour entries (`ip neigh flush dev
 * DEV nud incomplete`): an entry created while the link was down (a probe sent meanwhile) keeps waiting for
 * its next ARP/ND retransmission, up to `retrans_time_ms` (1 s) after the link is back, and every packet to
 * that neighbour — the gateway's probes among them — is held until then. Without the entry, the next packet
 * resolves the neighbour at once. This changes no route, address or valid entry; it is the observer keeping
 * its own view fresh (README, "Neighbour refresh").
 */
export class LinkWatcher implements StreamCollector {
  readonly kind = "stream";
  readonly name: string;
  private readonly cfg: WatchConfig;

  constructor(spec: OsCollectorSpec, ctx: CollectorContext, shared: Shared, options: OsCollectorOptions) {
    this.name = `${spec.name}-links`;
    const ipCommand = options.ipCommand ?? (spec.root === undefined ? ["ip"] : undefined);
    const neigh = options.neighCommand ?? ipCommand;
    this.cfg = {
      ctx,
      shared,
      ipCommand,
      pollMs: options.pollMs ?? 100,
      graceMs: options.graceMs ?? 1000,
      backoff: options.backoff ?? { min: 1000, max: 30_000 },
      neighCommand: neigh === false || neigh === undefined || neigh.length === 0 ? undefined : neigh,
    };
  }

  start(emit: (samples: Sample[]) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    new WatchRun(this.cfg, emit, signal).begin();
  }
}

export interface WatchConfig {
  readonly ctx: CollectorContext;
  readonly shared: Shared;
  /** `undefined`: poll only (a fake tree). */
  readonly ipCommand: readonly string[] | undefined;
  readonly pollMs: number;
  readonly graceMs: number;
  readonly backoff: { readonly min: number; readonly max: number };
  /** `undefined`: no neighbour refresh when a link comes back. */
  readonly neighCommand: readonly string[] | undefined;
}

/** A neighbour refresh that has not ended by then is killed. */
export const NEIGH_TIMEOUT_MS = 5000;

/** The state of one `start()`: its child, timers and the last state emitted per NIC. */
export class WatchRun {
  private readonly ctx: CollectorContext;
  private readonly shared: Shared;
  private readonly last = new Map<string, 0 | 1>();
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** While `ip` runs, polling stops at this time; while it does not, polling goes on regardless. */
  private pollUntil = 0;
  private delay: number;
  private failures = 0;
  /** Lines are handled one after another so their samples leave in order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly p: WatchConfig,
    private readonly emit: (samples: Sample[]) => void,
    private readonly signal: AbortSignal,
  ) {
    this.ctx = p.ctx;
    this.shared = p.shared;
    this.delay = p.backoff.min;
  }

  begin(): void {
    this.signal.addEventListener("abort", () => this.stop(), { once: true });
    if (this.p.ipCommand) this.spawnIp(this.p.ipCommand);
    else this.poll(Number.POSITIVE_INFINITY);
  }

  private stop(): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.pollTimer);
    this.polling = false;
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  }

  private send(samples: Sample[]): void {
    if (samples.length > 0 && !this.signal.aborted) this.emit(samples);
  }

  // -- ip monitor ------------------------------------------------------------------------------------------

  private spawnIp(cmd: readonly string[]): void {
    const [file, ...pre] = cmd;
    const startedAt = this.ctx.now();
    let ended = false;
    let stderr = "";
    let child: ChildProcess;
    try {
      const [exe, ...args] = diesWithParent([file!, ...pre, "-o", "monitor", "link"]);
      child = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      this.ipEnded(startedAt, `cannot run ${cmd.join(" ")}: ${errMessage(err)}`);
      return;
    }
    this.child = child;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.child === child) this.child = undefined;
      this.ipEnded(startedAt, why);
    };
    child.on("spawn", () => {
      if (this.signal.aborted) return;
      // ip subscribes to netlink only after it started: poll a little longer so a change in between is seen.
      this.poll(this.ctx.now() + this.p.graceMs);
    });
    child.on("error", (err) => end(`cannot run ${cmd.join(" ")}: ${errMessage(err)}`));
    child.on("close", (code, sig) =>
      end(
        `${cmd.join(" ")} -o monitor link ended (${sig ?? `exit ${code}`})${stderr ? `: ${stderr.trim()}` : ""}`,
      ),
    );
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr = (stderr + d).slice(-500);
    });
    if (child.stdout) {
      const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on("line", (line) => {
        this.chain = this.chain.then(() => this.onLine(line)).catch(() => {});
      });
    }
  }

  private ipEnded(startedAt: number, why: string): void {
    if (this.signal.aborted) return;
    const ranFor = this.ctx.now() - startedAt;
    if (ranFor >= this.p.backoff.max) this.delay = this.p.backoff.min;
    this.failures++;
    const msg = `os: link watcher: ${why}; polling sysfs every ${this.p.pollMs}ms, retrying in ${this.delay}ms`;
    if (this.failures === 1) this.ctx.log.warn({ collector: this.shared.spec.name }, msg);
    else this.ctx.log.debug({ collector: this.shared.spec.name, failures: this.failures }, msg);
    this.poll(Number.POSITIVE_INFINITY);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.signal.aborted && this.p.ipCommand) this.spawnIp(this.p.ipCommand);
    }, this.delay);
    this.delay = Math.min(this.delay * 2, this.p.backoff.max);
  }

  private async onLine(line: string): Promise<void> {
    const ev = parseIpMonitorLine(line);
    if (!ev || ev.device === "lo") return;
    const up = await this.linkOf(ev);
    if (up === undefined) return;
    const before = this.last.get(ev.device);
    this.last.set(ev.device, up);
    this.send([this.shared.linkSample(ev.device, up, this.ctx.now())]);
    if (before === 0 && up === 1) this.refreshNeighbours(ev.device);
  }

  // -- neighbour refresh -----------------------------------------------------------------------------------

  private neighFailures = 0;

  /** `ip neigh flush dev DEV nud incomplete`, in the background; a failure is logged (once) and ignored. */
  private refreshNeighbours(device: string): void {
    const cmd = this.p.neighCommand;
    if (!cmd || this.signal.aborted) return;
    const [file, ...pre] = cmd;
    const argv = [...pre, "neigh", "flush", "dev", device, "nud", "incomplete"];
    let reported = false;
    const failed = (why: string) => {
      if (reported) return; // 'error' and 'close' may both come
      reported = true;
      this.neighFailures++;
      const msg = `os: link watcher: cannot drop the INCOMPLETE neighbour entries of ${device} after its link came back (${why}); the next ARP retry may take up to 1 s`;
      if (this.neighFailures === 1) this.ctx.log.warn({ collector: this.shared.spec.name, device }, msg);
      else
        this.ctx.log.debug({ collector: this.shared.spec.name, device, failures: this.neighFailures }, msg);
    };
    let child: ChildProcess;
    try {
      child = spawn(file!, argv, { stdio: ["ignore", "ignore", "pipe"], timeout: NEIGH_TIMEOUT_MS });
    } catch (err) {
      failed(`cannot run ${file}: ${errMessage(err)}`);
      return;
    }
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr = (stderr + d).slice(-300);
    });
    child.on("error", (err) => failed(`cannot run ${file}: ${errMessage(err)}`));
    child.on("close", (code, sig) => {
      if (code === 0 && !reported) {
        this.ctx.log.debug(
          { collector: this.shared.spec.name, device },
          `os: link watcher: ${device} is up again; dropped its INCOMPLETE neighbour entries`,
        );
      } else if (code !== null || sig !== null) {
        failed(`${[file, ...argv].join(" ")}: ${sig ?? `exit ${code}`}${stderr ? `: ${stderr.trim()}` : ""}`);
      }
    });
  }

  private async linkOf(ev: LinkEvent): Promise<0 | 1 | undefined> {
    if (ev.deleted) return 0;
    // sysfs has the state now; the line may be older than the last change. It lacks the NIC only if the
    // NIC is gone (or lives in another namespace): then the line is all there is.
    try {
      const dir = join(this.shared.net, ev.device);
      const oper = parseOperstate(await readFile(join(dir, "operstate"), "utf8"));
      if (oper === undefined) return linkUpFromEvent(ev);
      if (oper !== "unknown") return linkUp(oper);
      return linkUp(oper, parseCarrier(await readFile(join(dir, "carrier"), "utf8")));
    } catch {
      return linkUpFromEvent(ev);
    }
  }

  // -- sysfs polling ---------------------------------------------------------------------------------------

  /** Polls every `pollMs`: until `until` while `ip` runs, for as long as it does not. */
  private poll(until: number): void {
    this.pollUntil = until;
    if (this.polling) return;
    this.polling = true;
    const tick = async () => {
      if (this.signal.aborted) return;
      try {
        await this.pollOnce();
      } catch {
        // pollOnce counts its own failures
      }
      if (this.signal.aborted) return;
      // While ip runs, stop once the grace period is over.
      if (this.child && this.ctx.now() >= this.pollUntil) {
        this.polling = false;
        return;
      }
      this.pollTimer = setTimeout(tick, this.p.pollMs);
    };
    void tick();
  }

  private async pollOnce(): Promise<void> {
    const devices = await this.shared.listNics();
    if (!devices) return;
    const states = await Promise.all(devices.map((d) => this.shared.readLink(d)));
    const ts = this.ctx.now();
    const out: Sample[] = [];
    const back: string[] = [];
    devices.forEach((d, i) => {
      const up = states[i];
      const before = this.last.get(d);
      if (up === undefined || before === up) return;
      this.last.set(d, up);
      out.push(this.shared.linkSample(d, up, ts));
      if (before === 0 && up === 1) back.push(d);
    });
    const present = new Set(devices);
    for (const d of this.last.keys()) if (!present.has(d)) this.last.delete(d);
    this.send(out);
    for (const d of back) this.refreshNeighbours(d);
  }
}

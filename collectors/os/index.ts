/**
 * The `os` collector: CPU, memory, load, filesystems and NICs of this host, read from /proc and /sys (or
 * from a fake tree under `root`), plus a link watcher that reports a NIC going down within milliseconds.
 * It only observes; rules decide. See README.md for the metrics.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, statfs } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Collector, CollectorContext, PollCollector, StreamCollector } from "../../src/collector.js";
import { labelsOf } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import type { OsCollectorSpec } from "./config.js";
import {
  type CpuTimes,
  cpuBusyPercent,
  type Filesystem,
  type FsSizeEntry,
  type LinkEvent,
  linkUp,
  linkUpFromEvent,
  type Mount,
  memUsedPercent,
  parseCarrier,
  parseCounter,
  parseIpMonitorLine,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseOperstate,
  parseProcStat,
  parseSpeed,
  selectFilesystems,
} from "./parse.js";

/** Every metric this collector emits. */
export const OS_METRICS = [
  "cpu.load_percent",
  "mem.used_percent",
  "load.1",
  "load.5",
  "load.15",
  "fs.used_percent",
  "fs.free_bytes",
  "nic.link_up",
  "nic.speed_mbps",
  "nic.errors",
  "nic.drops",
] as const;

/** With `root` set, the filesystems come from this file under it (fsSize() output captured on a host). */
export const FS_FIXTURE = "fs-size.json";

export interface OsCollectorOptions {
  /**
   * argv prefix that runs iproute2's `ip` for the link watcher; `-o monitor link` is appended. Default
   * `["ip"]`. Tests watch a network namespace with `["ip", "-n", NS]`. Giving it also makes the watcher use
   * `ip monitor` when `root` is set (the namespace's sysfs is then `ROOT/sys`); without it, a `root` means
   * a fake tree that no `ip` can watch, so the watcher polls it.
   */
  readonly ipCommand?: readonly string[];
  /** Period of the sysfs polling fallback, ms. Default 100. */
  readonly pollMs?: number;
  /** How long the fallback keeps polling after `ip monitor` starts, to cover its subscription, ms. Default 1000. */
  readonly graceMs?: number;
  /** Restart delays of a dead `ip monitor`: from `min`, doubling to `max`, ms. Default 1000 to 30000. */
  readonly backoff?: { readonly min: number; readonly max: number };
  /**
   * argv prefix of the `ip` that drops a NIC's INCOMPLETE neighbour entries when its link comes back up
   * (`neigh flush dev DEV nud incomplete` is appended; see README, "Neighbour refresh"). Default: `ipCommand`
   * (none in poll-only mode); `false` turns the refresh off.
   */
  readonly neighCommand?: readonly string[] | false;
  /**
   * Where filesystem usage comes from, as `systeminformation.fsSize()` records (tests). Default: the mount table
   * and statfs(2), each statfs bounded (see `statfs`).
   */
  readonly fsSize?: () => Promise<unknown>;
  /** The mount table to read (default `/proc/self/mounts`); giving it (or `statfs`) reads mounts even with `root`. */
  readonly mounts?: string;
  /** statfs(2) (default `fs.promises.statfs`); tests stand in a hung mount with a promise that never settles. */
  readonly statfs?: (path: string) => Promise<StatfsLike>;
  /** How long one mount's statfs may take before the mount is left out of the run, ms. Default STATFS_TIMEOUT_MS. */
  readonly statfsTimeoutMs?: number;
}

/** The fields of statfs(2) the collector uses. */
export interface StatfsLike {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

/**
 * How long one mount's statfs may take. A mount that does not answer by then (a hung NFS server, a stuck FUSE
 * daemon, a dying disk) has no `fs.*` sample this run and is counted; the other mounts are reported as usual,
 * and it is not asked again until its pending statfs returns (each hung call holds one libuv thread).
 */
export const STATFS_TIMEOUT_MS = 1000;

/**
 * The collectors of one `os` config block: a poll collector (every `interval`) and a link watcher that
 * streams `nic.link_up` as links change. Both share their label objects.
 */
export function createOsCollector(
  spec: OsCollectorSpec,
  ctx: CollectorContext,
  options: OsCollectorOptions = {},
): Collector[] {
  const shared = new Shared(spec, ctx);
  return [new OsPollCollector(spec, ctx, shared, options), new LinkWatcher(spec, ctx, shared, options)];
}

// ---------------------------------------------------------------------------------------------------------
// Shared: paths, label objects, error counts

interface NicLabels {
  readonly device: Labels;
  readonly rx: Labels;
  readonly tx: Labels;
}

/** Errors the kernel gives for a speed or carrier it does not know (down or virtual links): no sample, no error. */
const NOT_REPORTED = new Set(["EINVAL", "ENOENT", "ENODEV", "EOPNOTSUPP"]);
const MAX_ERROR_KEYS = 256;

class Shared {
  readonly proc: string;
  readonly net: string;
  readonly base: Labels;
  private readonly nics = new Map<string, NicLabels>();
  private readonly fs = new Map<string, Labels>();
  /** Read or parse failures by file. */
  readonly errors = new Map<string, number>();
  errorTotal = 0;

  constructor(
    readonly spec: OsCollectorSpec,
    private readonly ctx: CollectorContext,
  ) {
    const root = spec.root ?? "/";
    this.proc = join(root, "proc");
    this.net = join(root, "sys", "class", "net");
    this.base = labelsOf({ host: ctx.host, collector: spec.name });
  }

  nic(device: string): NicLabels {
    let l = this.nics.get(device);
    if (!l) {
      const d = labelsOf(this.base, { device });
      l = { device: d, rx: labelsOf(d, { direction: "rx" }), tx: labelsOf(d, { direction: "tx" }) };
      this.nics.set(device, l);
    }
    return l;
  }

  fsLabels(f: Filesystem): Labels {
    const key = `${f.mount}\0${f.device}\0${f.fstype}`;
    let l = this.fs.get(key);
    if (!l) {
      l = labelsOf(this.base, { mount: f.mount, device: f.device, fstype: f.fstype });
      this.fs.set(key, l);
    }
    return l;
  }

  /** Drops the label objects of NICs that are gone (containers churn veths). */
  pruneNics(present: ReadonlySet<string>): void {
    for (const d of this.nics.keys()) if (!present.has(d)) this.nics.delete(d);
  }

  pruneFs(present: ReadonlySet<Labels>): void {
    for (const [k, l] of this.fs) if (!present.has(l)) this.fs.delete(k);
  }

  /** Counts a failure; the first one of each file is logged. */
  fail(file: string, what: string, err?: unknown): void {
    this.errorTotal++;
    const n = this.errors.get(file);
    if (n !== undefined) {
      this.errors.set(file, n + 1);
      return;
    }
    if (this.errors.size < MAX_ERROR_KEYS) this.errors.set(file, 1);
    this.ctx.log.warn(
      { collector: this.spec.name, file, ...(err !== undefined ? { err: errMessage(err) } : {}) },
      `os: ${what}; skipping it (logged once per file, counted after)`,
    );
  }

  /**
   * Reads and parses one file. `undefined` (counted and logged once) if it cannot be read or parsed;
   * `undefined` silently if the read fails with one of `quiet` codes or the run was aborted.
   */
  async read<T>(
    file: string,
    parse: (text: string) => T | undefined,
    opts: { signal?: AbortSignal; quiet?: ReadonlySet<string> } = {},
  ): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(file, { encoding: "utf8", ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) return undefined;
      if (opts.quiet?.has(codeOf(err))) return undefined;
      this.fail(file, `cannot read ${file}`, err);
      return undefined;
    }
    const v = parse(text);
    if (v === undefined) this.fail(file, `cannot parse ${file}: ${JSON.stringify(text.slice(0, 80))}`);
    return v;
  }

  /** NIC names under sys/class/net, without `lo` and plain files such as `bonding_masters`. */
  async listNics(signal?: AbortSignal): Promise<string[] | undefined> {
    try {
      const entries = await readdir(this.net, { withFileTypes: true });
      return entries.filter((e) => e.name !== "lo" && !e.isFile()).map((e) => e.name);
    } catch (err) {
      if (!signal?.aborted) this.fail(this.net, `cannot list ${this.net}`, err);
      return undefined;
    }
  }

  /** operstate, and the carrier when the operstate is `unknown`. */
  async readLink(device: string, signal?: AbortSignal): Promise<0 | 1 | undefined> {
    const dir = join(this.net, device);
    const oper = await this.read(join(dir, "operstate"), parseOperstate, {
      ...(signal ? { signal } : {}),
      quiet: VANISHED,
    });
    if (oper === undefined) return undefined;
    if (oper !== "unknown") return linkUp(oper);
    const carrier = await this.read(join(dir, "carrier"), parseCarrier, {
      ...(signal ? { signal } : {}),
      quiet: NOT_REPORTED,
    });
    return linkUp(oper, carrier);
  }

  linkSample(device: string, up: 0 | 1, ts: number): Sample {
    return {
      metric: "nic.link_up",
      labels: this.nic(device).device,
      value: up,
      ts,
    };
  }
}

/** A NIC removed between listing and reading is no error. */
const VANISHED = new Set(["ENOENT", "ENODEV"]);

function codeOf(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------------------
// Poll collector

export class OsPollCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  readonly timeout: number;
  private prevCpu: CpuTimes | undefined;
  private fsInFlight = false;
  private readonly fsSize: (() => Promise<unknown>) | undefined;
  private readonly mounts: string | undefined;
  private readonly statfs: (path: string) => Promise<StatfsLike>;
  private readonly statfsTimeoutMs: number;
  /** Mounts whose statfs outlived its timeout and has not returned yet. */
  private readonly statfsPending = new Set<string>();

  constructor(
    readonly spec: OsCollectorSpec,
    private readonly ctx: CollectorContext,
    private readonly shared: Shared,
    options: OsCollectorOptions,
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.timeout;
    this.fsSize = options.fsSize;
    this.mounts = options.mounts ?? (options.statfs ? "/proc/self/mounts" : undefined);
    this.statfs = options.statfs ?? statfs;
    this.statfsTimeoutMs = options.statfsTimeoutMs ?? STATFS_TIMEOUT_MS;
  }

  /** Read or parse failures so far, by file (the first of each was logged). */
  get errors(): ReadonlyMap<string, number> {
    return this.shared.errors;
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const ts = this.ctx.now();
    const parts = await Promise.all([
      this.cpu(ts, signal),
      this.memory(ts, signal),
      this.load(ts, signal),
      this.nics(ts, signal),
      this.filesystems(ts, signal),
    ]);
    signal.throwIfAborted();
    return parts.flat();
  }

  private async cpu(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const cur = await this.shared.read(join(this.shared.proc, "stat"), parseProcStat, { signal });
    if (!cur) return [];
    const prev = this.prevCpu;
    this.prevCpu = cur;
    // The first run has nothing to compare with: no sample (a since-boot average would mislead a rule).
    const busy = prev ? cpuBusyPercent(prev, cur) : undefined;
    return busy === undefined
      ? []
      : [{ metric: "cpu.load_percent", labels: this.shared.base, value: busy, ts }];
  }

  private async memory(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const file = join(this.shared.proc, "meminfo");
    const used = await this.shared.read(file, (t) => memUsedPercent(parseMeminfo(t)), { signal });
    return used === undefined
      ? []
      : [{ metric: "mem.used_percent", labels: this.shared.base, value: used, ts }];
  }

  private async load(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const l = await this.shared.read(join(this.shared.proc, "loadavg"), parseLoadavg, { signal });
    if (!l) return [];
    const labels = this.shared.base;
    return [
      { metric: "load.1", labels, value: l.load1, ts },
      { metric: "load.5", labels, value: l.load5, ts },
      { metric: "load.15", labels, value: l.load15, ts },
    ];
  }

  private async nics(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const devices = await this.shared.listNics(signal);
    if (!devices) return [];
    devices.sort();
    const per = await Promise.all(devices.map((d) => this.nic(d, ts, signal)));
    this.shared.pruneNics(new Set(devices));
    return per.flat();
  }

  /** One NIC; every file is optional, so one bad file costs one metric, one bad NIC costs that NIC. */
  private async nic(device: string, ts: number, signal: AbortSignal): Promise<Sample[]> {
    const s = this.shared;
    const dir = join(s.net, device);
    const stat = (f: string) => s.read(join(dir, "statistics", f), parseCounter, { signal, quiet: VANISHED });
    const [up, speed, rxErr, txErr, rxDrop, txDrop] = await Promise.all([
      s.readLink(device, signal),
      s.read(join(dir, "speed"), parseSpeed, { signal, quiet: NOT_REPORTED }),
      stat("rx_errors"),
      stat("tx_errors"),
      stat("rx_dropped"),
      stat("tx_dropped"),
    ]);
    const l = s.nic(device);
    const out: Sample[] = [];
    if (up !== undefined) out.push(s.linkSample(device, up, ts));
    if (speed !== undefined && speed !== null)
      out.push({ metric: "nic.speed_mbps", labels: l.device, value: speed, ts });
    const counter = (metric: string, labels: Labels, value: number | undefined) => {
      if (value !== undefined) out.push({ metric, labels, value, ts });
    };
    counter("nic.errors", l.rx, rxErr);
    counter("nic.errors", l.tx, txErr);
    counter("nic.drops", l.rx, rxDrop);
    counter("nic.drops", l.tx, txDrop);
    return out;
  }

  private async filesystems(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const raw = await this.rawFsSize(signal);
    if (raw === undefined) return [];
    const { filesystems, malformed } = selectFilesystems(raw, {
      network: this.spec.network_filesystems === true,
    });
    if (malformed > 0) this.shared.fail("fsSize", `${malformed} malformed filesystem entries`);
    const out: Sample[] = [];
    const present = new Set<Labels>();
    for (const f of filesystems) {
      const labels = this.shared.fsLabels(f);
      present.add(labels);
      out.push({ metric: "fs.used_percent", labels, value: f.usedPercent, ts });
      out.push({ metric: "fs.free_bytes", labels, value: f.freeBytes, ts });
    }
    this.shared.pruneFs(present);
    return out;
  }

  /**
   * Filesystem sizes as fsSize() records: from the mount table and a bounded statfs per mount on the real root,
   * ROOT/fs-size.json with a root, or the `fsSize` option (one call at a time: a hung call is not stacked).
   */
  private async rawFsSize(signal: AbortSignal): Promise<unknown> {
    if (this.fsSize) return this.guardedFsSize(this.fsSize, signal);
    if (this.spec.root !== undefined && this.mounts === undefined) {
      const file = join(this.spec.root, FS_FIXTURE);
      return this.shared.read(file, parseJson, { signal, quiet: new Set(["ENOENT"]) });
    }
    let table: string;
    try {
      table = await readFile(this.mounts ?? "/proc/self/mounts", { encoding: "utf8", signal });
    } catch {
      if (signal.aborted) return undefined;
      // No mount table (not Linux?): systeminformation, which runs `df`.
      return this.guardedFsSize(async () => (await import("systeminformation")).fsSize(), signal);
    }
    const mounts = parseMounts(table, { network: this.spec.network_filesystems === true });
    const entries = await Promise.all(mounts.map((m) => this.statfsMount(m)));
    return entries.filter((e): e is FsSizeEntry => e !== undefined);
  }

  /**
   * One mount's size, or undefined: the mount vanished or refuses statfs (left out, as df does), or statfs did not
   * return within the timeout (left out and counted; not asked again until that call returns).
   */
  private async statfsMount(m: Mount): Promise<FsSizeEntry | undefined> {
    const key = `statfs ${m.mount}`;
    if (this.statfsPending.has(m.mount)) {
      this.shared.fail(key, `statfs of ${m.mount} still pending (hung mount?)`);
      return undefined;
    }
    const call = this.statfs(m.mount);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), this.statfsTimeoutMs);
    });
    try {
      const st = await Promise.race([call, late]);
      if (st === "late") {
        this.statfsPending.add(m.mount);
        call.then(
          () => this.statfsPending.delete(m.mount),
          () => this.statfsPending.delete(m.mount),
        );
        this.shared.fail(
          key,
          `statfs of ${m.mount} (${m.type}) did not answer within ${this.statfsTimeoutMs}ms (hung mount?); the mount is left out until it answers`,
        );
        return undefined;
      }
      return {
        fs: m.device,
        type: m.type,
        size: st.blocks * st.bsize,
        used: (st.blocks - st.bfree) * st.bsize,
        available: st.bavail * st.bsize,
        mount: m.mount,
      };
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A whole-table fsSize() call, one at a time. */
  private async guardedFsSize(fsSize: () => Promise<unknown>, signal: AbortSignal): Promise<unknown> {
    if (this.fsInFlight) {
      this.shared.fail("fsSize", "filesystem sizes still pending from the previous run");
      return undefined;
    }
    this.fsInFlight = true;
    const call = fsSize().finally(() => {
      this.fsInFlight = false;
    });
    try {
      return await raceAbort(call, signal);
    } catch (err) {
      if (!signal.aborted) this.shared.fail("fsSize", "cannot read filesystem sizes", err);
      return undefined;
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Link watcher

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

interface WatchConfig {
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
const NEIGH_TIMEOUT_MS = 5000;

/** The state of one `start()`: its child, timers and the last state emitted per NIC. */
class WatchRun {
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
      child = spawn(file!, [...pre, "-o", "monitor", "link"], { stdio: ["ignore", "pipe", "pipe"] });
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

/**
 * The smart poll collector: one `smartctl -j -a [-n standby] [-d TYPE] DEV` per device, at most CONCURRENCY at a
 * time, each bounded by `timeout` (killed with its process group when over it). One device failing — hung,
 * asleep, gone, printing garbage — costs that device's samples only; the failure is counted and logged once per
 * distinct failure. Only smartctl itself missing fails the run.
 */

import { describeFailure, type SpawnResult, spawnWithTimeout } from "../../src/actions/spawn.js";
import type { CollectorContext, PollCollector } from "../../src/collector.js";
import { labelsOf } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { formatDuration } from "../../src/util/duration.js";
import { processAlive } from "../../src/util/kill.js";
import type { SmartCollectorSpec } from "./config.js";
import { CAPTURE_BYTES, Discovery, missingError } from "./discovery.js";
import {
  DISK_FAILING_BIT,
  describeExitStatus,
  exitBits,
  identityOf,
  PREFAIL_NOW_BIT,
  parseSmartctl,
  type SmartReport,
  samplesOf,
  type Target,
} from "./parse.js";

/** smartctl processes at once: a few disks are read in parallel, a JBOD of 60 never all at once. */
export const CONCURRENCY = 2;

/** What the collector remembers of one device between polls. */
interface DeviceState {
  labels?: Labels;
  identity?: string;
  /** The last failure logged (a new, different one is logged again). */
  failure?: string;
  /** The last exit status logged. */
  exitStatus: number;
  standby: boolean;
  /**
   * A smartctl that was killed but never exited (a disk or controller that hangs it in the kernel, D state): no
   * second one is started for this device while it lives, so a hung disk costs one process, not one a poll.
   */
  stuck?: { readonly pid: number; readonly since: number };
}

/** How the collector runs a command (tests inject one). */
export type Spawn = typeof spawnWithTimeout;

export class SmartPollCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  /**
   * The run as a whole is bounded by the interval (each smartctl by `spec.timeout`): many slow disks read two at
   * a time may take minutes, and the next run waits for this one anyway.
   */
  readonly timeout: number;
  /** Failures so far, by `KIND DEVICE` (`timeout /dev/sda`, `invalid /dev/sdb`, `no-data ...`, `scan`). */
  readonly errors = new Map<string, number>();
  /** Devices found asleep (not woken, no samples), by device. */
  readonly standby = new Map<string, number>();
  private readonly base: Labels;
  private readonly devices = new Map<string, DeviceState>();
  private readonly discovery: Discovery | undefined;
  private readonly configured: readonly Target[];

  constructor(
    readonly spec: SmartCollectorSpec,
    private readonly ctx: CollectorContext,
    private readonly spawn: Spawn = spawnWithTimeout,
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.interval;
    this.base = { host: ctx.host, collector: spec.name };
    this.configured = (spec.devices ?? []).map((d) => ({
      device: d.device,
      ...("type" in d && d.type ? { type: d.type } : {}),
    }));
    this.discovery = spec.devices
      ? undefined
      : new Discovery(spec.name, spec.smartctl, spec.timeout, ctx, (k) => this.count(k));
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const targets = this.discovery ? await this.discovery.targets(signal) : this.configured;
    const results: Sample[][] = new Array(targets.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length && !signal.aborted) {
        const i = next++;
        results[i] = await this.poll(targets[i]!, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, worker));
    signal.throwIfAborted();
    // Devices no longer listed (a rescan dropped them): forget their state and label objects.
    const keys = new Set(targets.map(keyOf));
    for (const k of this.devices.keys()) if (!keys.has(k)) this.devices.delete(k);
    return results.flat();
  }

  /** One device: run smartctl, parse what it printed, and turn it into samples (or a logged failure). */
  private async poll(target: Target, signal: AbortSignal): Promise<Sample[]> {
    const argv = [
      this.spec.smartctl,
      "-j",
      "-a",
      ...(this.spec.wake ? [] : ["-n", "standby"]),
      ...(target.type ? ["-d", target.type] : []),
      target.device,
    ];
    const state = this.stateOf(target);
    if (state.stuck) {
      if (processAlive(state.stuck.pid)) {
        const ago = formatDuration(Math.round(this.ctx.now() - state.stuck.since));
        this.fail(
          target,
          state,
          "stuck",
          `the smartctl killed ${ago} ago (pid ${state.stuck.pid}) has not exited (hung in the kernel?): not starting another`,
        );
        return [];
      }
      state.stuck = undefined;
    }
    const r = await this.spawn(argv, {
      timeout: this.spec.timeout,
      signal,
      captureStdout: CAPTURE_BYTES,
    });
    if (r.abandoned && r.pid !== undefined) state.stuck = { pid: r.pid, since: this.ctx.now() };
    if (r.spawnError)
      throw missingError(this.name, this.spec.smartctl, describeFailure(r, this.spec.timeout)!);
    if (r.aborted) return [];
    if (r.timedOut || r.exitSignal) {
      this.fail(target, state, "timeout", describeFailure(r, this.spec.timeout)!);
      return [];
    }
    const report = parseSmartctl(r.stdout ?? "", r.exitCode);
    return this.handle(target, state, report, r);
  }

  private handle(target: Target, state: DeviceState, report: SmartReport, r: SpawnResult): Sample[] {
    switch (report.kind) {
      case "invalid":
        this.fail(
          target,
          state,
          "invalid",
          `unreadable output: ${r.stdoutTruncated ? `more than ${CAPTURE_BYTES} bytes` : report.reason}${r.exitCode ? ` (${describeExitStatus(r.exitCode)})` : ""}`,
        );
        return [];
      case "no-data":
        this.fail(
          target,
          state,
          "no-data",
          `no data: ${report.reason} (${describeExitStatus(report.exitStatus)})`,
        );
        // A device the scan found and that cannot be opened any more: the scan may be out of date.
        if (report.exitStatus & 0b10) this.discovery?.invalidate();
        return [];
      case "standby":
        this.standby.set(target.device, (this.standby.get(target.device) ?? 0) + 1);
        this.recover(target, state);
        if (!state.standby) {
          state.standby = true;
          this.ctx.log.info(
            { collector: this.name, device: target.device, type: target.type },
            `smart ${this.name}: ${show(target)} is in standby; not woken up (wake: false), no samples until it spins up`,
          );
        }
        return [];
      case "data": {
        this.recover(target, state);
        state.standby = false;
        this.logExitStatus(target, state, report.exitStatus);
        const id = identityOf(target, report.device);
        const key = `${id.type}\u0000${id.protocol}`;
        if (!state.labels || state.identity !== key) {
          state.labels = labelsOf(this.base, id);
          state.identity = key;
        }
        return samplesOf(report.readings, state.labels, this.ctx.now());
      }
    }
  }

  private stateOf(target: Target): DeviceState {
    const k = keyOf(target);
    let s = this.devices.get(k);
    if (!s) this.devices.set(k, (s = { exitStatus: 0, standby: false }));
    return s;
  }

  private count(key: string): void {
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Counted every time; logged (a warning naming the device) when it differs from the last failure logged. */
  private fail(target: Target, state: DeviceState, kind: string, message: string): void {
    this.count(`${kind} ${show(target)}`);
    if (state.failure === message) return;
    state.failure = message;
    this.ctx.log.warn(
      { collector: this.name, device: target.device, type: target.type, err: message },
      `smart ${this.name}: ${show(target)}: ${message}; no samples for it this time`,
    );
  }

  private recover(target: Target, state: DeviceState): void {
    if (state.failure === undefined) return;
    state.failure = undefined;
    this.ctx.log.info(
      { collector: this.name, device: target.device, type: target.type },
      `smart ${this.name}: ${show(target)} answers again`,
    );
  }

  /** The exit status bits, logged when they change: a warning for bits 3–4 (failing now), else info. */
  private logExitStatus(target: Target, state: DeviceState, status: number): void {
    if (status === state.exitStatus) return;
    state.exitStatus = status;
    const failing = (status & (DISK_FAILING_BIT | PREFAIL_NOW_BIT)) !== 0;
    (failing ? this.ctx.log.warn : this.ctx.log.info).call(
      this.ctx.log,
      {
        collector: this.name,
        device: target.device,
        type: target.type,
        exit_status: status,
        bits: exitBits(status),
      },
      `smart ${this.name}: ${show(target)}: smartctl ${describeExitStatus(status)}`,
    );
  }
}

function keyOf(t: Target): string {
  return `${t.device}\u0000${t.type ?? ""}`;
}

function show(t: Target): string {
  return t.type ? `${t.device} (-d ${t.type})` : t.device;
}

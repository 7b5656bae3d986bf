/**
 * Which devices to read when the config lists none: `smartctl --scan -j`, cached. The scan runs at the first
 * poll, then again when it is an hour old (RESCAN_MS) or when a device it found could not be opened (a disk
 * pulled or replaced, a controller renumbered). A scan that fails keeps the last list.
 */

import { describeFailure, spawnWithTimeout } from "../../src/actions/spawn.js";
import type { CollectorContext } from "../../src/collector.js";
import { parseScan, type Target } from "./parse.js";

export const RESCAN_MS = 60 * 60_000;
/** What smartctl may print and be read whole (a scan or one device's report is a few tens of kB). */
export const CAPTURE_BYTES = 4 * 1024 * 1024;

/** smartctl itself could not be run (not installed, not executable): every device would fail the same way. */
export class SmartctlMissingError extends Error {
  override readonly name = "SmartctlMissingError";
}

export function missingError(collector: string, smartctl: string, why: string): SmartctlMissingError {
  return new SmartctlMissingError(
    `smart ${collector}: cannot run smartctl ${JSON.stringify(smartctl)}: ${why}; install smartmontools (7.0 or later, for -j) or set \`smartctl:\` to its path`,
  );
}

export class Discovery {
  private devices: Target[] | undefined;
  private scannedAt = Number.NEGATIVE_INFINITY;
  private stale = false;
  private lastError: string | undefined;
  private lastList: string | undefined;

  constructor(
    private readonly collector: string,
    private readonly smartctl: string,
    private readonly timeout: number,
    private readonly ctx: CollectorContext,
    private readonly count: (key: string) => void,
  ) {}

  /** Rescan at the next poll (a device could not be opened). */
  invalidate(): void {
    this.stale = true;
  }

  /** The devices to read: the cached scan, or a new one when it is due. Throws SmartctlMissingError. */
  async targets(signal: AbortSignal): Promise<readonly Target[]> {
    const due = !this.devices || this.stale || this.ctx.now() - this.scannedAt >= RESCAN_MS;
    if (due) await this.scan(signal);
    return this.devices ?? [];
  }

  private async scan(signal: AbortSignal): Promise<void> {
    const argv = [this.smartctl, "--scan", "-j"];
    const r = await spawnWithTimeout(argv, { timeout: this.timeout, signal, captureStdout: CAPTURE_BYTES });
    if (r.spawnError) throw missingError(this.collector, this.smartctl, describeFailure(r, this.timeout)!);
    if (r.aborted) return;
    const parsed = r.timedOut || r.exitSignal ? undefined : parseScan(r.stdout ?? "");
    if (!parsed?.ok) {
      const why = parsed ? parsed.error : describeFailure(r, this.timeout);
      this.count("scan");
      if (why !== this.lastError) {
        this.lastError = why;
        this.ctx.log.warn(
          { collector: this.collector, err: why },
          `smart ${this.collector}: smartctl --scan -j failed (${why}); ${this.devices ? "keeping the devices found before" : "no devices to read"}, scanning again at the next poll`,
        );
      }
      return;
    }
    this.lastError = undefined;
    this.devices = parsed.devices.map((d) => ({
      device: d.name,
      ...(d.type ? { type: d.type } : {}),
      ...(d.protocol ? { protocol: d.protocol } : {}),
    }));
    this.scannedAt = this.ctx.now();
    this.stale = false;
    const list = this.devices.map((d) => (d.type ? `${d.device} (${d.type})` : d.device)).join(", ");
    if (list !== this.lastList) {
      this.lastList = list;
      this.ctx.log.info(
        { collector: this.collector, devices: this.devices.length },
        this.devices.length
          ? `smart ${this.collector}: smartctl --scan found ${list}`
          : `smart ${this.collector}: smartctl --scan found no devices; nothing to read (list them under \`devices:\`)`,
      );
    }
  }
}

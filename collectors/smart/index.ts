/**
 * The `smart` collector: disk health from `smartctl -j` (smartmontools ≥ 7.0) — the drive's SMART verdict,
 * temperature, reallocated and pending sectors, media errors, NVMe wear — for every disk listed in the config
 * or found by `smartctl --scan -j`. It only observes; rules decide. See README.md. The parts: collector.ts (the
 * poll collector), discovery.ts (the scan), parse.ts (pure), config.ts.
 */
import type { CollectorContext } from "../../src/collector.js";
import { SmartPollCollector, type Spawn } from "./collector.js";
import type { SmartCollectorSpec } from "./config.js";

export { CONCURRENCY, SmartPollCollector, type Spawn } from "./collector.js";
export { CAPTURE_BYTES, RESCAN_MS, SmartctlMissingError } from "./discovery.js";

/** The collector of one `smart` config block. */
export function createSmartCollector(
  spec: SmartCollectorSpec,
  ctx: CollectorContext,
  spawn?: Spawn,
): SmartPollCollector {
  return new SmartPollCollector(spec, ctx, spawn);
}

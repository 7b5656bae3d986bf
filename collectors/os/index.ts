/**
 * The `os` collector: CPU, memory, load, filesystems and NICs of this host, read from /proc and /sys (or
 * from a fake tree under `root`), plus a link watcher that reports a NIC going down within milliseconds.
 * It only observes; rules decide. See README.md for the metrics. The parts: poll.ts (the poll collector),
 * filesystems.ts, links.ts (the link watcher), shared.ts, parse.ts (pure), config.ts, options.ts.
 */
import type { Collector, CollectorContext } from "../../src/collector.js";
import type { OsCollectorSpec } from "./config.js";
import { LinkWatcher } from "./links.js";
import type { OsCollectorOptions } from "./options.js";
import { OsPollCollector } from "./poll.js";
import { Shared } from "./shared.js";

export { LinkWatcher } from "./links.js";
export { FS_FIXTURE, type OsCollectorOptions, STATFS_TIMEOUT_MS, type StatfsLike } from "./options.js";
export { OsPollCollector } from "./poll.js";

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

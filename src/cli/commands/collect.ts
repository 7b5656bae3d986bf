import { createCollectors, prepareCollector } from "../../../collectors/index.js";
import type { Collector, Log } from "../../collector.js";
import { formatError, loadConfig } from "../../config/load.js";
import { Scheduler } from "../../daemon/scheduler.js";
import type { Sample } from "../../engine/types.js";
import { monoNow, toWall } from "../../util/clock.js";
import { formatLabels } from "../format.js";
import type { Io } from "../io.js";

export interface CollectOptions {
  readonly config: string;
  /** How long stream collectors (probes, link watcher) run, ms. */
  readonly streamMs: number;
  readonly json?: boolean;
  /** Only these collectors (by name). */
  readonly only?: readonly string[];
}

/**
 * `standby collect --once`: what every collector sees now, like `telegraf --test`. Polling collectors run once
 * (bounded by their timeout), stream collectors run for `streamMs`. Nothing is evaluated, nothing acts.
 */
export async function runCollect(opts: CollectOptions, io: Io): Promise<number> {
  const loaded = await loadConfig(opts.config);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatError(e));
    return 1;
  }
  const { config } = loaded;
  const problems: string[] = [];
  const log: Log = {
    debug() {},
    info() {},
    warn: (o, m) => problems.push(`${m ?? ""} ${JSON.stringify(o)}`),
    error: (o, m) => problems.push(`${m ?? ""} ${JSON.stringify(o)}`),
  };
  const ctx = { host: config.host, now: () => Math.round(monoNow()), log };
  const collectors: Collector[] = [];
  for (const spec of config.collectors) {
    if (opts.only && !opts.only.includes(spec.name)) continue;
    try {
      collectors.push(...createCollectors(await prepareCollector(spec), ctx));
    } catch (err) {
      io.err(`collector ${spec.name}: ${(err as Error).message}`);
    }
  }
  const samples: Sample[] = [];
  const scheduler = new Scheduler((_, s) => samples.push(...s), log, monoNow);
  const streams = new AbortController();
  for (const c of collectors) {
    if (c.kind === "stream") c.start((s) => samples.push(...s), streams.signal);
  }
  await Promise.all(
    collectors.map((c) =>
      c.kind === "poll" ? scheduler.runOnce(c, { runs: 0, failures: 0, timeouts: 0, samples: 0 }) : undefined,
    ),
  );
  if (collectors.some((c) => c.kind === "stream")) await new Promise((r) => setTimeout(r, opts.streamMs));
  streams.abort();
  await scheduler.close();
  for (const c of collectors) if (c.kind === "poll") await c.close?.();
  for (const s of samples) {
    io.out(
      opts.json
        ? JSON.stringify({ ...s, ts: toWall(s.ts) })
        : `${s.metric}${formatLabels(s.labels)} ${Number.isInteger(s.value) ? s.value : Number(s.value.toPrecision(6))}${s.state ? ` (${s.state})` : ""}`,
    );
  }
  for (const p of problems) io.err(`warning: ${p}`);
  return 0;
}

import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { formatError, loadConfig } from "../../config/load.js";
import { withDefaultStaleness } from "../../config/staleness.js";
import type { StandbyEvent } from "../../groups/events.js";
import { parseTraceLine, Simulator } from "../../simulate.js";
import { formatDuration, parseDuration } from "../../util/duration.js";
import { formatEvent, formatOffset } from "../format.js";
import type { Io } from "../io.js";

export interface SimulateOptions {
  readonly config: string;
  readonly trace: string;
  /** Print events exactly as the event log writes them, one JSON object a line. */
  readonly json?: boolean;
  /** Let timers run this long past the trace's last entry (`30s`), or up to this epoch-ms time. */
  readonly until?: string;
  /** Event kinds to leave out of the output (e.g. `rule,health`). */
  readonly quiet?: readonly string[];
}

/**
 * `standby simulate`: feeds a sample trace through the real engine and controllers and prints every rule
 * transition and group decision with its time and reason. Exit 0 when the trace ran, 1 on bad input.
 */
export async function runSimulate(opts: SimulateOptions, io: Io): Promise<number> {
  const loaded = await loadConfig(opts.config);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatError(e));
    return 1;
  }
  const { config } = loaded;
  let extra: number | undefined;
  let untilAbs: number | undefined;
  if (opts.until !== undefined) {
    const d = parseDuration(opts.until);
    if (d !== undefined) extra = d;
    else if (/^\d+$/.test(opts.until)) untilAbs = Number(opts.until);
    else {
      io.err(`--until: "${opts.until}" is neither a duration (30s, 5m) nor a time in epoch milliseconds`);
      return 1;
    }
  }
  const quiet = new Set(opts.quiet ?? []);
  let t0: number | undefined;
  const counts = new Map<string, number>();
  const emit = (e: StandbyEvent) => {
    counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
    if (quiet.has(e.kind)) return;
    io.out(opts.json ? JSON.stringify(e) : formatEvent(e, t0 ?? e.ts));
  };
  const sim = new Simulator(withDefaultStaleness(config.rules, config.collectors), config.groups, emit);

  let lineNo = 0;
  const errors: string[] = [];
  let stream: ReturnType<typeof createReadStream>;
  try {
    stream = createReadStream(opts.trace, { encoding: "utf8" });
    const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const raw of rl) {
      lineNo++;
      const line = raw.trim();
      if (line === "" || line.startsWith("#") || line.startsWith("//")) continue;
      try {
        const entry = parseTraceLine(line);
        t0 ??= entry.type === "sample" ? entry.sample.ts : entry.ts;
        sim.feed(entry);
      } catch (e) {
        errors.push(`${opts.trace}:${lineNo}: ${(e as Error).message}`);
        if (errors.length >= 20) {
          errors.push(`${opts.trace}: stopping after 20 errors`);
          break;
        }
      }
    }
  } catch (e) {
    io.err(
      `${opts.trace}: cannot read the trace: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
    return 1;
  }
  if (errors.length > 0) {
    for (const e of errors) io.err(e);
    return 1;
  }
  if (t0 === undefined) {
    io.err(`${opts.trace}: the trace holds no samples`);
    return 1;
  }
  const last = sim.time;
  const end = untilAbs ?? (extra !== undefined ? last + extra : undefined);
  sim.finish(end);
  if (!opts.json) {
    const p = sim.getPipeline()!;
    const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(", ") || "no events";
    const past =
      sim.time > last ? `, then timers ran ${formatDuration(sim.time - last)} past it (--until)` : "";
    io.out(
      `-- end at ${formatOffset(sim.time, t0)}: ${formatDuration(last - t0)} of trace${past}; ${sim.samples} samples; ${summary}`,
    );
    for (const g of p.groupSpecs()) {
      const s = p.groupState(g.name)!;
      const members = g.members.map((m) => `${m.name} ${s.health[m.name]?.health ?? "unknown"}`).join(", ");
      const flags = [s.frozen ? "frozen" : "", s.pin ? `pinned to ${s.pin.member}` : ""]
        .filter(Boolean)
        .join(", ");
      io.out(
        `-- ${g.name}: active ${s.active} since ${formatOffset(s.since, t0)}${flags ? ` (${flags})` : ""}; ${members}`,
      );
    }
  }
  return 0;
}
